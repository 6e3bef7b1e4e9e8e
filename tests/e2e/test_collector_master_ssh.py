"""The collector's SSH session with a real Master: its host key checked (pinned on first use, or
from --known-hosts), and a Master that goes silent without closing anything noticed by SSH
keepalives, then reconnected to like after a closed connection."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import asyncssh

from collector.host_keys import PIN_FILE
from server.ssh_transport import HOST_KEY_FILE
from tests.collector_support import collector_factory, run_cli  # noqa: F401
from tests.conftest import stop_process

SUBSCRIBE = ["--subscribe", "/if:interfaces/if:interface[if:name='1/0/1']", "--period", "20"]


def periodic(record: dict) -> bool:
    return record["kind"] == "periodic"


def public_key(state_dir: Path) -> str:
    """The Master's host key as a known_hosts line ends: ``ssh-ed25519 AAAA...``."""
    return asyncssh.read_private_key(str(state_dir / HOST_KEY_FILE)).export_public_key().decode().split()[:2]


def login(master, state_dir: Path) -> list[str]:
    return ["--netconf", f"127.0.0.1:{master.port}", "--user", master.user, "--password", master.password,
            "--state-dir", str(state_dir)]


def test_the_first_key_is_pinned_and_a_changed_one_is_refused_in_one_line(server_factory, collector_factory,
                                                                         tmp_path: Path):
    master = server_factory(tmp_path / "master")
    pins = tmp_path / "collector"
    collector = collector_factory([*login(master, pins), *SUBSCRIBE])
    collector.wait_for(periodic)
    (line,) = (pins / PIN_FILE).read_text().splitlines()
    pattern, *key = line.split()
    assert pattern == f"[127.0.0.1]:{master.port}" and key == public_key(tmp_path / "master")
    assert "master-host-key-pinned" in collector.log()

    stop_process(collector.process)
    stop_process(master.process)
    impostor = server_factory(tmp_path / "impostor", port=master.port)  # same address, another key
    result = run_cli("--listen", "127.0.0.1:0", "--jsonl", str(tmp_path / "out.jsonl"), *login(impostor, pins))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (refusal,) = [line for line in result.stderr.splitlines() if "host key" in line]
    assert refusal == (f"mso collector: the host key of 127.0.0.1:{master.port} has changed since it was pinned "
                       f"in {pins / PIN_FILE}: refusing to connect (if the Master's key changed on purpose, delete "
                       f"its line [127.0.0.1]:{master.port} there)")
    assert (pins / PIN_FILE).read_text().splitlines() == [line]  # the pin stays


def test_known_hosts_file_is_the_only_trust(server_factory, collector_factory, tmp_path: Path):
    master = server_factory(tmp_path / "master")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{master.port} {' '.join(public_key(tmp_path / 'master'))}\n")
    collector = collector_factory([*login(master, tmp_path / "pins"), "--known-hosts", str(known), *SUBSCRIBE])
    collector.wait_for(periodic)
    assert not (tmp_path / "pins" / PIN_FILE).exists()  # nothing pinned: the file given is the trust

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    known.write_text(f"[127.0.0.1]:{master.port} {other}\n")
    result = run_cli("--listen", "127.0.0.1:0", "--jsonl", str(tmp_path / "out.jsonl"),
                     *login(master, tmp_path / "pins"), "--known-hosts", str(known))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (f"mso collector: the host key of 127.0.0.1:{master.port} is not one {known} lists for it: refusing "
            "to connect") in result.stderr.splitlines()


class FreezableProxy:
    """A TCP relay to the Master that can stop relaying without closing anything: a silent
    partition. Threads, so the test's own loop is free."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.frozen: list[socket.socket] = []  # connections held open while frozen
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if not self.flowing.is_set():  # swallowed: the far side never hears, nothing is closed
                self.frozen += [source, sink]
                continue
            try:
                sink.sendall(data)
            except OSError:
                return

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.listener.close()


def wait_for_log(collector, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in collector.log():
        assert time.monotonic() < deadline and collector.process.poll() is None, collector.log()
        time.sleep(0.1)


def test_a_silently_partitioned_master_is_noticed_by_keepalives_and_reconnected(server_factory, collector_factory,
                                                                                tmp_path: Path):
    master = server_factory(tmp_path / "master")
    proxy = FreezableProxy(master.port)
    try:
        collector = collector_factory(["--netconf", f"127.0.0.1:{proxy.port}", "--user", master.user,
                                       "--password", master.password, "--keepalive", "0.3", *SUBSCRIBE])
        (first,) = collector.wait_for(periodic)
        proxy.freeze()  # nothing is closed: only keepalives going unanswered can tell
        wait_for_log(collector, "master-session-lost")
        proxy.thaw()
        (record,) = collector.wait_for(lambda r: periodic(r) and r["time"] > first["time"] and r["complete"],
                                       timeout=60)
        assert collector.log().count("subscription-established") == 2
    finally:
        proxy.close()
