"""Reading ``establish-subscription`` / ``modify-subscription`` input into a ``SubscriptionSpec``,
and the RFC 8639/8641 errors that refuse one.

Errors carry the identity as error-app-tag (``ietf-yang-push:period-unsupported``), the
error-tag RFC 8640 maps it to, and the ``*-error-info`` structure with hints where the RFCs
offer them (``period-hint``, ``filter-failure-hint``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from ipaddress import ip_address
from typing import Protocol

from lxml import etree

from mso.date_and_time import parse_datetime
from mso.filter_limits import check_subscription_subtree, check_subscription_xpath
from mso.filters import FilterError
from mso.namespaces import (DATASTORES, DISTRIBUTED_EXPORT, SUBSCRIBED_NOTIFICATIONS, UDP_NOTIF_TRANSPORT,
                            YANG_PUSH, qn)
from mso.rpc_error import RpcError, info_element
from mso.subscription_model import AgentReceiver, Encoding, FilterSpec, OnChange, Periodic, Receiver, SubscriptionSpec
from server.event_stream import STREAM_NAMES

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH

# RFC 8640 §5 / RFC 8641 §5: identity → error-tag
_ERROR_TAGS = {
    "dscp-unavailable": "invalid-value",
    "encoding-unsupported": "invalid-value",
    "filter-unsupported": "invalid-value",
    "insufficient-resources": "resource-denied",
    "no-such-subscription": "invalid-value",
    "replay-unsupported": "operation-not-supported",
    "stream-unavailable": "invalid-value",
    "cant-exclude": "operation-not-supported",
    "datastore-not-subscribable": "invalid-value",
    "no-such-subscription-resync": "invalid-value",
    "on-change-unsupported": "operation-not-supported",
    "on-change-sync-unsupported": "operation-not-supported",
    "period-unsupported": "invalid-value",
    "update-too-big": "too-big",
    "sync-too-big": "too-big",
    "unchanging-selection": "operation-failed",
    "no-agent-receiver": "invalid-value",
    "no-agent-receiver-to-modify": "invalid-value",
}
_YANG_PUSH_IDENTITIES = {"cant-exclude", "datastore-not-subscribable", "no-such-subscription-resync",
                         "on-change-unsupported", "on-change-sync-unsupported", "period-unsupported",
                         "update-too-big", "sync-too-big", "unchanging-selection"}
_DISTRIBUTED_EXPORT_IDENTITIES = {"no-agent-receiver", "no-agent-receiver-to-modify"}
SUBSCRIBABLE_DATASTORES = ("ds:running", "ds:operational")
_DATASTORE_FILTERS = {qn(YP, n) for n in ("datastore-subtree-filter", "datastore-xpath-filter", "selection-filter-ref")}
_TRIGGERS = {qn(YP, "periodic"), qn(YP, "on-change")}
YANG_PATCH_OPERATIONS = ("create", "delete", "insert", "move", "replace")


@dataclass(frozen=True)
class Limits:
    """What this publisher accepts (hints quote them back)."""

    min_period_cs: int = 1
    max_subscriptions_per_session: int = 1000
    max_subscriptions: int = 100_000  # dynamic and configured together


def subscription_error(rpc: str, identity: str, message: str, *, datastore: bool,
                       period_hint: int | None = None, filter_hint: str | None = None) -> RpcError:
    """An rpc-error for ``rpc`` ("establish-subscription", "modify-subscription",
    "delete-subscription", "resync-subscription") refused for ``identity``."""
    if identity in _YANG_PUSH_IDENTITIES:
        module, namespace = "ietf-yang-push", YP
    elif identity in _DISTRIBUTED_EXPORT_IDENTITIES:
        module, namespace = "mso-distributed-export", DISTRIBUTED_EXPORT
    else:
        module, namespace = "ietf-subscribed-notifications", SN
    info = _error_info(rpc, identity, module, namespace, datastore, period_hint, filter_hint)
    return RpcError(_ERROR_TAGS[identity], message, type="application", app_tag=f"{module}:{identity}", info=[info])


def _error_info(rpc: str, identity: str, module: str, namespace: str, datastore: bool,
                period_hint: int | None, filter_hint: str | None) -> etree._Element:
    if rpc in ("delete-subscription", "kill-subscription"):
        container, container_ns = "delete-subscription-error-info", SN
    elif rpc == "resync-subscription":
        container, container_ns = "resync-subscription-error", YP
    else:
        container_ns = YP if datastore else SN
        container = f"{rpc}-{'datastore' if datastore else 'stream'}-error-info"
    prefix = {YP: "yp", SN: "sn"}.get(namespace, "mso-dx")
    info = etree.Element(qn(container_ns, container), nsmap={None: container_ns, prefix: namespace})
    etree.SubElement(info, qn(container_ns, "reason")).text = f"{prefix}:{identity}"
    if period_hint is not None and container_ns == YP:
        etree.SubElement(info, qn(YP, "period-hint")).text = str(period_hint)
    if filter_hint is not None:
        etree.SubElement(info, qn(container_ns, "filter-failure-hint")).text = filter_hint
    return info


def _children(element: etree._Element) -> dict[str, etree._Element]:
    return {c.tag: c for c in element if isinstance(c.tag, str)}


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _identity(element: etree._Element, namespace: str, prefix: str) -> str:
    """An identityref value as ``prefix:name`` when it names an identity of ``namespace``."""
    raw = _text(element)
    declared, _, name = raw.rpartition(":")
    if element.nsmap.get(declared or None) != namespace:
        return raw  # unknown module: callers reject it
    return f"{prefix}:{name}"


def _date_time(element: etree._Element) -> datetime:
    raw = _text(element)
    try:
        return parse_datetime(raw)
    except ValueError:
        raise RpcError("invalid-value", f"{etree.QName(element).localname}: not a date-and-time: {raw!r}",
                       info=[info_element("bad-element", etree.QName(element).localname)]) from None


def _uint(element: etree._Element) -> int:
    raw = _text(element)
    if not raw.isdigit():
        name = etree.QName(element).localname
        raise RpcError("invalid-value", f"{name} must be a non-negative integer", info=[info_element("bad-element", name)])
    return int(raw)


_KNOWN_INPUT = {
    qn(SN, n) for n in ("stream", "stream-filter-name", "stream-subtree-filter", "stream-xpath-filter",
                        "replay-start-time", "stop-time", "dscp", "weighting", "dependency", "encoding", "id")
} | {qn(YP, n) for n in ("datastore", "datastore-subtree-filter", "datastore-xpath-filter", "selection-filter-ref",
                         "periodic", "on-change")}


def parse_request(rpc_name: str, operation: etree._Element, subscription_id: int, limits: Limits,
                  extra_children: Collection[str] = ()) -> SubscriptionSpec:
    """The spec an establish/modify request asks for (modify: only the fields it carries are set;
    ``merge_modify`` applies them to the existing spec)."""
    params = _children(operation)
    for tag in params:
        if tag not in _KNOWN_INPUT and tag not in extra_children:
            local = etree.QName(tag).localname
            raise RpcError("unknown-element", f"unexpected parameter <{local}>", type="protocol",
                           info=[info_element("bad-element", local)])
    datastore_target = qn(YP, "datastore") in params
    datastore_request = datastore_target or any(tag.startswith(f"{{{YP}}}") for tag in params)
    error = _errors_for(rpc_name, datastore_request)
    for name in ("weighting", "dependency"):
        if qn(SN, name) in params:
            raise RpcError("operation-not-supported", f"{name} needs the qos feature, which this publisher lacks",
                           type="protocol", info=[info_element("bad-element", name)])
    if qn(SN, "dscp") in params:
        raise error("dscp-unavailable", "this publisher does not mark notifications with DSCP")
    if qn(SN, "replay-start-time") in params:
        raise error("replay-unsupported", "this publisher keeps no replay buffer")
    if not datastore_target and any(tag in params for tag in _DATASTORE_FILTERS):
        raise RpcError("missing-element", "a datastore filter comes with its <datastore> (RFC 8641 datastore-criteria)",
                       type="protocol", info=[info_element("bad-element", "datastore")])
    spec = SubscriptionSpec(id=subscription_id)
    if datastore_target:
        spec = replace(spec, datastore=_datastore(params[qn(YP, "datastore")], error),
                       filter=_filter(params, YP, "datastore", error))
    elif qn(SN, "stream") in params:
        stream = _text(params[qn(SN, "stream")])
        if stream not in STREAM_NAMES:
            raise error("stream-unavailable", f"no event stream {stream!r} (this publisher has {', '.join(STREAM_NAMES)})")
        spec = replace(spec, stream=stream, filter=_filter(params, SN, "stream", error))
    elif rpc_name == "establish-subscription":
        raise RpcError("missing-element", "a subscription needs a target: a stream or a datastore", type="protocol",
                       info=[info_element("bad-element", "target")])
    else:  # modify-subscription's stream case names no stream: it cannot change
        spec = replace(spec, filter=_filter(params, SN, "stream", error))
    if (datastore_target and rpc_name == "establish-subscription") or any(tag in params for tag in _TRIGGERS):
        spec = replace(spec, trigger=_trigger(params, limits, error))
    if qn(SN, "stop-time") in params:
        spec = replace(spec, stop_time=_date_time(params[qn(SN, "stop-time")]))
    if qn(SN, "encoding") in params:
        spec = replace(spec, encoding=_encoding(params[qn(SN, "encoding")], error))
    return spec


class ErrorFactory(Protocol):
    def __call__(self, identity: str, message: str, *, period_hint: int | None = None,
                 filter_hint: str | None = None) -> RpcError: ...


def _errors_for(rpc_name: str, datastore: bool) -> ErrorFactory:
    """Errors of one RPC against one kind of target (the error-info container depends on both)."""

    def error(identity: str, message: str, *, period_hint: int | None = None, filter_hint: str | None = None) -> RpcError:
        return subscription_error(rpc_name, identity, message, datastore=datastore,
                                  period_hint=period_hint, filter_hint=filter_hint)

    return error


def _datastore(element: etree._Element, error: ErrorFactory) -> str:
    name = _identity(element, DATASTORES, "ds")
    if name not in SUBSCRIBABLE_DATASTORES:
        raise error("datastore-not-subscribable", f"datastore {name!r} cannot be subscribed to "
                                                  f"(subscribable: {', '.join(SUBSCRIBABLE_DATASTORES)})")
    return name


def _filter(params: dict[str, etree._Element], namespace: str, kind: str, error: ErrorFactory) -> FilterSpec | None:
    subtree = params.get(qn(namespace, f"{kind}-subtree-filter"))
    xpath = params.get(qn(namespace, f"{kind}-xpath-filter"))
    if params.get(qn(namespace, f"{kind}-filter-name")) is not None or params.get(qn(YP, "selection-filter-ref")) is not None:
        raise error("filter-unsupported", "named filters are not supported", filter_hint="give the filter inline")
    if subtree is not None:
        children = [c for c in subtree if isinstance(c.tag, str)]
        try:
            check_subscription_subtree(children)
        except FilterError as failure:
            raise error("filter-unsupported", str(failure), filter_hint=str(failure)) from None
        return FilterSpec("subtree", subtree_xml=b"".join(etree.tostring(c) for c in children))
    if xpath is not None:
        namespaces = tuple(sorted((p, ns) for p, ns in xpath.nsmap.items() if p))
        expression = _text(xpath)
        try:
            check_subscription_xpath(expression, dict(namespaces))
        except FilterError as failure:
            raise error("filter-unsupported", str(failure), filter_hint=str(failure)) from None
        return FilterSpec("xpath", xpath=expression, namespaces=namespaces)
    return None


def _trigger(params: dict[str, etree._Element], limits: Limits, error: ErrorFactory) -> Periodic | OnChange:
    periodic, on_change = params.get(qn(YP, "periodic")), params.get(qn(YP, "on-change"))
    if periodic is not None:
        return _periodic(periodic, limits, error)
    if on_change is not None:
        return _on_change(on_change, error)
    raise RpcError("missing-element", "a datastore subscription needs periodic or on-change", type="protocol",
                   info=[info_element("bad-element", "update-trigger")])


def _periodic(element: etree._Element, limits: Limits, error: ErrorFactory) -> Periodic:
    fields = _children(element)
    if qn(YP, "period") not in fields:
        raise RpcError("missing-element", "periodic needs a period", type="protocol", info=[info_element("bad-element", "period")])
    period = _uint(fields[qn(YP, "period")])
    if period < limits.min_period_cs:
        raise error("period-unsupported", f"period {period} cs is shorter than this publisher supports",
                    period_hint=limits.min_period_cs)
    anchor = fields.get(qn(YP, "anchor-time"))
    return Periodic(period, _date_time(anchor) if anchor is not None else None)


def _on_change(element: etree._Element, error: ErrorFactory) -> OnChange:
    fields = _children(element)
    dampening = _uint(fields[qn(YP, "dampening-period")]) if qn(YP, "dampening-period") in fields else 0
    sync = _text(fields[qn(YP, "sync-on-start")]) != "false" if qn(YP, "sync-on-start") in fields else True
    excluded = tuple(_text(e) for e in element.iterchildren(qn(YP, "excluded-change")))
    unknown = [op for op in excluded if op not in YANG_PATCH_OPERATIONS]
    if unknown:
        raise error("cant-exclude", f"unknown change type(s): {', '.join(unknown)}")
    return OnChange(dampening, sync, excluded)


def _encoding(element: etree._Element, error: ErrorFactory) -> Encoding:
    value = _text(element)
    local = value.rpartition(":")[2]
    if element.nsmap.get(value.rpartition(":")[0] or None) == SN and local in ("encode-xml", "encode-json"):
        return Encoding(local)
    raise error("encoding-unsupported", f"encoding {value!r} is not supported")


def merge_modify(current: SubscriptionSpec, request: SubscriptionSpec, params: Collection[str]) -> SubscriptionSpec:
    """Apply a modify-subscription request: what it carries replaces what the subscription has."""
    updated = current
    if request.datastore is not None and request.datastore != current.datastore:
        raise subscription_error("modify-subscription", "datastore-not-subscribable",
                                 "modify-subscription cannot change the datastore", datastore=True)
    if request.filter is not None:
        stream_filter = not request.is_datastore
        if stream_filter != (current.stream is not None):
            kind = "an event stream" if stream_filter else "a datastore"
            raise RpcError("invalid-value", f"modify-subscription cannot give {kind} filter to this subscription",
                           info=[info_element("bad-element", "target")])
        updated = replace(updated, filter=request.filter)
    if request.trigger is not None:
        if current.trigger is None:
            raise RpcError("invalid-value", "an event-stream subscription has no update trigger to modify",
                           info=[info_element("bad-element", "update-trigger")])
        if type(request.trigger) is not type(current.trigger):
            raise RpcError("invalid-value", "modify-subscription cannot switch between periodic and on-change",
                           info=[info_element("bad-element", "update-trigger")])
        updated = replace(updated, trigger=request.trigger)
    if qn(SN, "stop-time") in params:
        updated = replace(updated, stop_time=request.stop_time)
    return updated


AGENT_RECEIVER = qn(DISTRIBUTED_EXPORT, "agent-receiver")


def parse_agent_receiver(operation: etree._Element) -> AgentReceiver | None:
    """The ``mso-dx:agent-receiver`` of an establish-subscription, if it has one."""
    element = operation.find(AGENT_RECEIVER)
    if element is None:
        return None
    address = _agent_receiver_leaf(element, "address")
    port = _agent_receiver_leaf(element, "port")
    try:
        ip_address(address)
    except ValueError:
        raise _bad_agent_receiver("address", f"{address!r} is not an IP address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad_agent_receiver("port", f"{port!r} is not a UDP port (1..65535)")
    encoding = Encoding.JSON
    encoding_leaf = element.find(qn(DISTRIBUTED_EXPORT, "encoding"))
    if encoding_leaf is not None:
        encoding = _agent_encoding(encoding_leaf)
    return AgentReceiver(Receiver("agent-receiver", address, int(port)), encoding)


def _agent_receiver_leaf(element: etree._Element, name: str) -> str:
    leaf = element.find(qn(DISTRIBUTED_EXPORT, name))
    if leaf is None or not _text(leaf):
        raise RpcError("missing-element", f"agent-receiver needs <{name}>", type="protocol",
                       info=[info_element("bad-element", name)])
    return _text(leaf)


def _bad_agent_receiver(name: str, message: str) -> RpcError:
    return RpcError("invalid-value", f"agent-receiver: {message}", type="application",
                    info=[info_element("bad-element", name)])


def _agent_encoding(leaf: etree._Element) -> Encoding:
    declared, _, local = _text(leaf).rpartition(":")
    namespace = leaf.nsmap.get(declared or None)
    if (namespace == SN and local in ("encode-xml", "encode-json")) or (namespace == UDP_NOTIF_TRANSPORT and local == "encode-cbor"):
        return Encoding(local)
    raise _bad_agent_receiver("encoding", f"encoding {_text(leaf)!r} is not sn:encode-json, sn:encode-xml or encode-cbor")
