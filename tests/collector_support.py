"""Fixtures' helpers for the collector: run ``mso collector`` as a process, read its records."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from lxml import etree

from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding, Receiver
from mso.udp_notif_sender import ReceiversEmitter, UdpNotifPublisher
from tests.conftest import stop_process


@dataclass
class CollectorProcess:
    process: subprocess.Popen
    host: str
    port: int
    jsonl: Path
    log_path: Path
    _offset: int = field(default=0)
    _buffer: bytes = field(default=b"")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def new_records(self) -> list[dict]:
        """Records written since the last call (complete lines only)."""
        if not self.jsonl.exists():
            return []
        with open(self.jsonl, "rb") as stream:
            stream.seek(self._offset)
            chunk = stream.read()
        self._offset += len(chunk)
        data = self._buffer + chunk
        *lines, self._buffer = data.split(b"\n")
        return [orjson.loads(line) for line in lines if line]

    def wait_for(self, accept: Callable[[dict], bool], count: int = 1, timeout: float = 15.0) -> list[dict]:
        """The first ``count`` new records ``accept`` takes, polling the file until ``timeout``."""
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found += [record for record in self.new_records() if accept(record)]
            if len(found) >= count:
                return found[:count]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{len(found)} of {count} records within {timeout} s\n{self.log()}")


def _wait_listening(log_path: Path, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        for line in text.splitlines():
            if line.startswith("mso collector: listening on "):
                return line
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"collector did not start:\n{log_path.read_text(errors='replace')}")


def start_collector(workdir: Path, extra_args: Sequence[str] = (), listen: str = "127.0.0.1:0",
                    name: str = "collector") -> CollectorProcess:
    """Start ``mso collector`` writing JSON lines to a file; wait until it listens."""
    jsonl, log_path = workdir / f"{name}.jsonl", workdir / f"{name}.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "mso", "collector", "--listen", listen, "--jsonl", str(jsonl),
             "--log-level", "info", "--state-dir", str(workdir / f"{name}-state"), *extra_args],
            stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True,
        )
    try:
        line = _wait_listening(log_path, process, timeout=30)
    except RuntimeError:
        stop_process(process)
        raise
    host, port = line.rsplit(" ", 1)[1].rsplit(":", 1)
    return CollectorProcess(process, host, int(port), jsonl, log_path)


@pytest.fixture
def collector_factory(tmp_path: Path) -> Iterator[Callable[..., CollectorProcess]]:
    """Start collectors on demand; every one is stopped by pid at the end."""
    started: list[CollectorProcess] = []

    def factory(extra_args: Sequence[str] = (), listen: str = "127.0.0.1:0", name: str = "collector") -> CollectorProcess:
        collector = start_collector(tmp_path, extra_args, listen, name=f"{name}-{len(started)}")
        started.append(collector)
        return collector

    yield factory
    for collector in started:
        stop_process(collector.process)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``mso collector ARGS`` to completion (for the error cases)."""
    return subprocess.run([sys.executable, "-m", "mso", "collector", *args], capture_output=True, text=True,
                          timeout=timeout)


class SyntheticGenerators:
    """The Master (publisher 1) and line-card agents (2, 3, ...) as the real senders push:
    ``UdpNotifPublisher`` + ``ReceiversEmitter``, contiguous message ids per receiver."""

    def __init__(self, emitters: dict[int, ReceiversEmitter]) -> None:
        self.emitters = emitters

    @classmethod
    async def open(cls, schema: Schema, ids: Sequence[int], port: int,
                   encoding: Encoding = Encoding.JSON) -> SyntheticGenerators:
        codec = EnvelopeCodec(schema)
        receiver = Receiver("collector", "127.0.0.1", port)
        emitters = {}
        for publisher_id in ids:
            publisher = await UdpNotifPublisher.open(publisher_id, codec)
            emitters[publisher_id] = ReceiversEmitter(publisher, [receiver], encoding)
        return cls(emitters)

    def emit(self, publisher_id: int, event: etree._Element, event_time: float) -> None:
        self.emitters[publisher_id].emit(event, event_time)

    def close(self) -> None:
        for emitter in self.emitters.values():
            emitter.publisher.close()


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_tcp(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on {port}")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[str]:
    """A real nats-server with JetStream on a free loopback port; yields its URL."""
    port = free_tcp_port()
    binary = Path(sys.executable).parent / "nats-server"
    log_path = tmp_path / "nats-server.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen([str(binary), "-js", "-a", "127.0.0.1", "-p", str(port),
                                    "-sd", str(tmp_path / "jetstream")],
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_tcp(port, process, timeout=15)
        yield f"nats://127.0.0.1:{port}"
    finally:
        stop_process(process)
