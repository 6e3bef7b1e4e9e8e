"""Costly XPath filters of reads, run away from the event loop and within a time budget.

A filter ``mso.filter_limits`` calls costly can take seconds or never end, and libxml2 cannot
be interrupted: on the Master's event loop it would stop every session, push and agent
heartbeat. So the Master hands it, with the data, to a child process (``server.xpath_child``)
and waits at most the budget; past it the child is killed and the read gets an
``operation-failed`` error. Children are started on first use and reused; at most
``processes`` filters run at once, the others wait their turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Mapping, Sequence

from lxml import etree

from mso.child_process import die_with_parent
from mso.filters import FilterError
from server.xpath_child import ANSWER_HEAD, REQUEST_HEAD

log = logging.getLogger("mso.xpath")


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, header: bytes, data: bytes) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(REQUEST_HEAD.pack(len(header), len(data)) + header + data)
        await self.process.stdin.drain()
        (length,) = ANSWER_HEAD.unpack(await self.process.stdout.readexactly(ANSWER_HEAD.size))
        return json.loads(await self.process.stdout.readexactly(length))

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


class XPathIsolation:
    def __init__(self, budget: float, processes: int = 1) -> None:
        self.budget = budget
        self._turns = asyncio.Semaphore(processes)
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()

    async def select(self, data: etree._Element, expression: str,
                     namespaces: Mapping[str, str]) -> list[etree._Element]:
        """The elements of ``data`` the filter selects, as ``CompiledXPath.selected`` gives them."""
        header = json.dumps({"expression": expression, "namespaces": sorted(namespaces.items())}).encode()
        body = etree.tostring(data)
        async with self._turns:
            child = self._idle.pop() if self._idle else await self._start()
            self._busy.add(child)
            try:
                answer = await asyncio.wait_for(child.ask(header, body), self.budget)
            except TimeoutError:
                await child.kill()
                log.warning("xpath-budget", extra={"fields": {"expression": expression[:200], "budget-s": self.budget}})
                raise FilterError(f"the XPath filter ran longer than its {self.budget:g} s budget "
                                  "(mso server --xpath-budget); narrow it, or write paths inside "
                                  "predicates relative to the node tested", "operation-failed") from None
            except (asyncio.IncompleteReadError, ConnectionError):
                await child.kill()
                raise FilterError("the XPath filter could not be evaluated", "operation-failed") from None
            finally:
                self._busy.discard(child)
            self._idle.append(child)
        if "error" in answer:
            raise FilterError(answer["error"], answer["tag"])
        return _elements_at(data, answer["selected"])

    async def close(self) -> None:
        children, self._idle = [*self._idle, *self._busy], []
        for child in children:
            await child.kill()

    @staticmethod
    async def _start() -> _Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.xpath_child",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent(signal.SIGKILL))
        return _Child(process)


def _elements_at(data: etree._Element, positions: Sequence[int]) -> list[etree._Element]:
    elements = list(data.iter(etree.Element))
    return [elements[index] for index in positions]
