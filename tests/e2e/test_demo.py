"""``make demo`` runs the whole device and shows what it does (here on free ports, 3 records)."""

from __future__ import annotations

import re
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


def test_the_demo_shows_merged_records_from_the_bus_a_refused_stranger_and_a_coordinated_summary() -> None:
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
    assert ("polling job 'analyst' asks for the same in-octets every 4 s: ALREADY_COLLECTED by reporting job "
            "'ports', now shared by noc, ops, analyst; 0 collections created for it") in output
    (summary,) = [line for line in output.splitlines() if line.startswith("demo: summary for 'analyst'")]
    assert "on subject mso.out.analyst, which only 'analyst' may read" in summary
    assert all(f"interface[name='{port}']: " in summary for port in ("mgmt0", "1/0/1", "2/0/1", "3/0/1")), summary
    (sampling,) = [line for line in output.splitlines() if line.startswith("demo: readings of their own data")]
    readings = {int(g): (int(taken), int(instants)) for g, taken, instants
                in re.findall(r"generator (\d+): (\d+) readings at (\d+) instants", sampling)}
    assert set(readings) == {1, 2, 3, 4}, sampling
    # the cards serve the collector's subscription and the reporting job's, read once per instant
    assert all(0 < taken <= instants + 1 for generator, (taken, instants) in readings.items() if generator > 1), sampling
    records = [line for line in output.splitlines() if line.startswith("bus ports (ops): record")]
    assert len(records) >= 2 and all("generators 1,2,3,4 complete" in line for line in records), output
