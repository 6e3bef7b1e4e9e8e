"""The line-card agent: registers with the Master over the control channel, keeps the
registration alive with heartbeats, and runs the component subscriptions the Master gives it
with the shared runner, pushing UDP-notif straight to the receivers under its own publisher id.

An agent is a publisher without a NETCONF face. A change the Master schedules (a component
that starts, changes or stops, a resource that moves) takes effect at the instant it gives, the
one it announced to the subscribers, so every slot is served by the originators promised for
it. If the Master goes away its component subscriptions stop (the Master re-creates them after the agent registers again) and it keeps
trying to reconnect; a refused registration (duplicate generator id, a resource another
originator owns) ends the agent with the Master's reason.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from agents.card_data import (
    READS,
    SAMPLES,
    VIEWS,
    CardData,
    ResourceError,
    SampledLinks,
)
from mso import control_channel as cc
from mso.filters import FilterError, SharedEntries
from mso.namespaces import NETCONF_BASE, qn
from mso.notification_encoding import EnvelopeCodec
from mso.sampling import Selection, Shapes, apply_filter, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec
from mso.subscription_runner import Job, JobFactory, UnionSampler
from mso.udp_notif_sender import ReceiversEmitter, UdpNotifPublisher

log = logging.getLogger("mso.agent")
DATA = qn(NETCONF_BASE, "data")


class RegistrationRefused(Exception):
    """The Master refused this agent; the message is its reason."""


@dataclass(frozen=True)
class AgentConfig:
    generator_id: int
    slot: int
    master: tuple[str, int]
    interfaces: int = 48
    capability: cc.Capability = cc.Capability()
    reconnect_seconds: float = 1.0
    secret: bytes = b""  # shared with the Master (its state dir's agent-secret)


class CardReader:
    """The shared runner's source over this card's data only (ds:operational): one reading
    renders what a selection can select, and each filter's share is cut from it."""

    def __init__(self, card: CardData, schema: Schema) -> None:
        self._card = card
        self._keys = schema.key_index
        self._shapes = Shapes(schema.key_index)

    def read(self, datastore: str, selection: Selection) -> etree._Element:
        data = etree.Element(DATA)
        data.extend(self._card.nodes(selection, view=SAMPLES))
        return data

    def cut(self, data: etree._Element, selection: FilterSpec | None,
            shared: SharedEntries | None = None) -> etree._Element:
        return apply_filter(data, selection, self._keys, shared)

    def read_exact(self, datastore: str, selection: FilterSpec | None,
                   sampled: SampledLinks | None = None) -> etree._Element | None:
        """A filter that keeps of each interface what its keys and structure decide is
        rendered from templates cut once to it: no full reading, no filtering pass."""
        shape = self._shapes.of(selection)
        if shape is None:
            return None
        data = etree.Element(DATA)
        interfaces = self._card.shaped_interfaces(selection_of(selection), shape, selection, view=SAMPLES,
                                                  sampled=sampled)
        if interfaces is not None:
            data.append(interfaces)
        return data


class MasterReportEmitter:
    """Centralized mode: events go to the Master, which pushes them itself."""

    def __init__(self, channel: cc.Channel, subscription_id: int) -> None:
        self._channel = channel
        self._id = subscription_id

    def emit(self, event: etree._Element, event_time: float) -> None:
        self._channel.send(cc.DataReport(self._id, event_time, etree.tostring(event).decode()))


