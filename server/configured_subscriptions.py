"""Configured subscriptions (RFC 8639 §2.5) as the running datastore holds them.

A configured subscription lives in running under /sn:subscriptions/sn:subscription; each of its
receivers names a receiver instance (/sn:subscriptions/snr:receiver-instances, from
ietf-subscribed-notif-receivers), and the instance's transport case says how to reach it. mso
delivers configured subscriptions over UDP-Notif (ietf-udp-notif-transport), so a receiver
becomes a `Receiver` with the instance's address, port and segmentation settings.

Reading is pure: `configured_subscriptions` turns a running <data> tree into
`SubscriptionSpec`s and `diff` says what changed between two readings, so the subscription
service can start, stop and restart exactly those. The tree is expected to have passed
`Schema.validate_config`; what validation cannot see (the Master's own rules) or a tree that
skipped it raises `ConfigError` with the NETCONF error-tag to report.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from mso import namespaces as ns
from mso.date_and_time import parse_datetime
from mso.filter_limits import check_subscription_subtree, check_subscription_xpath
from mso.filters import FilterError, bound_prefixes
from mso.instance_path import xpath_literal
from mso.schema import ValidationError
from mso.subscription_model import (
    Encoding,
    FilterSpec,
    OnChange,
    Periodic,
    Receiver,
    SubscriptionSpec,
)

SN = ns.SUBSCRIBED_NOTIFICATIONS
YP = ns.YANG_PUSH
SNR = ns.SUBSCRIBED_NOTIF_RECEIVERS
UNT = ns.UDP_NOTIF_TRANSPORT

_ENCODINGS = {
    (SN, "encode-xml"): Encoding.XML,
    (SN, "encode-json"): Encoding.JSON,
    (UNT, "encode-cbor"): Encoding.CBOR,
}
ENCODING_UNSUPPORTED = "ietf-subscribed-notifications:encoding-unsupported"



class ConfigError(ValidationError):
    """A configured subscription the Master cannot run, with what an <rpc-error> needs.

    `error_path` is an XPath with the modules' prefixes (sn, yp, snr), as in
    `mso.schema.ValidationError`.
    """


def configured_subscriptions(running: etree._Element) -> list[SubscriptionSpec]:
    """Every /sn:subscriptions/sn:subscription in the running <data> tree, in document order.

    Each becomes a SubscriptionSpec(configured=True) whose receivers carry the address, port
    and segmentation settings of their UDP-Notif receiver instance. A subscription with a
    receiver whose instance uses another transport is not one the Master delivers and is left
    out; one without receivers is kept (RFC 8639 §2.5.1: valid, but inactive until it has one).
    Raises ConfigError for a reference that does not resolve (receiver instance, named filter)
    or a datastore subscription with neither yp:periodic nor yp:on-change.
    """
    container = running.find(ns.qn(SN, "subscriptions"))
    if container is None:
        return []
    instances = _receiver_instances(container)
    filters = running.find(ns.qn(SN, "filters"))
    specs = []
    for entry in container.iterchildren(ns.qn(SN, "subscription")):
        spec = _subscription(entry, instances, filters)
        if spec is not None:
            specs.append(spec)
    return specs


def diff(
    old: Sequence[SubscriptionSpec], new: Sequence[SubscriptionSpec]
) -> tuple[list[SubscriptionSpec], list[SubscriptionSpec], list[SubscriptionSpec]]:
    """(added, removed, modified) between two readings, matched by subscription id.

    `added` and `modified` hold specs from `new`, `removed` specs from `old`; a spec present in
    both with any field changed is modified.
    """
    old_by_id = {spec.id: spec for spec in old}
    new_ids = {spec.id for spec in new}
    added = [spec for spec in new if spec.id not in old_by_id]
    removed = [spec for spec in old if spec.id not in new_ids]
    modified = [spec for spec in new if spec.id in old_by_id and old_by_id[spec.id] != spec]
    return added, removed, modified


# ---- receivers -------------------------------------------------------------------------------


def _receiver_instances(container: etree._Element) -> dict[str, Receiver | None]:
    """Receiver instance name -> its UDP-Notif destination, or None for another transport.

    The Receiver's name is the instance's; `_receivers` renames it to the subscription's
    receiver.
    """
    instances: dict[str, Receiver | None] = {}
    for instance in container.iterfind(f"{{{SNR}}}receiver-instances/{{{SNR}}}receiver-instance"):
        name = _text(instance, SNR, "name")
        udp = instance.find(ns.qn(UNT, "udp-notif-receiver"))
        instances[name] = None if udp is None else _udp_receiver(name, udp)
    return instances


def _udp_receiver(name: str, udp: etree._Element) -> Receiver:
    max_segment_size = udp.findtext(ns.qn(UNT, "max-segment-size"))
    return Receiver(
        name=name,
        address=_text(udp, UNT, "remote-address"),
        port=int(_text(udp, UNT, "remote-port")),
        enable_segmentation=udp.findtext(ns.qn(UNT, "enable-segmentation"), "true").strip() == "true",
        max_segment_size=None if max_segment_size is None else int(max_segment_size),
    )


def _receivers(
    entry: etree._Element, instances: dict[str, Receiver | None], path: str
) -> tuple[Receiver, ...] | None:
    """The subscription's UDP-Notif receivers; None when one of them uses another transport."""
    receivers = []
    for receiver in entry.iterfind(f"{{{SN}}}receivers/{{{SN}}}receiver"):
        name = _text(receiver, SN, "name")
        receiver_path = f"{path}/sn:receivers/sn:receiver[sn:name={xpath_literal(name)}]"
        ref = receiver.findtext(ns.qn(SNR, "receiver-instance-ref"))
        if ref is None:
            raise ConfigError(
                "data-missing",
                f"receiver {name!r} names no receiver instance",
                f"{receiver_path}/snr:receiver-instance-ref",
            )
        ref = ref.strip()
        if ref not in instances:
            raise ConfigError(
                "data-missing",
                f"receiver {name!r} refers to receiver instance {ref!r}, which does not exist",
                f"{receiver_path}/snr:receiver-instance-ref",
                "instance-required",  # RFC 7950 §15.5: leafref without its instance
            )
        udp = instances[ref]
        if udp is None:
            return None
        receivers.append(Receiver(name, udp.address, udp.port, udp.enable_segmentation, udp.max_segment_size))
    return tuple(receivers)


