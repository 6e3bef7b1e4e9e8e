"""What the collector knows of a subscription beyond what reassembly needs: its target, filter,
encoding, transport, purpose and trigger, as a telemetry message's ``yang-push-subscription``
reports them (draft-ietf-nmop-message-broker-telemetry-message, ietf-yang-push-telemetry-
message).

Read from the same RFC 7951 JSON as the generator lists (subscription-started/-modified and
``/sn:subscriptions`` entries), or from the collector's own establish request. Values keep the
RFC 7951 forms: identities qualified by module name, XPath prefixes by module name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SN_MODULE = "ietf-subscribed-notifications"
DATASTORES_MODULE = "ietf-datastores"
UDP_NOTIF_MODULE = "ietf-udp-notif-transport"  # defines encode-cbor and the udp-notif transport
UDP_NOTIF = f"{UDP_NOTIF_MODULE}:udp-notif"
ENCODE_XML = f"{SN_MODULE}:encode-xml"
ENCODE_JSON = f"{SN_MODULE}:encode-json"
_ENCODING_MODULES = {"encode-xml": SN_MODULE, "encode-json": SN_MODULE, "encode-cbor": UDP_NOTIF_MODULE}
# a prefix (an NCName followed by one colon, not by an axis' two) outside string literals
_PREFIX = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]*):(?!:)")
_LITERAL = re.compile(r"('[^']*'|\"[^\"]*\")")


@dataclass(frozen=True, slots=True)
class Periodic:
    period_cs: int
    anchor_time: str | None = None


@dataclass(frozen=True, slots=True)
class OnChange:
    dampening_cs: int = 0
    sync_on_start: bool = True


@dataclass(frozen=True, slots=True)
class SubscriptionFacts:
    datastore: str | None = None  # "ietf-datastores:operational"
    stream: str | None = None
    xpath_filter: str | None = None
    subtree_filter: Any = None  # RFC 7951 JSON of the subtree filter's content
    encoding: str | None = None  # "ietf-subscribed-notifications:encode-json"
    transport: str | None = None
    purpose: str | None = None
    trigger: Periodic | OnChange | None = None
    dynamic: bool = False  # established by this collector: the Master's share comes over NETCONF


def member(body: Mapping, name: str) -> object:
    """A member by local name, qualified (``module:name``) or not."""
    value = body.get(name)
    if value is not None:
        return value
    suffix = ":" + name
    for key, value in body.items():
        if key.endswith(suffix):
            return value
    return None


def facts_from_json(body: Mapping, base: SubscriptionFacts = SubscriptionFacts()) -> SubscriptionFacts:
    """The facts an entry or state notification states; what it does not state is ``base``'s."""
    changes: dict[str, Any] = {}
    datastore, stream = member(body, "datastore"), member(body, "stream")
    if isinstance(datastore, str):
        changes.update(datastore=datastore, stream=None)
    elif isinstance(stream, str):
        changes.update(stream=stream, datastore=None)
    for kind in ("datastore", "stream"):
        xpath, subtree = member(body, f"{kind}-xpath-filter"), member(body, f"{kind}-subtree-filter")
        if isinstance(xpath, str):
            changes.update(xpath_filter=xpath, subtree_filter=None)
        elif subtree is not None:
            changes.update(subtree_filter=subtree, xpath_filter=None)
    encoding = member(body, "encoding")
    if isinstance(encoding, str):
        changes["encoding"] = qualified_encoding(encoding)
    for name in ("transport", "purpose"):
        value = member(body, name)
        if isinstance(value, str):
            changes[name] = value
    trigger = _trigger(body)
    if trigger is not None:
        changes["trigger"] = trigger
    return replace(base, **changes)


def facts_from_request(datastore: str, selection: str, period_cs: int | None, anchor_time: str | None,
                       dampening_cs: int | None, modules: Mapping[str, str]) -> SubscriptionFacts:
    """The facts of an establish-subscription this collector sends (``--subscribe``); ``modules``
    maps the prefixes the selection may use (and module names) to module names."""
    prefix, _, name = datastore.rpartition(":")
    trigger: Periodic | OnChange = (Periodic(period_cs, anchor_time) if period_cs is not None
                                    else OnChange(dampening_cs or 0))
    facts = SubscriptionFacts(datastore=f"{modules.get(prefix, DATASTORES_MODULE)}:{name}", trigger=trigger,
                              dynamic=True)
    if selection.lstrip().startswith("<"):
        return facts  # a subtree filter is XML; its JSON form needs the schema, which the request lacks
    return replace(facts, xpath_filter=xpath_with_module_names(selection, modules))


def xpath_with_module_names(xpath: str, modules: Mapping[str, str]) -> str:
    """An XPath whose prefixes name modules, as RFC 7951 writes them: ``/if:interfaces`` ->
    ``/ietf-interfaces:interfaces``. Prefixes ``modules`` does not know are left as they are."""
    parts = _LITERAL.split(xpath)
    return "".join(part if index % 2 else _PREFIX.sub(lambda m: f"{modules.get(m[1], m[1])}:", part)
                   for index, part in enumerate(parts))


def qualified_encoding(encoding: str) -> str:
    """An encoding identity qualified by the module that defines it. The Master writes
    ``sn:encode-cbor``, but encode-cbor is ietf-udp-notif-transport's."""
    local = encoding.rpartition(":")[2]
    module = _ENCODING_MODULES.get(local)
    return f"{module}:{local}" if module else encoding


def _trigger(body: Mapping) -> Periodic | OnChange | None:
    periodic, on_change = member(body, "periodic"), member(body, "on-change")
    if isinstance(periodic, Mapping):
        period, anchor = periodic.get("period"), periodic.get("anchor-time")
        if isinstance(period, int) and not isinstance(period, bool):
            return Periodic(period, anchor if isinstance(anchor, str) else None)
    if isinstance(on_change, Mapping):
        dampening, sync = on_change.get("dampening-period", 0), on_change.get("sync-on-start", True)
        return OnChange(dampening if isinstance(dampening, int) else 0, sync if isinstance(sync, bool) else True)
    return None
