"""The line-card agent: registers with the Master over the control channel, keeps the
registration alive with heartbeats, and runs the component subscriptions the Master gives it
with the shared runner, pushing UDP-notif straight to the receivers under its own publisher id.

An agent is a publisher without a NETCONF face. If the Master goes away its component
subscriptions stop (the Master re-creates them after the agent registers again) and it keeps
trying to reconnect; a refused registration (duplicate generator id, a resource another
originator owns) ends the agent with the Master's reason.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass

from lxml import etree

from agents.card_data import CardData, ResourceError
from mso import control_channel as cc
from mso.filters import FilterError
from mso.namespaces import NETCONF_BASE, qn
from mso.notification_encoding import EnvelopeCodec
from mso.sampling import apply_filter, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec
from mso.subscription_runner import Job, JobFactory, SharedSampler
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


class CardSampler:
    """The shared runner's sampler over this card's data only (ds:operational)."""

    def __init__(self, card: CardData, schema: Schema) -> None:
        self._card = card
        self._keys = schema.key_index

    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        data = etree.Element(DATA)
        data.extend(self._card.nodes(selection_of(selection)))
        return apply_filter(data, selection, self._keys)


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
        self._components: dict[int, Job] = {}
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
        self._jobs = JobFactory(self._schema, SharedSampler(CardSampler(self._card, self._schema)),
                                publisher_id=config.generator_id)
        self.registered.set()
        log.info("registered", extra={"fields": {"generator": config.generator_id, "slot": config.slot,
                                                 "master": channel.peer}})
        return reply.heartbeat_interval

    @staticmethod
    async def _heartbeats(channel: cc.Channel, interval: float) -> None:
        while True:
            channel.send(cc.Heartbeat())
            await asyncio.sleep(interval)

    async def _serve(self, channel: cc.Channel) -> None:
        while True:
            message = await channel.receive()
            if isinstance(message, (cc.ComponentCreate, cc.ComponentModify)):
                self._run_component(channel, message.spec.id, message)
            elif isinstance(message, cc.ComponentDelete):
                self._stop_component(message.subscription_id)
            elif isinstance(message, cc.GetRequest):
                channel.send(self._get(message))
            elif isinstance(message, cc.ResourcesAssigned):
                self._assigned(message)
            else:
                log.warning("unexpected-message", extra={"fields": {"type": message.TYPE}})

    def _run_component(self, channel: cc.Channel, subscription_id: int,
                       message: cc.ComponentCreate | cc.ComponentModify) -> None:
        assert self._jobs is not None and self._udp is not None
        self._stop_component(subscription_id)
        spec = message.spec
        if message.report_to_master:
            emitter = MasterReportEmitter(channel, spec.id)
        else:
            emitter = ReceiversEmitter(self._udp, spec.receivers, spec.encoding)
        try:
            job = self._jobs.job(spec, emitter, on_complete=lambda j: self._components.pop(j.spec.id, None))
            job.start()
        except FilterError as error:
            channel.send(cc.ComponentStatus(spec.id, "error", error.error_message))
            return
        self._components[spec.id] = job
        channel.send(cc.ComponentStatus(spec.id, "active"))
        log.info("component-started", extra={"fields": {"id": spec.id, "receivers": len(spec.receivers),
                                                        "centralized": message.report_to_master}})

    def _stop_component(self, subscription_id: int) -> None:
        job = self._components.pop(subscription_id, None)
        if job is not None:
            job.stop()

    def _stop_components(self) -> None:
        for subscription_id in list(self._components):
            self._stop_component(subscription_id)

    def _get(self, request: cc.GetRequest) -> cc.GetReply:
        assert self._card is not None
        data = etree.Element(DATA)
        data.extend(self._card.nodes(selection_of(request.filter), time.time()))
        try:
            selected = apply_filter(data, request.filter, self._schema.key_index)
        except FilterError as error:
            return cc.GetReply(request.request_id, error=error.error_message)
        return cc.GetReply(request.request_id, etree.tostring(selected).decode())

    def _assigned(self, message: cc.ResourcesAssigned) -> None:
        """The Master moved resources; the data follows at once (the Master re-decomposes)."""
        assert self._card is not None
        try:
            for resource in message.removed:
                self._card.release(resource)
            for resource in message.added:
                self._card.adopt(resource)
        except ResourceError as error:
            log.error("resource-refused", extra={"fields": {"error": str(error)}})

