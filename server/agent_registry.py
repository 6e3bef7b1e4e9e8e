"""The Master's end of the control channel: it accepts line-card agents, keeps track of which are
alive (heartbeats within ``timeout``, and an open connection), carries component subscriptions
and gets to them, and tells ``RegistryEvents`` when an agent joins, leaves or reports.

An agent is gone the moment its connection closes (a killed process) or when it has been
silent for ``timeout`` seconds (a hung one); either way ``agent_left`` is called once.

Only an agent that holds the secret of the Master's state dir registers: the Master challenges
each connection with a nonce and checks the agent's proof (``mso.control_channel``), and proves
itself in its reply.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Protocol

from mso import control_channel as cc
from mso.atomic_file import write_atomically
from mso.generators import FIRST_AGENT_ID, LAST_PUBLISHER_ID, MASTER_GENERATOR, is_agent_id

log = logging.getLogger("mso.agents")
WATCHDOG_SECONDS = 0.1  # how often silence is checked: an agent's loss is seen within timeout + this


@dataclass
class AgentLink:
    generator: str
    slot: int
    capability: cc.Capability
    channel: cc.Channel
    last_heard: float = field(default_factory=time.monotonic)
    last_heard_wall: float = field(default_factory=time.time)
    components: set[int] = field(default_factory=set)
    skipped_ticks: dict[int, int] = field(default_factory=dict)  # per subscription, as its last heartbeat said
    samples: tuple[int, int] = (0, 0)  # readings of its card and the instants they served, as last said

    def heard(self) -> None:
        self.last_heard, self.last_heard_wall = time.monotonic(), time.time()


def load_or_create_secret(state_dir: Path) -> bytes:
    """The secret agents must prove they hold: made once (32 random bytes, mode 0600) and kept
    in the state dir, where agents on this host read it (``mso agent --secret-file``)."""
    path = state_dir / cc.SECRET_FILE
    if path.exists():
        return cc.read_secret(path)
    secret = os.urandom(32)
    write_atomically(path, secret.hex().encode(), 0o600)
    return secret


class RegistryEvents(Protocol):
    def agent_joining(self, request: cc.Register) -> str | None:
        """Accept the agent's resources (None) or give the reason it is refused."""

    def agent_joined(self, link: AgentLink) -> None: ...

    def agent_left(self, link: AgentLink, reason: str) -> None: ...

    def component_status(self, link: AgentLink, message: cc.ComponentStatus) -> None: ...

    def data_report(self, link: AgentLink, message: cc.DataReport) -> None: ...


