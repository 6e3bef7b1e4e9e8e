"""The collector the Master runs for its reporting jobs: ``mso collector`` as a child process
(server/ never imports collector/) in the Master's process group, reassembling the jobs'
subscriptions into their topics.

It keeps one UDP port for its life, so a restarted child is reached at the same receiver; after
a restart ``on_restart`` runs, so the Master can announce the subscriptions again (the child
knows a subscription only from its state notifications).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from mso import bus
from mso.child_process import die_with_parent

log = logging.getLogger("mso.bus")
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0)
_LISTENING = re.compile(r"listening on (?P<host>[^\s:]+):(?P<port>\d+)")


class CollectorProcess:
    def __init__(self, log_path: Path, *, broker_url: str, user: str, password: str,
                 on_restart: Callable[[], None] = lambda: None) -> None:
        self._log_path = log_path
        self._broker_url = broker_url
        self._user = user
        self._password = password
        self._on_restart = on_restart
        self.address: tuple[str, int] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self.failure = ""  # why it is not running, when it is not

    async def start(self, timeout: float = 20.0) -> bool:
        """Start supervising; True once the child listens (within ``timeout``)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise())
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    @property
    def running(self) -> bool:
        return self._ready.is_set()

    async def _supervise(self) -> None:
        failures = 0
        while True:
            started = await self._run_once()
            failures = 0 if started else failures + 1
            await asyncio.sleep(RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)])

    async def _run_once(self) -> bool:
        """Run the child until it exits; True when it had come up."""
        listen = "127.0.0.1:%d" % (self.address[1] if self.address else 0)
        argv = [sys.executable, "-m", "mso", "collector", "--listen", listen, "--nats", self._broker_url,
                "--nats-user", self._user, "--bus-routes", "--log-level", "warning"]
        log_file = open(self._log_path, "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *argv, stdout=log_file, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, bus.PASSWORD_VARIABLE: self._password}, preexec_fn=die_with_parent())
        finally:
            log_file.close()
        came_up = await self._watch_output(self._process)
        code = await self._process.wait()
        self._ready.clear()
        self.failure = f"the collector exited with status {code} (see {self._log_path})"
        log.warning("bus-collector-exited", extra={"fields": {"status": code}})
        return came_up

    async def _watch_output(self, process: asyncio.subprocess.Process) -> bool:
        assert process.stderr is not None
        came_up = False
        with open(self._log_path, "ab") as log_file:
            async for line in process.stderr:
                log_file.write(line)
                log_file.flush()
                match = _LISTENING.search(line.decode(errors="replace"))
                if match and not came_up:
                    came_up = True
                    restarted = self.address is not None
                    self.address = (match["host"], int(match["port"]))
                    self.failure = ""
                    self._ready.set()
                    log.info("bus-collector-started", extra={"fields": {"address": "%s:%d" % self.address,
                                                                        "pid": process.pid}})
                    if restarted:
                        self._on_restart()
        return came_up

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        self._ready.clear()