# ---- one subscription ----------------------------------------------------------------------


def _subscription(
    entry: etree._Element, instances: dict[str, Receiver | None], filters: etree._Element | None
) -> SubscriptionSpec | None:
    sub_id = int(_text(entry, SN, "id"))
    path = f"/sn:subscriptions/sn:subscription[sn:id='{sub_id}']"
    receivers = _receivers(entry, instances, path)
    if receivers is None:
        return None
    stop_time = entry.findtext(ns.qn(SN, "stop-time"))
    common = {
        "id": sub_id,
        "encoding": _encoding(entry, path),
        "stop_time": None if stop_time is None else parse_datetime(stop_time),
        "configured": True,
        "receivers": receivers,
    }
    datastore = entry.find(ns.qn(YP, "datastore"))
    if datastore is None:
        return SubscriptionSpec(
            stream=_text(entry, SN, "stream"), filter=_stream_filter(entry, filters, path), **common
        )
    return SubscriptionSpec(
        datastore=_datastore(datastore, path),
        filter=_datastore_filter(entry, filters, path),
        trigger=_trigger(entry, path),
        **common,
    )


def _encoding(entry: etree._Element, path: str) -> Encoding:
    """The configured encoding; without one, the SubscriptionSpec default (XML).

    RFC 8639 leaves an unconfigured encoding to the transport's default, and UDP-Notif names
    none, so the Master uses XML, the encoding every RFC 8639 publisher supports.
    """
    element = entry.find(ns.qn(SN, "encoding"))
    if element is None:
        return Encoding.XML
    identity = _identity(element)
    if identity not in _ENCODINGS:
        raise ConfigError(
            "invalid-value",
            f"encoding {element.text.strip()!r} is not supported",
            f"{path}/sn:encoding",
            ENCODING_UNSUPPORTED,
        )
    return _ENCODINGS[identity]


def _datastore(element: etree._Element, path: str) -> str:
    """The yp:datastore identity in the canonical "ds:<name>" spelling."""
    namespace, name = _identity(element)
    if namespace != ns.DATASTORES:
        raise ConfigError("invalid-value", f"{element.text.strip()!r} is not a datastore", f"{path}/yp:datastore")
    return f"ds:{name}"


