"""Fuzz targets in-process, so a fuzzer runs thousands of inputs a second and sees every
exception:

- ``NetconfTarget``: the bytes a client writes fed to a real ``NetconfSession`` of a real Master
  core (framing, parsing, limits, envelope, dispatch, replies), without SSH in between. A crash
  is an exception out of the session, a handler failing (the session answers "internal error"
  and logs it), an exception the event loop catches, or a request still running after
  ``HANG_SECONDS``. Anything else (an rpc-error, the session closed, the session waiting for the
  rest of a message) is the server doing its job.
- ``CollectorTarget``: datagrams fed to the receive path ``mso collector`` builds. A crash is an
  exception out of it or a datagram it had to count as ``internal-error``; every other refusal
  is counted by its reason, which is its job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from mso.framing import EOM, FrameDecoder, FramingError
from mso.schema import Schema
from mso.xml_parsing import MalformedXML, parse_xml
from server.master import Master, ServerConfig
from server.session import NetconfSession
from server.sessions import SessionRegistry

USER = "fuzz"
HANG_SECONDS = 10.0
_SETTLE_PASSES = 5  # loop passes with nothing in flight and nothing new handled: the session is idle


class _Channel:
    """What a session uses of asyncssh's server channel; closing it ends the session as SSH would."""

    def __init__(self, lost: Callable[[], None]) -> None:
        self.written = bytearray()
        self.closed = False
        self._lost = lost

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self._lost)


class _CountingHost:
    """The Master's session registry, counting requests handled and in flight."""

    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry
        self.in_flight = 0
        self.handled = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    async def dispatch(self, ctx: Any, operation: etree._Element) -> Any:
        self.in_flight += 1
        try:
            return await self._registry.dispatch(ctx, operation)
        finally:
            self.in_flight -= 1
            self.handled += 1

    def refused(self, ctx: Any, operation: str | None, error: Any) -> None:
        self.handled += 1
        self._registry.refused(ctx, operation, error)


class _Crashes(logging.Handler):
    """Log records with an exception attached: a bug the code caught and logged."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(f"{record.name}: {record.getMessage()}: {record.exc_info[1]!r}")


@dataclass
class Outcome:
    replies: list[etree._Element] = field(default_factory=list)  # the server's messages after its hello
    closed: bool = False
    crashes: list[str] = field(default_factory=list)


class NetconfTarget:
    def __init__(self, master: Master) -> None:
        self._master = master
        self._crashes = _Crashes()

    @classmethod
    @asynccontextmanager
    async def running(cls, state_dir: Path, schema: Schema | None = None) -> AsyncIterator["NetconfTarget"]:
        """A Master core with one line card of two ports, NACM bypassed for the fuzzing user."""
        master = Master(ServerConfig(state_dir=state_dir, line_cards=1, ports_per_card=2, recovery_users=(USER,),
                                     xpath_budget=1.0), schema=schema)
        await master.start(listen=False)
        target = cls(master)
        logging.getLogger().addHandler(target._crashes)
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda _, context: target._crashes.seen.append(f"event loop: {context['message']}"))
        try:
            yield target
        finally:
            loop.set_exception_handler(previous)
            logging.getLogger().removeHandler(target._crashes)
            await master.close()

    async def feed(self, payload: bytes, pieces: int = 1) -> Outcome:
        """Open a session, write ``payload`` in ``pieces`` writes, and wait until it is idle."""
        host = _CountingHost(self._master.sessions)
        session = NetconfSession(host, USER, "127.0.0.1:1")  # type: ignore[arg-type]
        channel = _Channel(lambda: session.connection_lost(None))
        session.connection_made(channel)  # type: ignore[arg-type]
        session.session_started()
        self._crashes.seen.clear()
        outcome = Outcome()
        step = max(1, -(-len(payload) // pieces))
        try:
            for start in range(0, len(payload), step):
                session.data_received(payload[start:start + step], None)
                await self._settle(host, outcome)
        except Exception as error:  # noqa: BLE001 - a crash is what this target reports
            outcome.crashes.append(f"data_received raised {error!r}")
        outcome.closed = channel.closed
        if not channel.closed:
            session.close("fuzz case over")
        await asyncio.sleep(0)
        outcome.crashes += self._crashes.seen
        outcome.replies = _server_messages(bytes(channel.written))
        return outcome

    @staticmethod
    async def _settle(host: _CountingHost, outcome: Outcome) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANG_SECONDS
        quiet, handled = 0, host.handled
        while quiet < _SETTLE_PASSES:
            await asyncio.sleep(0.001 if host.in_flight else 0)
            if host.in_flight or host.handled != handled:
                quiet, handled = 0, host.handled
            else:
                quiet += 1
            if loop.time() > deadline:
                outcome.crashes.append(f"a request still runs after {HANG_SECONDS:g} s")
                return


def _server_messages(written: bytes) -> list[etree._Element]:
    """What the server wrote after its hello, parsed (chunked if the session was)."""
    decoder = FrameDecoder(max_message_bytes=1 << 30)
    try:
        messages = decoder.feed(written)
        after_hello = written[len(messages[0]) + len(EOM):] if messages else b""
        rest = decoder.hello_done(chunked=after_hello.startswith(b"\n#")) if messages else []
        return [parse_xml(message) for message in rest]
    except (FramingError, MalformedXML) as error:  # the server never writes what it cannot read itself
        raise AssertionError(f"the server wrote a broken message: {error}") from None


def datagrams_of(data: bytes) -> list[bytes]:
    """A fuzz input read as datagrams, each preceded by its length (two octets, big-endian)."""
    datagrams, position = [], 0
    while position + 2 <= len(data):
        length = int.from_bytes(data[position:position + 2], "big")
        datagrams.append(data[position + 2:position + 2 + length])
        position += 2 + length
    return datagrams


def as_fuzz_input(datagrams: list[bytes]) -> bytes:
    return b"".join(len(datagram).to_bytes(2, "big") + datagram for datagram in datagrams)


class CollectorTarget:
    def __init__(self) -> None:
        from collector.service import Collector, CollectorConfig  # the collector's program, loaded only here

        self._pipeline = Collector(CollectorConfig()).pipeline
        self._crashes = _Crashes()
        logging.getLogger().addHandler(self._crashes)

    def feed(self, data: bytes) -> list[str]:
        """The crashes ``data`` (datagrams, see ``datagrams_of``) caused; empty: none."""
        self._crashes.seen.clear()
        try:
            self._pipeline.datagrams([(datagram, ("127.0.0.1", 9)) for datagram in datagrams_of(data)])
            self._pipeline.tick()
        except Exception as error:  # noqa: BLE001 - a crash is what this target reports
            return [f"the receive path raised {error!r}"]
        return list(self._crashes.seen)

    def refusals(self) -> dict[str, int]:
        return dict(self._pipeline.refusals())
