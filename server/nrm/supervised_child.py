"""A helper program the Master runs beside its broker and keeps running (its collector, its bus
worker): a child in the Master's process group that ends when the Master dies
(``mso.child_process.die_with_parent``), started again when it exits, after a delay that grows
while it keeps failing to come up. Its standard error goes to a log file; it is up once it
writes a line that ``ready`` matches.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mso.child_process import die_with_parent

log = logging.getLogger("mso.bus")
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0)


class SupervisedChild:
    def __init__(self, name: str, log_path: Path, argv: Callable[[], Sequence[str]], *, ready: re.Pattern[str],
                 env: Mapping[str, str] = {}, on_ready: Callable[[re.Match[str], bool], None] = lambda match, again: None
                 ) -> None:
        """``argv`` is asked at every start; ``on_ready`` gets the ready line's match and whether
        this is a start after the first."""
        self.name = name
        self._log_path = log_path
        self._argv = argv
        self._ready_line = ready
        self._env = env
        self._on_ready = on_ready
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._came_up_before = False
        self.failure = ""  # why it is not running, when it is not

    async def start(self, timeout: float = 20.0) -> bool:
        """Start supervising; True once the child is up (within ``timeout``)."""
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

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    async def _supervise(self) -> None:
        failures = 0
        while True:
            came_up = await self._run_once()
            failures = 0 if came_up else failures + 1
            await asyncio.sleep(RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)])

    async def _run_once(self) -> bool:
        """Run the child until it exits; True when it had come up."""
        log_file = open(self._log_path, "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv(), stdout=log_file, stderr=asyncio.subprocess.PIPE, env={**os.environ, **self._env},
                preexec_fn=die_with_parent())
        finally:
            log_file.close()
        came_up = await self._watch_output(self._process)
        code = await self._process.wait()
        self._ready.clear()
        self.failure = f"the {self.name} exited with status {code} (see {self._log_path})"
        log.warning("bus-child-exited", extra={"fields": {"child": self.name, "status": code}})
        return came_up

    async def _watch_output(self, process: asyncio.subprocess.Process) -> bool:
        assert process.stderr is not None
        came_up = False
        with open(self._log_path, "ab") as log_file:
            async for line in process.stderr:
                log_file.write(line)
                log_file.flush()
                match = self._ready_line.search(line.decode(errors="replace"))
                if match and not came_up:
                    came_up = True
                    again, self._came_up_before = self._came_up_before, True
                    self.failure = ""
                    self._on_ready(match, again)
                    self._ready.set()
                    log.info("bus-child-started", extra={"fields": {"child": self.name, "pid": process.pid}})
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