class Agent:
    def __init__(self, config: AgentConfig, schema: Schema) -> None:
        self.config = config
        self._schema = schema
        self._card: CardData | None = None
        self._jobs: JobFactory | None = None
        self._sampler: UnionSampler | None = None
        self._components: dict[int, Job] = {}
        self._switches: dict[int, asyncio.TimerHandle] = {}  # component changes waiting for their instant
        self._moves: list[asyncio.TimerHandle] = []  # resource moves waiting to reach the samples
        self._udp: UdpNotifPublisher | None = None
        self.registered = asyncio.Event()

    async def run(self) -> None:
        """Serve until cancelled; raises RegistrationRefused when the Master says no."""
        codec = EnvelopeCodec(self._schema, hostname=f"{socket.gethostname()}-lc{self.config.slot}")
        self._udp = await UdpNotifPublisher.open(self.config.generator_id, codec)
        try:
            while True:
                await self._session()
                await asyncio.sleep(self.config.reconnect_seconds)
        finally:
            self._stop_components()
            self._udp.close()

    async def _session(self) -> None:
        host, port = self.config.master
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            log.warning("master-unreachable", extra={"fields": {"master": f"{host}:{port}", "error": error.strerror}})
            return
        channel = cc.Channel(reader, writer, f"{host}:{port}")
        try:
            heartbeat_interval = await self._register(channel)
            heartbeats = asyncio.create_task(self._heartbeats(channel, heartbeat_interval))
            try:
                await self._serve(channel)
            finally:
                heartbeats.cancel()
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            log.warning("master-lost", extra={"fields": {"error": str(error) or type(error).__name__}})
        except cc.ControlChannelError as error:
            log.error("control-channel-error", extra={"fields": {"error": str(error)}})
        finally:
            self.registered.clear()
            self._stop_components()
            channel.close()

    async def _register(self, channel: cc.Channel) -> float:
        """Answer the Master's challenge with a proof of the shared secret, register, and check the
        Master's proof in turn (an agent pushes nothing for a Master that cannot give it)."""
        config = self.config
        challenge = await channel.receive()
        if not isinstance(challenge, cc.Challenge):
            raise cc.ControlChannelError(f"expected challenge, got {challenge.TYPE}")
        nonce = cc.new_nonce()
        probe = CardData(config.slot, config.interfaces, self._schema.key_index)
        channel.send(cc.Register(config.generator_id, config.slot, probe.resources(), config.capability, nonce=nonce,
                                 proof=cc.agent_proof(config.secret, challenge.nonce, nonce, config.generator_id)))
        reply = await channel.receive()
        if not isinstance(reply, cc.RegisterReply):
            raise cc.ControlChannelError(f"expected register-reply, got {reply.TYPE}")
        if not reply.accepted:
            raise RegistrationRefused(reply.reason)
        if not cc.proof_matches(cc.master_proof(config.secret, nonce, challenge.nonce), reply.proof):
            raise RegistrationRefused("authentication failed: the Master does not hold this agent's secret")
        self._card = CardData(config.slot, config.interfaces, self._schema.key_index, seed=reply.seed,
                              boot_time=reply.boot_time)
        self._sampler = UnionSampler(CardReader(self._card, self._schema))
        self._jobs = JobFactory(self._schema, self._sampler, publisher_id=config.generator_id)
        self.registered.set()
        log.info("registered", extra={"fields": {"generator": config.generator_id, "slot": config.slot,
                                                 "master": channel.peer}})
        return reply.heartbeat_interval

    async def _heartbeats(self, channel: cc.Channel, interval: float) -> None:
        while True:
            sampler = self._sampler
            channel.send(cc.Heartbeat(skipped=self._skipped_ticks(),
                                      samples=(sampler.reads, sampler.instants) if sampler else (0, 0)))
            await asyncio.sleep(interval)

    def _skipped_ticks(self) -> tuple[tuple[int, int], ...]:
        """What the Master shows as this card's skipped ticks per subscription (when overloaded)."""
        return tuple((subscription_id, job.skipped_ticks) for subscription_id, job in self._components.items()
                     if job.skipped_ticks)

    async def _serve(self, channel: cc.Channel) -> None:
        while True:
            message = await channel.receive()
            if isinstance(message, (cc.ComponentCreate, cc.ComponentModify)):
                self._run_component(channel, message)
            elif isinstance(message, cc.ComponentDelete):
                self._when(message.at, message.subscription_id,
                           functools.partial(self._stop_component, message.subscription_id))
            elif isinstance(message, cc.GetRequest):
                channel.send(self._get(message))
            elif isinstance(message, cc.ResourcesAssigned):
                self._assigned(message)
            else:
                log.warning("unexpected-message", extra={"fields": {"type": message.TYPE}})

    def _run_component(self, channel: cc.Channel, message: cc.ComponentCreate | cc.ComponentModify) -> None:
        """Run the component (instead of what runs now) from the instant the message gives."""
        assert self._jobs is not None and self._udp is not None
        spec = message.spec
        if message.report_to_master:
            emitter = MasterReportEmitter(channel, spec.id)
        else:
            emitter = ReceiversEmitter(self._udp, spec.receivers, spec.encoding)
        try:
            job = self._jobs.job(spec, emitter, on_complete=lambda j: self._components.pop(j.spec.id, None))
        except FilterError as error:
            self._when(None, spec.id, lambda: self._stop_component(spec.id))
            channel.send(cc.ComponentStatus(spec.id, "error", error.error_message))
            return

        def switch() -> None:
            self._stop_component(spec.id)
            try:
                job.start()
            except FilterError as error:
                channel.send(cc.ComponentStatus(spec.id, "error", error.error_message))
                return
            self._components[spec.id] = job
            log.info("component-started", extra={"fields": {"id": spec.id, "receivers": len(spec.receivers),
                                                            "centralized": message.report_to_master}})

        self._when(message.at, spec.id, switch)
        channel.send(cc.ComponentStatus(spec.id, "active"))

    def _when(self, at: float | None, subscription_id: int, change: Callable[[], None]) -> None:
        """Apply a component's change at ``at`` (None or past: now); it replaces any change of
        that component still waiting."""
        waiting = self._switches.pop(subscription_id, None)
        if waiting is not None:
            waiting.cancel()
        delay = 0.0 if at is None else at - time.time()
        if delay <= 0:
            change()
            return

        def due() -> None:
            del self._switches[subscription_id]
            change()

        self._switches[subscription_id] = asyncio.get_running_loop().call_later(delay, due)

    def _stop_component(self, subscription_id: int) -> None:
        job = self._components.pop(subscription_id, None)
        if job is not None:
            job.stop()

    def _stop_components(self) -> None:
        for waiting in [*self._switches.values(), *self._moves]:
            waiting.cancel()
        self._switches.clear()
        self._moves.clear()
        for subscription_id in list(self._components):
            self._stop_component(subscription_id)

    def _get(self, request: cc.GetRequest) -> cc.GetReply:
        assert self._card is not None
        data = etree.Element(DATA)
        data.extend(self._card.nodes(selection_of(request.filter), time.time(), view=READS))
        try:
            selected = apply_filter(data, request.filter, self._schema.key_index)
        except FilterError as error:
            return cc.GetReply(request.request_id, error=error.error_message)
        return cc.GetReply(request.request_id, etree.tostring(selected).decode())

    def _assigned(self, message: cc.ResourcesAssigned) -> None:
        """The Master moved resources: gets follow at once, as the Master's table does; the
        components' samples from the instant the Master announced the move to the subscribers."""
        card = self._card
        assert card is not None
        cards = dict(message.cards)
        delay = 0.0 if message.at is None else message.at - time.time()
        try:
            card.change(message.added, message.removed, cards, views=VIEWS if delay <= 0 else (READS,))
        except ResourceError as error:
            log.error("resource-refused", extra={"fields": {"error": str(error)}})
            return
        if delay > 0:
            loop = asyncio.get_running_loop()
            self._moves = [waiting for waiting in self._moves if waiting.when() > loop.time()]
            self._moves.append(loop.call_later(delay, card.change, message.added, message.removed, cards, (SAMPLES,)))

