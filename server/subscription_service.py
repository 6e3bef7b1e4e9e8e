"""The Master's subscription service: RFC 8639 dynamic and configured subscriptions, RFC 8641
datastore updates, and the multiple-stream-originators generator lists.

Who serves which part of a subscription is decided by ``Originators`` (the Resource-Location
Table and the decomposer): the Master runs its own share as generator ``1``, and each agent
whose data the filter selects runs a component subscription with the same id, trigger, filter
and receivers. When ownership changes every affected subscription is re-decomposed and the
subscriber told with ``subscription-modified``. Every job runs on the shared runner
(``mso.subscription_runner``). State notifications come from here only (draft §7).
"""

from __future__ import annotations

import copy
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import count
from typing import TYPE_CHECKING

from lxml import etree

from mso.filters import FilterError
from mso.sampling import apply_filter, selection_of
from mso.namespaces import DISTRIBUTED_NOTIF, NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.date_and_time import format_epoch
from mso.notification_encoding import EnvelopeCodec, xml_notification
from mso.subscription_model import FilterSpec, OnChange, Periodic, SubscriptionSpec
from mso.rpc_error import RpcError
from mso.subscription_runner import Emitter, Job, JobFactory, OnChangeJob, SharedSampler
from mso.udp_notif_sender import ReceiversEmitter, UdpNotifPublisher
from server.configured_subscriptions import ConfigError, configured_subscriptions, diff
from server.rpc import Dispatcher, Reply, RpcContext
from server.originators import Originators
from server.subscription_requests import (AGENT_RECEIVER, AgentReceiver, Limits, merge_modify, parse_agent_receiver,
                                          parse_request, subscription_error)
from server.subscription_state import add_generators, add_policy, add_publishers, state_notification, streams_element

if TYPE_CHECKING:
    from server.master import Master
    from server.session import NetconfSession

log = logging.getLogger("mso.subscriptions")
SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
MASTER_GENERATOR = "1"
MASTER_PUBLISHER_ID = 1  # the UDP-notif publisher id whose decimal string is MASTER_GENERATOR
OPERATIONAL_POLL_SECONDS = 1.0  # on-change of operational data: how often the sources are compared
SUSPENDED_NO_ORIGINATOR = "mso-dx:no-originator"
STREAMS = (("NETCONF", "Notifications of this NETCONF server (RFC 6470 netconf-config-change ...)"),)


class MasterSampler:
    """Samples the Master's own datastores, selecting with the subscription's filter."""

    def __init__(self, master: "Master") -> None:
        self._master = master

    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        master = self._master
        if datastore == "ds:running":
            data = master.running.root
        else:
            data = master.operational.snapshot(selection_of(selection))
        return apply_filter(data, selection, master.schema.key_index)


class SessionEmitter:
    """Pushes to the subscriber's own NETCONF session (RFC 8640)."""

    def __init__(self, session: "NetconfSession") -> None:
        self.session = session

    def emit(self, event: etree._Element, event_time: float) -> None:
        self.session.send_notification(xml_notification(event, format_epoch(event_time)))


@dataclass
class Subscription:
    """One global subscription. Jobs emit through it, so it counts every event record it sends;
    state notifications go to ``emitter`` directly and are not event records."""

    spec: SubscriptionSpec
    emitter: Emitter
    owner: "NetconfSession | None"  # the establishing session; None for a configured subscription
    generators: list[str]  # announced to the subscriber (only "1" in centralized mode)
    shares: list[str] = field(default_factory=list)  # originators that produce its data
    agent_receiver: AgentReceiver | None = None  # where agents push a dynamic subscription's share
    job: Job | None = None
    suspension: str | None = None  # the subscription-suspended reason while suspended
    sent: int = 0
    excluded: int = 0
    stream_filter: Callable[[etree._Element], etree._Element | None] | None = field(default=None, repr=False)

    @property
    def suspended(self) -> bool:
        return self.suspension is not None

    def emit(self, event: etree._Element, event_time: float) -> None:
        self.sent += 1
        self.emitter.emit(event, event_time)


