"""A subscription as XML: the parameters state notifications repeat (RFC 8639 §2.7) and the
``/sn:subscriptions`` and ``/sn:streams`` operational data (RFC 8639 §3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from lxml import etree

from mso.date_and_time import format_datetime, format_epoch
from mso.generators import MASTER_GENERATOR
from mso.namespaces import (
    DATASTORES,
    DISTRIBUTED_EXPORT,
    DISTRIBUTED_NOTIF,
    MSO,
    SUBSCRIBED_NOTIFICATIONS,
    YANG_PUSH,
    qn,
)
from mso.subscription_model import OnChange, Periodic, SubscriptionSpec
from mso.xml_parsing import parse_xml
from server.subscription_table import Subscription

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
REASON_NAMESPACES = {"sn": SN, "mso-dx": DISTRIBUTED_EXPORT}  # modules whose identities are reasons here


def _leaf(parent: etree._Element, namespace: str, name: str, text: str, declare: dict[str, str] | None = None) -> etree._Element:
    """A leaf; ``declare`` binds the prefixes an identity value uses on the leaf itself."""
    leaf = etree.SubElement(parent, qn(namespace, name), nsmap=declare)
    leaf.text = text
    return leaf


def add_policy(parent: etree._Element, spec: SubscriptionSpec) -> None:
    """Target, filter, stop-time, encoding and trigger, as in establish-subscription input."""
    if spec.datastore is not None:
        _leaf(parent, YP, "datastore", spec.datastore, {"ds": DATASTORES})
        _add_filter(parent, YP, "datastore", spec)
    elif spec.stream is not None:
        _leaf(parent, SN, "stream", spec.stream)
        _add_filter(parent, SN, "stream", spec)
    if spec.stop_time is not None:
        _leaf(parent, SN, "stop-time", format_datetime(spec.stop_time))
    _leaf(parent, SN, "encoding", f"sn:{spec.encoding.value}", {"sn": SN})
    _add_trigger(parent, spec)


def _add_filter(parent: etree._Element, namespace: str, kind: str, spec: SubscriptionSpec) -> None:
    selection = spec.filter
    if selection is None:
        return
    if selection.kind == "subtree":
        container = etree.SubElement(parent, qn(namespace, f"{kind}-subtree-filter"))
        container.extend(parse_xml(b"<f>" + selection.subtree_xml + b"</f>"))
    else:
        xpath = etree.SubElement(parent, qn(namespace, f"{kind}-xpath-filter"), nsmap=dict(selection.namespaces))
        xpath.text = selection.xpath


def _add_trigger(parent: etree._Element, spec: SubscriptionSpec) -> None:
    trigger = spec.trigger
    if isinstance(trigger, Periodic):
        periodic = etree.SubElement(parent, qn(YP, "periodic"))
        _leaf(periodic, YP, "period", str(trigger.period_cs))
        if trigger.anchor_time is not None:
            _leaf(periodic, YP, "anchor-time", format_datetime(trigger.anchor_time))
    elif isinstance(trigger, OnChange):
        on_change = etree.SubElement(parent, qn(YP, "on-change"))
        _leaf(on_change, YP, "dampening-period", str(trigger.dampening_cs))
        _leaf(on_change, YP, "sync-on-start", "true" if trigger.sync_on_start else "false")
        for change in trigger.excluded_changes:
            _leaf(on_change, YP, "excluded-change", change)


def add_generators(parent: etree._Element, generators: Sequence[str]) -> None:
    """The draft's ``message-generator-id`` leaf-list, in placement order (ordered-by user)."""
    for generator in generators:
        leaf = etree.SubElement(parent, qn(MSO, "message-generator-id"), nsmap={None: MSO})
        leaf.text = generator


def add_publishers(parent: etree._Element, generators: Sequence[str]) -> None:
    """The same originators as draft-ietf-netconf-distributed-notif's ``message-publisher-id``
    (a generator id is the decimal string of the UDP-notif publisher id)."""
    for generator in generators:
        leaf = etree.SubElement(parent, qn(DISTRIBUTED_NOTIF, "message-publisher-id"), nsmap={None: DISTRIBUTED_NOTIF})
        leaf.text = generator


