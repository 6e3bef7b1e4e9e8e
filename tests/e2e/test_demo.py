"""``make demo`` runs the whole device and shows what it does (here on free ports, 3 records)."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.conftest import stop_process


def free_base_port() -> int:
    """Four consecutive ports free for TCP and UDP."""
    for base in range(21000, 30000, 7):
        try:
            for port in range(base, base + 4):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as probe:
                        probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no four free ports in a row")


def test_the_demo_shows_merged_records_from_the_bus_and_a_refused_stranger() -> None:
    demo = subprocess.Popen([sys.executable, "-m", "examples.demo", "3", "--base-port", str(free_base_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = demo.communicate(timeout=150)
    finally:
        stop_process(demo)
    assert demo.returncode == 0, output
    assert "message bus: started nats-server" in output
    assert "a consumer without a polling job, as the broker answers it: mso bus: cannot connect" in output
    assert "the collector subscribed over NETCONF wrote: record" in output
    records = [line for line in output.splitlines() if line.startswith("bus ports (ops): record")]
    assert len(records) >= 2 and all("generators 1,2,3,4 complete" in line for line in records), output