class SubscriptionService:
    def __init__(self, master: "Master", originators: Originators, limits: Limits | None = None,
                 dynamic_receiver: AgentReceiver | None = None) -> None:
        self._master = master
        self._originators = originators
        self._dynamic_receiver = dynamic_receiver
        originators.on_change.append(self.redecompose)
        originators.on_report.append(self.agent_report)
        self.limits = limits or Limits()
        self._jobs = JobFactory(master.schema, SharedSampler(MasterSampler(master)), publisher_id=MASTER_PUBLISHER_ID,
                                clock=self._now, operational_poll=OPERATIONAL_POLL_SECONDS)
        self._ids = count(1)
        self.subscriptions: dict[int, Subscription] = {}
        self._udp: UdpNotifPublisher | None = None

    async def start(self) -> None:
        """Open the Master's UDP-notif publisher and start the configured subscriptions that
        the running datastore holds (they survive a restart because running does)."""
        codec = EnvelopeCodec(self._master.schema, hostname=socket.gethostname())
        self._udp = await UdpNotifPublisher.open(MASTER_PUBLISHER_ID, codec)
        self.reconcile_configured(self._master.running.root)

    def close(self) -> None:
        for subscription in list(self.subscriptions.values()):
            self._remove(subscription)
        if self._udp is not None:
            self._udp.close()

    def register(self, dispatcher: Dispatcher) -> None:
        for name, handler in (("establish-subscription", self.establish), ("modify-subscription", self.modify),
                              ("delete-subscription", self.delete), ("kill-subscription", self.kill)):
            dispatcher.register(qn(SN, name), handler)
        dispatcher.register(qn(YP, "resync-subscription"), self.resync)

    # --- dynamic subscriptions ----------------------------------------------------------------

    def _next_id(self) -> int:
        while True:
            candidate = next(self._ids)
            if candidate not in self.subscriptions:
                return candidate

    async def establish(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        owned = sum(1 for s in self.subscriptions.values() if s.owner is ctx.session)
        spec = parse_request("establish-subscription", operation, 0, self.limits, extra_children={AGENT_RECEIVER})
        if owned >= self.limits.max_subscriptions_per_session:
            raise subscription_error("establish-subscription", "insufficient-resources",
                                     f"a session may hold {self.limits.max_subscriptions_per_session} subscriptions",
                                     datastore=spec.is_datastore)
        if spec.encoding.value != "encode-xml":
            raise subscription_error("establish-subscription", "encoding-unsupported",
                                     "a NETCONF session carries XML notifications only (RFC 8640)",
                                     datastore=spec.is_datastore)
        subscription = Subscription(spec, SessionEmitter(ctx.session), ctx.session, [],
                                    agent_receiver=parse_agent_receiver(operation) or self._dynamic_receiver)
        self._place(subscription, spec, "establish-subscription")
        subscription.spec = spec = replace(spec, id=self._next_id())
        self.subscriptions[spec.id] = subscription
        self._start(subscription)
        log.info("established", extra={"fields": {"id": spec.id, "session-id": ctx.principal.session_id,
                                                  "generators": ",".join(subscription.generators)}})
        return self._id_reply(spec.id, subscription.generators)

    def _id_reply(self, subscription_id: int, generators: Sequence[str]) -> list[etree._Element]:
        id_leaf = etree.Element(qn(SN, "id"), nsmap={None: SN})
        id_leaf.text = str(subscription_id)
        holder = etree.Element("holder")
        add_generators(holder, generators)
        return [id_leaf, *holder]

    def _owned(self, ctx: RpcContext, rpc: str, operation: etree._Element) -> Subscription:
        raw = (operation.findtext(qn(SN, "id")) or "").strip()
        subscription = self.subscriptions.get(int(raw)) if raw.isdigit() else None
        if subscription is None or subscription.owner is not ctx.session:
            datastore = subscription.spec.is_datastore if subscription else False
            raise subscription_error(rpc, "no-such-subscription", f"no subscription {raw!r} of this session",
                                     datastore=datastore)
        return subscription

    async def modify(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        subscription = self._owned(ctx, "modify-subscription", operation)
        params = {c.tag for c in operation if isinstance(c.tag, str)}
        request = parse_request("modify-subscription", operation, subscription.spec.id, self.limits,
                                extra_children={qn(SN, "id")})
        spec = merge_modify(subscription.spec, request, params)
        self._stop(subscription)
        try:
            self._place(subscription, spec, "modify-subscription")
        except RpcError:
            self._start(subscription)  # the subscription stays as it was
            raise
        subscription.spec = spec
        subscription.suspension = None
        self._start(subscription)
        reply = self._id_reply(spec.id, subscription.generators)[1:]
        subscription.emitter.emit(state_notification("subscription-modified", spec.id, spec=spec,
                                                     generators=subscription.generators), self._now())
        return reply or None

    async def delete(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        subscription = self._owned(ctx, "delete-subscription", operation)
        self._remove(subscription)
        return None

    async def kill(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        raw = (operation.findtext(qn(SN, "id")) or "").strip()
        subscription = self.subscriptions.get(int(raw)) if raw.isdigit() else None
        if subscription is None or subscription.owner is None:
            raise subscription_error("kill-subscription", "no-such-subscription",
                                     f"no dynamic subscription {raw!r}", datastore=False)
        subscription.emitter.emit(state_notification("subscription-terminated", subscription.spec.id,
                                                     reason="sn:no-such-subscription"), self._now())
        self._remove(subscription)
        return None

    async def resync(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        raw = (operation.findtext(qn(YP, "id")) or "").strip()
        subscription = self.subscriptions.get(int(raw)) if raw.isdigit() else None
        if (subscription is None or subscription.owner is not ctx.session or subscription.job is None
                or not isinstance(subscription.spec.trigger, OnChange)):
            raise subscription_error("resync-subscription", "no-such-subscription-resync",
                                     f"no on-change subscription {raw!r} of this session", datastore=True)
        subscription.job.resync()
        return None

    # --- life cycle ---------------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return time.time()

    def _start(self, subscription: Subscription) -> None:
        spec = subscription.spec
        if spec.stream is not None:
            subscription.stream_filter = self._stream_filter(spec.filter)
            return
        if MASTER_GENERATOR in subscription.shares:
            subscription.job = self._jobs.job(spec, subscription, on_complete=self._completed)
            subscription.job.start()
        component = self._component_spec(subscription)
        for generator in subscription.shares:
            if generator != MASTER_GENERATOR:
                self._originators.start_component(generator, component)

    def _component_spec(self, subscription: Subscription) -> SubscriptionSpec:
        """What agents run: the same subscription, pushed to the agent receiver for a dynamic one."""
        receiver = subscription.agent_receiver
        if subscription.owner is None or receiver is None:
            return subscription.spec
        return replace(subscription.spec, receivers=(receiver.receiver,), encoding=receiver.encoding)

    # --- decomposition ------------------------------------------------------------------------

    def _shares(self, spec: SubscriptionSpec) -> list[str]:
        """The originators whose data ``spec`` selects; only operational data lives on agents."""
        if spec.datastore != "ds:operational":
            return [MASTER_GENERATOR]
        return self._originators.shares(spec.filter)

    def _place(self, subscription: Subscription, spec: SubscriptionSpec, rpc: str) -> None:
        """Decide who serves ``spec`` (or raise the RPC's error); a filter that selects nothing
        anywhere is the Master's to answer, with empty updates."""
        shares = self._shares(spec) or [MASTER_GENERATOR]
        self._check_shares(subscription, spec, shares, rpc)
        subscription.shares = shares
        subscription.generators = self._announced(shares)

    def _announced(self, shares: list[str]) -> list[str]:
        return [MASTER_GENERATOR] if self._originators.centralized else shares

    def _check_shares(self, subscription: Subscription, spec: SubscriptionSpec, shares: list[str], rpc: str) -> None:
        agents = [g for g in shares if g != MASTER_GENERATOR]
        if not agents:
            return
        if subscription.owner is not None and subscription.agent_receiver is None and not self._originators.centralized:
            identity = "no-agent-receiver" if rpc == "establish-subscription" else "no-agent-receiver-to-modify"
            raise subscription_error(rpc, identity,
                                     f"line cards {', '.join(agents)} own selected data: give "
                                     "mso-distributed-export:agent-receiver (or start the Master with --dynamic-receiver)",
                                     datastore=True)
        for generator in agents:
            capability = self._originators.capability(generator)
            if capability is None:
                continue
            trigger = spec.trigger
            if isinstance(trigger, Periodic) and trigger.period_cs < capability.minimum_period_cs:
                raise subscription_error(rpc, "period-unsupported",
                                         f"line card {generator} pushes at most every {capability.minimum_period_cs} cs",
                                         datastore=True, period_hint=capability.minimum_period_cs)
            if isinstance(trigger, OnChange) and not capability.on_change:
                raise subscription_error(rpc, "on-change-unsupported",
                                         f"line card {generator} does not support on-change", datastore=True)

    def redecompose(self) -> None:
        """Ownership changed: re-decompose every datastore subscription whose originators differ
        now, tell its subscriber, and suspend (resume) it when no originator is left (returns)."""
        for subscription in list(self.subscriptions.values()):
            if subscription.spec.datastore != "ds:operational":
                continue
            shares = self._shares(subscription.spec)
            if subscription.suspension == SUSPENDED_NO_ORIGINATOR:
                if shares:
                    self._resume_orphan(subscription, shares)
            elif not shares and any(g != MASTER_GENERATOR for g in subscription.shares):
                self._suspend(subscription, SUSPENDED_NO_ORIGINATOR)
            elif shares and shares != subscription.shares and not subscription.suspended:
                self._reassign(subscription, shares)

    def _reassign(self, subscription: Subscription, shares: list[str]) -> None:
        self._stop(subscription)
        announced_before = subscription.generators
        subscription.shares, subscription.generators = shares, self._announced(shares)
        self._start(subscription)
        log.info("redecomposed", extra={"fields": {"id": subscription.spec.id, "generators": ",".join(shares)}})
        if subscription.generators != announced_before:
            self._notify_modified(subscription)

    def _notify_modified(self, subscription: Subscription) -> None:
        spec = subscription.spec
        subscription.emitter.emit(state_notification("subscription-modified", spec.id, spec=spec,
                                                     generators=subscription.generators), self._now())

    def _suspend(self, subscription: Subscription, reason: str) -> None:
        self._stop(subscription)
        subscription.suspension = reason
        subscription.emitter.emit(state_notification("subscription-suspended", subscription.spec.id, reason=reason),
                                  self._now())

    def _resume_orphan(self, subscription: Subscription, shares: list[str]) -> None:
        subscription.suspension = None
        announced_before = subscription.generators
        subscription.shares, subscription.generators = shares, self._announced(shares)
        subscription.emitter.emit(state_notification("subscription-resumed", subscription.spec.id), self._now())
        if subscription.generators != announced_before:
            self._notify_modified(subscription)
        self._start(subscription)

    def agent_report(self, subscription_id: int, event: etree._Element, event_time: float) -> None:
        """Centralized mode: an agent's event, pushed by the Master as its own."""
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None or subscription.suspended:
            return
        publisher = event.find(qn(DISTRIBUTED_NOTIF, "message-publisher-id"))
        if publisher is not None:
            publisher.text = str(MASTER_PUBLISHER_ID)
        subscription.emit(event, event_time)

    def _stop(self, subscription: Subscription) -> None:
        if subscription.job is not None:
            subscription.job.stop()
            subscription.job = None
        for generator in subscription.shares:
            if generator != MASTER_GENERATOR:
                self._originators.stop_component(generator, subscription.spec.id)

    def _remove(self, subscription: Subscription) -> None:
        self._stop(subscription)
        self.subscriptions.pop(subscription.spec.id, None)

    def _completed(self, job: Job) -> None:
        subscription = self.subscriptions.get(job.spec.id)
        if subscription is None:
            return
        subscription.emitter.emit(state_notification("subscription-completed", job.spec.id), self._now())
        self._remove(subscription)

    def session_closed(self, session: "NetconfSession") -> None:
        """Dynamic subscriptions end with their session (RFC 8639 §2.4)."""
        for subscription in [s for s in self.subscriptions.values() if s.owner is session]:
            self._remove(subscription)

    def session_paused(self, session: "NetconfSession", paused: bool) -> None:
        """The session's send buffer is full (or drained again): suspend (resume) its subscriptions
        with reason unsupportable-volume rather than buffer without bound (RFC 8639 §2.4.5)."""
        for subscription in [s for s in self.subscriptions.values() if s.owner is session]:
            if paused and not subscription.suspended:
                self._suspend(subscription, "sn:unsupportable-volume")
            elif not paused and subscription.suspension == "sn:unsupportable-volume":
                subscription.suspension = None
                subscription.emitter.emit(state_notification("subscription-resumed", subscription.spec.id), self._now())
                self._start(subscription)

    # --- configured subscriptions (RFC 8639 §2.5) ---------------------------------------------

    def check_config(self, data: etree._Element) -> None:
        """Refuse a running datastore whose configured subscriptions cannot be run."""
        try:
            specs = configured_subscriptions(data)
        except ConfigError as error:
            raise RpcError(error.error_tag, error.error_message, app_tag=error.error_app_tag, path=error.error_path,
                           path_namespaces=self._master.schema.prefix_namespaces) from None
        for spec in specs:
            existing = self.subscriptions.get(spec.id)
            if existing is not None and existing.owner is not None:
                raise RpcError("invalid-value", f"subscription id {spec.id} is in use by a dynamic subscription",
                               path=f"/sn:subscriptions/sn:subscription[sn:id='{spec.id}']",
                               path_namespaces={"sn": SN})

    def reconcile_configured(self, data: etree._Element) -> None:
        """Bring the running configured subscriptions in line with ``data``."""
        assert self._udp is not None, "start() first"
        current = [s.spec for s in self.subscriptions.values() if s.owner is None]
        added, removed, modified = diff(current, configured_subscriptions(data))
        now = self._now()
        for spec in removed:
            subscription = self.subscriptions[spec.id]
            subscription.emitter.emit(state_notification("subscription-terminated", spec.id,
                                                         reason="sn:no-such-subscription"), now)
            self._remove(subscription)
        for spec in modified:
            subscription = self.subscriptions[spec.id]
            self._stop(subscription)
            self._configure(subscription, spec)
            subscription.emitter.emit(state_notification("subscription-modified", spec.id, spec=spec,
                                                         generators=subscription.generators), now)
            self._start(subscription)
        for spec in added:
            subscription = Subscription(spec, ReceiversEmitter(self._udp, spec.receivers, spec.encoding), None, [])
            self._configure(subscription, spec)
            self.subscriptions[spec.id] = subscription
            subscription.emitter.emit(state_notification("subscription-started", spec.id, spec=spec,
                                                         generators=subscription.generators), now)
            self._start(subscription)

    def _configure(self, subscription: Subscription, spec: SubscriptionSpec) -> None:
        assert self._udp is not None
        subscription.spec = spec
        subscription.emitter = ReceiversEmitter(self._udp, spec.receivers, spec.encoding)
        shares = self._shares(spec) or [MASTER_GENERATOR]
        subscription.shares, subscription.generators = shares, self._announced(shares)

    # --- events and data changes --------------------------------------------------------------

    def datastore_changed(self, datastore: str) -> None:
        for subscription in self.subscriptions.values():
            job = subscription.job
            if isinstance(job, OnChangeJob) and subscription.spec.datastore == datastore:
                job.data_changed()

    def publish_event(self, stream: str, event: etree._Element, event_time: float) -> None:
        """An event record on a stream goes to every subscription on it that its filter passes."""
        for subscription in self.subscriptions.values():
            if subscription.spec.stream != stream or subscription.suspended:
                continue
            passed = subscription.stream_filter(event) if subscription.stream_filter else event
            if passed is None:
                subscription.excluded += 1
                continue
            subscription.emit(passed, event_time)

    def _stream_filter(self, selection: FilterSpec | None) -> Callable[[etree._Element], etree._Element | None] | None:
        if selection is None:
            return None
        keys = self._master.schema.key_index

        def passes(event: etree._Element) -> etree._Element | None:
            holder = etree.Element(qn(NETCONF_BASE, "data"))
            holder.append(copy.deepcopy(event))
            try:
                selected = apply_filter(holder, selection, keys)
            except FilterError:
                return None
            return selected[0] if len(selected) else None

        return passes

    # --- operational data ---------------------------------------------------------------------

    def master_jobs(self) -> int:
        """Subscriptions the Master runs a share of itself."""
        return sum(1 for s in self.subscriptions.values() if MASTER_GENERATOR in s.shares and not s.suspended)

    def streams(self) -> etree._Element:
        return streams_element(STREAMS)

    def subscriptions_element(self) -> etree._Element:
        element = etree.Element(qn(SN, "subscriptions"), nsmap={None: SN})
        for subscription in sorted(self.subscriptions.values(), key=lambda s: s.spec.id):
            entry = etree.SubElement(element, qn(SN, "subscription"))
            etree.SubElement(entry, qn(SN, "id")).text = str(subscription.spec.id)
            add_policy(entry, subscription.spec)
            self._receivers(entry, subscription)
            add_generators(entry, subscription.generators)
            add_publishers(entry, subscription.generators)
        return element

    def _receivers(self, entry: etree._Element, subscription: Subscription) -> None:
        owner = subscription.owner
        if owner is not None:
            names = [f"session-{owner.info.session_id}"]
        else:
            names = [receiver.name for receiver in subscription.spec.receivers]
        receivers = etree.SubElement(entry, qn(SN, "receivers"))
        for name in names:
            receiver = etree.SubElement(receivers, qn(SN, "receiver"))
            etree.SubElement(receiver, qn(SN, "name")).text = name
            etree.SubElement(receiver, qn(SN, "sent-event-records")).text = str(subscription.sent)
            etree.SubElement(receiver, qn(SN, "excluded-event-records")).text = str(subscription.excluded)
            etree.SubElement(receiver, qn(SN, "state")).text = "suspended" if subscription.suspended else "active"

