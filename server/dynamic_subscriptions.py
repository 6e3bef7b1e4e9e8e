"""RFC 8639 dynamic subscriptions over NETCONF: establish, modify, delete, kill and RFC 8641
resync-subscription, and their end with the session that made them (RFC 8639 §2.4).

Who serves a subscription is the placement engine's decision; the replies and the
``subscription-modified`` after a modify carry the generator list as the gate lets the
subscriber see it (draft-zhou-netconf-multi-stream-originators §6, §13).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from lxml import etree

from mso.namespaces import SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.subscription_model import AgentReceiver, OnChange, SubscriptionSpec, anchored
from server.authz import Gate
from server.decompose import Decomposition, FilterUnsupported
from server.delivery import Delivery, SessionEmitter
from server.observation import Observers
from server.placement import Placement
from server.rpc import Dispatcher, Reply, RpcContext
from server.subscription_requests import (AGENT_RECEIVER, Limits, merge_modify, parse_agent_receiver, parse_request,
                                          subscription_error)
from server.subscription_state import add_generators, state_notification
from server.subscription_table import Subscription, SubscriptionTable

log = logging.getLogger("mso.subscriptions")
SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
Clock = Callable[[], float]


def session_receiver(session_id: int) -> str:
    """The receiver name of a dynamic subscription: the session it is pushed on."""
    return f"session-{session_id}"


def _datastore_name(identity: str | None) -> str | None:
    """``ds:operational`` -> ``operational``, as RPC events name datastores."""
    return identity.partition(":")[2] if identity else None


class DynamicSubscriptions:
    def __init__(self, table: SubscriptionTable, placement: Placement, gate: Gate, observers: Observers, *,
                 limits: Limits = Limits(), dynamic_receiver: AgentReceiver | None = None,
                 clock: Clock = time.time) -> None:
        self._table = table
        self._placement = placement
        self._gate = gate
        self._observers = observers
        self.limits = limits
        self._dynamic_receiver = dynamic_receiver
        self._now = clock

    def register(self, dispatcher: Dispatcher) -> None:
        for name, handler in (("establish-subscription", self.establish), ("modify-subscription", self.modify),
                              ("delete-subscription", self.delete), ("kill-subscription", self.kill)):
            dispatcher.register(qn(SN, name), handler)
        dispatcher.register(qn(YP, "resync-subscription"), self.resync)

    async def establish(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        session_id = ctx.principal.session_id
        spec = anchored(parse_request("establish-subscription", operation, 0, self.limits,
                                      extra_children={AGENT_RECEIVER}))
        ctx.access.datastore = _datastore_name(spec.datastore)
        if len(self._table.of_session(session_id)) >= self.limits.max_subscriptions_per_session:
            raise subscription_error("establish-subscription", "insufficient-resources",
                                     f"a session may hold {self.limits.max_subscriptions_per_session} subscriptions",
                                     datastore=spec.is_datastore)
        if len(self._table) >= self.limits.max_subscriptions:
            raise subscription_error("establish-subscription", "insufficient-resources",
                                     f"this publisher serves at most {self.limits.max_subscriptions} subscriptions",
                                     datastore=spec.is_datastore)
        if spec.encoding.value != "encode-xml":
            raise subscription_error("establish-subscription", "encoding-unsupported",
                                     "a NETCONF session carries XML notifications only (RFC 8640)",
                                     datastore=spec.is_datastore)
        agent_receiver = parse_agent_receiver(operation) or self._dynamic_receiver
        plan = self._plan(spec, "establish-subscription")
        self._placement.check_dynamic(spec, plan, agent_receiver, "establish-subscription")
        spec = replace(spec, id=self._table.next_id())
        delivery = Delivery(spec.id, SessionEmitter(ctx.session), ctx.principal, (session_receiver(session_id),),
                            self._gate, self._observers)
        subscription = Subscription(spec, delivery, ctx.principal, session_id, agent_receiver=agent_receiver)
        self._placement.assign(subscription, plan)
        subscription.announced = list(subscription.generators)
        self._table.add(subscription)
        self._placement.start(subscription)
        log.info("established", extra={"fields": {"id": spec.id, "session-id": session_id,
                                                  "generators": ",".join(subscription.generators)}})
        return self._id_reply(ctx, subscription)

    def _plan(self, spec: SubscriptionSpec, rpc: str, failed: dict[str, str] | None = None) -> Decomposition:
        try:
            return self._placement.plan_for(spec, failed or {})
        except FilterUnsupported as error:
            raise subscription_error(rpc, "filter-unsupported", error.error_message, datastore=spec.is_datastore,
                                     filter_hint=error.hint) from None

    def _id_reply(self, ctx: RpcContext, subscription: Subscription) -> list[etree._Element]:
        id_leaf = etree.Element(qn(SN, "id"), nsmap={None: SN})
        id_leaf.text = str(subscription.id)
        return [id_leaf, *self._generator_leaves(ctx, subscription)]

    def _generator_leaves(self, ctx: RpcContext, subscription: Subscription) -> Sequence[etree._Element]:
        holder = etree.Element("holder")
        add_generators(holder, self._gate.generators(ctx.principal, subscription.id, subscription.generators))
        return list(holder)

    def _owned(self, ctx: RpcContext, rpc: str, operation: etree._Element, namespace: str = SN) -> Subscription:
        raw = (operation.findtext(qn(namespace, "id")) or "").strip()
        subscription = self._table.get(int(raw)) if raw.isdigit() else None
        if subscription is None or subscription.session_id != ctx.principal.session_id:
            datastore = subscription.spec.is_datastore if subscription else False
            raise subscription_error(rpc, "no-such-subscription", f"no subscription {raw!r} of this session",
                                     datastore=datastore)
        ctx.access.datastore = _datastore_name(subscription.spec.datastore)
        return subscription

    async def modify(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        subscription = self._owned(ctx, "modify-subscription", operation)
        params = {c.tag for c in operation if isinstance(c.tag, str)}
        request = parse_request("modify-subscription", operation, subscription.id, self.limits,
                                extra_children={qn(SN, "id")})
        spec = anchored(merge_modify(subscription.spec, request, params))
        plan = self._plan(spec, "modify-subscription", subscription.failed)
        self._placement.check_dynamic(spec, plan, subscription.agent_receiver, "modify-subscription")
        self._placement.reshape(subscription, spec, plan, "modify-subscription")
        return self._generator_leaves(ctx, subscription) or None

    async def delete(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        subscription = self._owned(ctx, "delete-subscription", operation)
        self._placement.remove(subscription, "delete-subscription")
        return None

    async def kill(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        raw = (operation.findtext(qn(SN, "id")) or "").strip()
        subscription = self._table.get(int(raw)) if raw.isdigit() else None
        if subscription is None or not subscription.dynamic:
            raise subscription_error("kill-subscription", "no-such-subscription",
                                     f"no dynamic subscription {raw!r}", datastore=False)
        ctx.access.datastore = _datastore_name(subscription.spec.datastore)
        subscription.state(state_notification("subscription-terminated", subscription.id,
                                              reason="sn:no-such-subscription"), self._now())
        self._placement.remove(subscription, f"killed by session {ctx.principal.session_id}")
        return None

    async def resync(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        raw = (operation.findtext(qn(YP, "id")) or "").strip()
        subscription = self._table.get(int(raw)) if raw.isdigit() else None
        if (subscription is None or subscription.session_id != ctx.principal.session_id or subscription.job is None
                or not isinstance(subscription.spec.trigger, OnChange)):
            raise subscription_error("resync-subscription", "no-such-subscription-resync",
                                     f"no on-change subscription {raw!r} of this session", datastore=True)
        ctx.access.datastore = _datastore_name(subscription.spec.datastore)
        subscription.job.resync()
        return None

    def session_closed(self, session_id: int) -> None:
        """Dynamic subscriptions end with their session (RFC 8639 §2.4)."""
        for subscription in self._table.of_session(session_id):
            self._placement.remove(subscription, "session closed")