def _trigger(entry: etree._Element, path: str) -> Periodic | OnChange:
    periodic = entry.find(ns.qn(YP, "periodic"))
    if periodic is not None:
        anchor = periodic.findtext(ns.qn(YP, "anchor-time"))
        return Periodic(
            period_cs=int(_text(periodic, YP, "period")),
            anchor_time=None if anchor is None else parse_datetime(anchor),
        )
    on_change = entry.find(ns.qn(YP, "on-change"))
    if on_change is not None:
        return OnChange(
            dampening_cs=int(on_change.findtext(ns.qn(YP, "dampening-period"), "0")),
            sync_on_start=on_change.findtext(ns.qn(YP, "sync-on-start"), "true").strip() == "true",
            excluded_changes=tuple(c.text.strip() for c in on_change.iterchildren(ns.qn(YP, "excluded-change"))),
        )
    raise ConfigError(
        "data-missing",
        "a datastore subscription needs yp:periodic or yp:on-change",
        path,
        "missing-choice",  # RFC 7950 §15.6; RFC 8641 makes the update trigger a choice
    )


# ---- filters ---------------------------------------------------------------------------------


def _stream_filter(
    entry: etree._Element, filters: etree._Element | None, path: str
) -> FilterSpec | None:
    """sn:stream-subtree-filter, sn:stream-xpath-filter, or the named sn:stream-filter."""
    name = entry.findtext(ns.qn(SN, "stream-filter-name"))
    if name is None:
        return _inline_filter(entry, ns.qn(SN, "stream-subtree-filter"), ns.qn(SN, "stream-xpath-filter"), path)
    named = _named_filter(filters, SN, "stream-filter", "name", name.strip(), f"{path}/sn:stream-filter-name")
    return _inline_filter(named, ns.qn(SN, "stream-subtree-filter"), ns.qn(SN, "stream-xpath-filter"), path)


def _datastore_filter(
    entry: etree._Element, filters: etree._Element | None, path: str
) -> FilterSpec | None:
    """yp:datastore-subtree-filter, yp:datastore-xpath-filter, or the named yp:selection-filter."""
    subtree, xpath = ns.qn(YP, "datastore-subtree-filter"), ns.qn(YP, "datastore-xpath-filter")
    ref = entry.findtext(ns.qn(YP, "selection-filter-ref"))
    if ref is None:
        return _inline_filter(entry, subtree, xpath, path)
    named = _named_filter(filters, YP, "selection-filter", "filter-id", ref.strip(), f"{path}/yp:selection-filter-ref")
    return _inline_filter(named, subtree, xpath, path)


def _named_filter(
    filters: etree._Element | None, namespace: str, tag: str, key: str, value: str, ref_path: str
) -> etree._Element:
    """The /sn:filters entry a subscription refers to by name."""
    for candidate in () if filters is None else filters.iterchildren(ns.qn(namespace, tag)):
        if candidate.findtext(ns.qn(namespace, key), "").strip() == value:
            return candidate
    raise ConfigError(
        "data-missing", f"filter {value!r} does not exist", ref_path, "instance-required"
    )


def _inline_filter(holder: etree._Element, subtree_tag: str, xpath_tag: str, path: str) -> FilterSpec | None:
    """The filter ``holder`` gives, checked as a dynamic subscription's would be (``path``: the
    subscription's, for the error)."""
    subtree = holder.find(subtree_tag)
    xpath = holder.find(xpath_tag)
    try:
        if subtree is not None:
            nodes = [c for c in subtree if isinstance(c.tag, str)]
            check_subscription_subtree(nodes)
            return FilterSpec(kind="subtree", subtree_xml=b"".join(etree.tostring(c, with_tail=False) for c in nodes))
        if xpath is not None:
            expression = (xpath.text or "").strip()
            namespaces = bound_prefixes(expression, xpath.nsmap)
            check_subscription_xpath(expression, dict(namespaces))
            return FilterSpec(kind="xpath", xpath=expression, namespaces=namespaces)
    except FilterError as error:
        raise ConfigError("invalid-value", f"filter: {error.error_message}", path) from None
    return None


# ---- values ------------------------------------------------------------------------------------


def _identity(element: etree._Element) -> tuple[str | None, str]:
    """(namespace, name) of an identityref value; its prefix is resolved in the element's scope.

    Without a prefix the value is in the element's default namespace (RFC 7950 §9.10.3).
    """
    prefix, _, name = (element.text or "").strip().rpartition(":")
    return element.nsmap.get(prefix or None), name


def _text(element: etree._Element, namespace: str, tag: str) -> str:
    """A mandatory child's text; a tree without it did not pass validation."""
    child = element.find(ns.qn(namespace, tag))
    if child is None or child.text is None:
        raise ConfigError("data-missing", f"{etree.QName(element).localname} has no {tag}")
    return child.text.strip()