def state_notification(name: str, subscription_id: int, *, spec: SubscriptionSpec | None = None,
                       generators: Sequence[str] = (), reason: str | None = None,
                       effective: float | None = None) -> etree._Element:
    """subscription-started/-modified (with policy and generators, and for a modified one the
    instant they serve from when it is later), -terminated/-suspended (with a reason
    identity), -resumed, -completed."""
    event = etree.Element(qn(SN, name), nsmap={None: SN, "sn": SN})
    _leaf(event, SN, "id", str(subscription_id))
    if spec is not None:
        add_policy(event, spec)
        add_generators(event, generators)
        add_publishers(event, generators)
    if effective is not None:
        _leaf(event, DISTRIBUTED_EXPORT, "effective-time", format_epoch(effective), {"mso-dx": DISTRIBUTED_EXPORT})
    if reason is not None:
        prefix = reason.partition(":")[0]
        _leaf(event, SN, "reason", reason, {prefix: REASON_NAMESPACES[prefix]} if prefix != "sn" else None)
    return event


def streams_element(streams: Iterable[tuple[str, str]]) -> etree._Element:
    element = etree.Element(qn(SN, "streams"), nsmap={None: SN})
    for name, description in streams:
        stream = etree.SubElement(element, qn(SN, "stream"))
        _leaf(stream, SN, "name", name)
        _leaf(stream, SN, "description", description)
    return element


SkippedTicks = Callable[[int], Mapping[str, int]]  # subscription id -> generator -> ticks its agents skipped


def subscriptions_element(subscriptions: Iterable[Subscription], skipped_by_agents: SkippedTicks = lambda _: {}
                          ) -> etree._Element:
    """``/sn:subscriptions`` in operational data: every subscription with its policy, its
    receivers' counters and state, its generator list, why the Master serves it whole when it
    does, and the ticks overload made its originators skip (mso-distributed-export)."""
    element = etree.Element(qn(SN, "subscriptions"), nsmap={None: SN})
    for subscription in sorted(subscriptions, key=lambda s: s.id):
        entry = etree.SubElement(element, qn(SN, "subscription"))
        _leaf(entry, SN, "id", str(subscription.id))
        add_policy(entry, subscription.spec)
        _add_receivers(entry, subscription)
        add_generators(entry, subscription.generators)
        add_publishers(entry, subscription.generators)
        if subscription.plan.whole:
            _leaf(entry, DISTRIBUTED_EXPORT, "served-whole", subscription.plan.whole, {"mso-dx": DISTRIBUTED_EXPORT})
        skipped = dict(skipped_by_agents(subscription.id))
        if subscription.job is not None and subscription.job.skipped_ticks:
            skipped[MASTER_GENERATOR] = subscription.job.skipped_ticks
        _add_skipped_ticks(entry, skipped)
    return element


def _add_skipped_ticks(entry: etree._Element, skipped: Mapping[str, int]) -> None:
    for generator in sorted(skipped, key=int):
        item = etree.SubElement(entry, qn(DISTRIBUTED_EXPORT, "skipped-ticks"), nsmap={"mso-dx": DISTRIBUTED_EXPORT})
        _leaf(item, DISTRIBUTED_EXPORT, "message-generator-id", generator)
        _leaf(item, DISTRIBUTED_EXPORT, "count", str(skipped[generator]))


def _add_receivers(entry: etree._Element, subscription: Subscription) -> None:
    delivery = subscription.delivery
    receivers = etree.SubElement(entry, qn(SN, "receivers"))
    for name in delivery.receivers:
        receiver = etree.SubElement(receivers, qn(SN, "receiver"))
        _leaf(receiver, SN, "name", name)
        _leaf(receiver, SN, "sent-event-records", str(delivery.sent))
        _leaf(receiver, SN, "excluded-event-records", str(delivery.excluded))
        _leaf(receiver, SN, "state", "suspended" if subscription.suspended else "active")
