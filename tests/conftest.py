"""Fixtures that run the real programs as OS processes on 127.0.0.1 and stop them by pid."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import settings

T = TypeVar("T")
SLOW_EXAMPLES = 3000  # hypothesis examples per property test under --slow (the default is 100)
USER, PASSWORD = "admin", "admin-secret"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help=f"run property tests with {SLOW_EXAMPLES} examples each instead of hypothesis's 100")


def pytest_configure(config: pytest.Config) -> None:
    """Before test modules are imported, so their @settings inherit the profile."""
    settings.register_profile("slow", max_examples=SLOW_EXAMPLES)
    if config.getoption("--slow"):
        settings.load_profile("slow")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one async test body on a fresh event loop."""
    return asyncio.run(coroutine)


@dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    state_dir: Path
    log_path: Path
    agent_port: int = 0
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    said: list[str] = field(default_factory=list)  # what it printed before it listened

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            return process.stdout.readline().decode()
        if process.poll() is not None:
            break
    return ""


def start_server(state_dir: Path, extra_args: Sequence[str] = (), port: int = 0) -> ServerProcess:
    """Start ``mso server`` and wait until it says where it listens."""
    log_path = state_dir.parent / f"{state_dir.name}-server.log"
    log_file = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mso", "server", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state_dir),
         "--user", f"{USER}:{PASSWORD}", "--recovery-user", USER, "--agent-listen", "127.0.0.1:0", "--log-level", "info",
         *extra_args],
        stdout=subprocess.PIPE, stderr=log_file, start_new_session=True,
    )
    log_file.close()
    said = []  # other lines come first (the message bus says which broker it uses)
    line = _read_line(process, timeout=30)
    while line and "listening on" not in line:
        said.append(line)
        line = _read_line(process, timeout=30)
    if "listening on" not in line:
        stop_process(process)
        raise RuntimeError(f"server did not start: {said + [line]!r}\n{log_path.read_text(errors='replace')}")
    ports = re.search(r"listening on 127\.0\.0\.1:(\d+) \(agents at 127\.0\.0\.1:(\d+)", line)
    assert ports is not None, line
    return ServerProcess(process, int(ports[1]), state_dir, log_path, int(ports[2]), said=said)


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL the whole process group by pid if it does not go."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "state")
    yield srv
    stop_process(srv.process)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start servers on demand (e.g. to restart one on the same state dir); all stopped at the end."""
    started: list[ServerProcess] = []

    def factory(state_dir: Path | None = None, extra_args: Sequence[str] = (), port: int = 0) -> ServerProcess:
        srv = start_server(state_dir or tmp_path / "state", extra_args, port)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        stop_process(srv.process)


@dataclass
class AgentProcess:
    process: subprocess.Popen
    generator: int
    slot: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_agent(log_dir: Path, master: ServerProcess, generator: int, slot: int, interfaces: int = 4,
                extra_args: Sequence[str] = (), wait: bool = True) -> AgentProcess:
    """Start ``mso agent`` for one line card and (unless ``wait`` is false) wait until it is registered."""
    log_path = log_dir / f"agent-{generator}-{time.monotonic_ns()}.log"
    log_file = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mso", "agent", "--id", str(generator), "--slot", str(slot),
         "--master", f"127.0.0.1:{master.agent_port}", "--interfaces", str(interfaces), "--log-level", "info",
         "--secret-file", str(master.state_dir / "agent-secret"), *extra_args],
        stdout=subprocess.PIPE, stderr=log_file, start_new_session=True,
    )
    log_file.close()
    agent = AgentProcess(process, generator, slot, log_path)
    if wait:
        line = _read_line(process, timeout=30)
        if "registered with" not in line:
            stop_process(process)
            raise RuntimeError(f"agent {generator} did not register: {line!r}\n{agent.log()}")
    return agent


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator:
    """Start agents on demand; every one still running is stopped by pid at the end."""
    started: list[AgentProcess] = []

    def factory(master: ServerProcess, generator: int, slot: int, interfaces: int = 4,
                extra_args: Sequence[str] = (), wait: bool = True) -> AgentProcess:
        agent = start_agent(tmp_path, master, generator, slot, interfaces, extra_args, wait)
        started.append(agent)
        return agent

    yield factory
    for agent in started:
        stop_process(agent.process)