class AgentRegistry:
    def __init__(self, events: RegistryEvents, *, timeout: float, boot_time: float, seed: int,
                 secret: bytes = b"") -> None:
        self._events = events
        self._secret = secret
        self.timeout = timeout
        self._boot_time = boot_time
        self._seed = seed
        self.agents: dict[str, AgentLink] = {}
        self._server: asyncio.Server | None = None
        self._watchdog: asyncio.Task | None = None
        self._requests = count(1)
        self._pending: dict[int, asyncio.Future[cc.GetReply]] = {}

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self._watchdog = asyncio.create_task(self._watch())

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._server is not None:
            self._server.close()
        for link in list(self.agents.values()):
            link.channel.close()
        self.agents.clear()

    def send(self, generator: str, message: cc.Message) -> None:
        link = self.agents.get(generator)
        if link is not None:
            link.channel.send(message)

    async def gather(self, requests: Mapping[str, cc.FilterSpec | None], timeout: float = 2.0) -> dict[str, cc.GetReply]:
        """Ask each agent for the data its filter selects (``requests``: generator -> filter);
        agents that do not answer in time are left out."""
        futures: dict[str, tuple[int, asyncio.Future[cc.GetReply]]] = {}
        loop = asyncio.get_running_loop()
        for generator, selection in requests.items():
            if generator not in self.agents:
                continue
            request_id = next(self._requests)
            future = self._pending[request_id] = loop.create_future()
            futures[generator] = (request_id, future)
            self.send(generator, cc.GetRequest(request_id, selection))
        if not futures:
            return {}
        done, _ = await asyncio.wait([f for _, f in futures.values()], timeout=timeout)
        for request_id, _ in futures.values():
            self._pending.pop(request_id, None)
        if len(done) < len(futures):
            log.warning("get-incomplete", extra={"fields": {"asked": len(futures), "answered": len(done)}})
        return {generator: future.result() for generator, (_, future) in futures.items() if future in done}

    # --- connections --------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "%s:%s" % writer.get_extra_info("peername")[:2]
        channel = cc.Channel(reader, writer, peer)
        try:
            link = await self._register(channel)
            if link is None:
                return
            reason = await self._serve(link)
            self.drop(link, reason)
        except asyncio.CancelledError:
            pass  # the Master is shutting down; close() has let every agent go
        finally:
            channel.close()

    async def _register(self, channel: cc.Channel) -> AgentLink | None:
        challenge = cc.new_nonce()
        channel.send(cc.Challenge(challenge))
        try:
            request = await asyncio.wait_for(channel.receive(), self.timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, cc.ControlChannelError) as error:
            log.warning("agent-refused", extra={"fields": {"peer": channel.peer, "reason": repr(error)}})
            return None
        admitted = self.admit(request, channel, challenge)
        if isinstance(admitted, str):
            await channel.writer.drain()
            return None
        return admitted

    def admit(self, request: cc.Message, channel: cc.Channel, challenge: str | None = None) -> AgentLink | str:
        """An agent's first message on ``channel`` (its answer to ``challenge``; None: a link the
        Master made itself, in-process): its link once registered and answered, or the reason it
        was refused (answered too)."""
        reason = self._unauthenticated(request, challenge) or self._refusal(request)
        if reason is not None:
            log.warning("agent-refused", extra={"fields": {"peer": channel.peer, "reason": reason}})
            channel.send(cc.RegisterReply(False, reason))
            return reason
        assert isinstance(request, cc.Register)
        link = AgentLink(str(request.generator_id), request.slot, request.capability, channel)
        self.agents[link.generator] = link
        proof = cc.master_proof(self._secret, request.nonce, challenge) if challenge is not None else ""
        channel.send(cc.RegisterReply(True, boot_time=self._boot_time, seed=self._seed,
                                      heartbeat_interval=self.timeout / 3, proof=proof))
        log.info("agent-joined", extra={"fields": {"generator": link.generator, "slot": link.slot,
                                                   "resources": len(request.resources), "peer": channel.peer}})
        self._events.agent_joined(link)
        return link

    def handle(self, link: AgentLink, message: cc.Message) -> None:
        """One message from a registered agent."""
        link.heard()
        self._dispatch(link, message)

    def _unauthenticated(self, request: cc.Message, challenge: str | None) -> str | None:
        """Why the agent is not who it should be (checked before anything it asks is taken)."""
        if not isinstance(request, cc.Register):
            return f"the first message must be register, not {request.TYPE}"
        if challenge is None:
            return None
        expected = cc.agent_proof(self._secret, challenge, request.nonce, request.generator_id)
        if not request.nonce or not cc.proof_matches(expected, request.proof):
            return "authentication failed: the agent does not hold the Master's agent secret"
        return None

    def _refusal(self, request: cc.Message) -> str | None:
        assert isinstance(request, cc.Register)
        if not is_agent_id(request.generator_id):
            return (f"generator id {request.generator_id} is not {FIRST_AGENT_ID}..{LAST_PUBLISHER_ID} "
                    f"({MASTER_GENERATOR} is the Master)")
        if str(request.generator_id) in self.agents:
            return f"generator id {request.generator_id} is already registered"
        if any(link.slot == request.slot for link in self.agents.values()):
            return f"slot {request.slot} already has an agent"
        return self._events.agent_joining(request)

    async def _serve(self, link: AgentLink) -> str:
        """Handle the agent's messages until it goes; returns why it went."""
        try:
            while True:
                self.handle(link, await link.channel.receive())
        except (asyncio.IncompleteReadError, ConnectionError):
            return "connection closed"
        except cc.ControlChannelError as error:
            return f"protocol error: {error}"

    def _dispatch(self, link: AgentLink, message: cc.Message) -> None:
        if isinstance(message, cc.Heartbeat):
            link.skipped_ticks = dict(message.skipped)
            link.samples = message.samples
            return
        if isinstance(message, cc.GetReply):
            future = self._pending.get(message.request_id)
            if future is not None and not future.done():
                future.set_result(message)
        elif isinstance(message, cc.ComponentStatus):
            self._events.component_status(link, message)
        elif isinstance(message, cc.DataReport):
            self._events.data_report(link, message)
        else:
            log.warning("unexpected-message", extra={"fields": {"generator": link.generator, "type": message.TYPE}})

    def drop(self, link: AgentLink, reason: str) -> None:
        """The agent is gone (its connection closed, it fell silent, or it is let go)."""
        if self.agents.get(link.generator) is not link:
            return
        del self.agents[link.generator]
        link.channel.close()
        log.warning("agent-left", extra={"fields": {"generator": link.generator, "slot": link.slot, "reason": reason}})
        self._events.agent_left(link, reason)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            silent_since = time.monotonic() - self.timeout
            for link in [a for a in self.agents.values() if a.last_heard < silent_since]:
                self.drop(link, f"no heartbeat for {self.timeout:g} s")
