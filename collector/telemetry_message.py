"""A record as an ``ietf-telemetry-message:message`` (draft-ietf-nmop-message-broker-telemetry-
message-04), the shape Kafka-fed telemetry pipelines read: the device's manifest, the session
and subscription metadata, the collector's manifest, and the merged notification as payload.
What the draft has no place for, which generators the record was merged from, goes in
mso-telemetry-completeness's ``completeness``.

Pure: everything the message says is handed in. The result names nodes by local name;
``MessageSchema.encode`` qualifies and types it from the modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from collector.device_description import DeviceDescription
from collector.reassembly import PERIODIC, PUSH_CHANGE_UPDATE, PUSH_UPDATE, Record
from collector.subscription_facts import OnChange, Periodic, SubscriptionFacts
from mso.date_and_time import format_epoch

SESSION_PROTOCOL = "yang-push"
NOTIFICATION_EVENT = "log"  # forwarded as it arrived (merged, but not from a cache of the collector's)
UNSPECIFIED_ADDRESS = "0.0.0.0"  # export-address is mandatory; this when no source is known


@dataclass(frozen=True, slots=True)
class Provenance:
    """How one generator's pieces of a subscription reach the collector."""

    export: tuple[str, int] | None  # the address and port they are sent from
    collection: tuple[str, int | None] | None  # where the collector receives them
    transport: str | None  # an sn:transport identity; None over the NETCONF session
    encoding: str | None  # an sn:encoding identity


def build(record: Record, *, facts: SubscriptionFacts | None, provenance: Mapping[str, Provenance],
          device: DeviceDescription | None, collector: Mapping[str, str], collected_at: float,
          sequence_number: int, revisions: Mapping[str, str]) -> dict:
    """The message of one record. ``provenance`` has an entry for each present generator;
    ``revisions`` gives the module revisions the device does not (the collector's schema)."""
    sources = [provenance[generator] for generator in record.present if generator in provenance]
    message: dict[str, Any] = {}
    if device is not None and device.manifest:
        message["network-node-manifest"] = dict(device.manifest)
    message["telemetry-message-metadata"] = _metadata(record, facts, sources, device, collected_at,
                                                      sequence_number, revisions)
    message["data-collection-manifest"] = dict(collector)
    message["payload"] = payload(record)
    return message


def payload(record: Record) -> dict:
    """The notification the record carries: a merged slot is one push-update, flagged
    ``incomplete-update`` (RFC 8641) when a generator's piece is missing."""
    if record.event == PUSH_UPDATE:
        body: dict[str, Any] = {"id": record.subscription_id, "datastore-contents": record.data}
        if record.missing:
            body["incomplete-update"] = [None]
        return {PUSH_UPDATE: body}
    if record.event == PUSH_CHANGE_UPDATE:
        return {PUSH_CHANGE_UPDATE: {"id": record.subscription_id, "datastore-changes": record.data}}
    return {record.event: record.data}


def data_modules(record: Record) -> list[str]:
    """The modules of the payload's data: its top-level members, or an on-change patch's targets."""
    if record.event == PUSH_UPDATE:
        names: Iterable[str] = record.data
    elif record.event == PUSH_CHANGE_UPDATE:
        names = _patch_targets(record.data)
    else:
        names = (record.event,)
    return sorted({name.lstrip("/").partition(":")[0] for name in names if ":" in name})


def _patch_targets(changes: Mapping[str, Any]) -> Iterable[str]:
    for patch in changes.values():
        edits = patch.get("edit", []) if isinstance(patch, Mapping) else []
        for edit in edits if isinstance(edits, list) else []:
            if isinstance(edit, Mapping) and isinstance(edit.get("target"), str):
                yield edit["target"]
            value = edit.get("value") if isinstance(edit, Mapping) else None
            if isinstance(value, Mapping):
                yield from value


def _metadata(record: Record, facts: SubscriptionFacts | None, sources: list[Provenance],
              device: DeviceDescription | None, collected_at: float, sequence_number: int,
              revisions: Mapping[str, str]) -> dict:
    export_address, export_port = _shared(source.export for source in sources)
    if export_address is None:  # generators on several hosts: the first one's
        known = [source.export for source in sources if source.export is not None]
        export_address = known[0][0] if known else UNSPECIFIED_ADDRESS
    metadata: dict[str, Any] = {
        "node-export-timestamp": format_epoch(record.time if record.event_time is None else record.event_time),
        "collection-timestamp": format_epoch(collected_at),
        "notification-event": NOTIFICATION_EVENT,
        "sequence-number": sequence_number,
        "session-protocol": SESSION_PROTOCOL,
        "export-address": export_address,
    }
    if export_port is not None:
        metadata["export-port"] = export_port
    collection_address, collection_port = _shared(source.collection for source in sources)
    if collection_address is not None:
        metadata["collection-address"] = collection_address
        if collection_port is not None:
            metadata["collection-port"] = collection_port
    metadata["yang-push-subscription"] = _subscription(record, facts, sources, device, revisions)
    metadata["completeness"] = _completeness(record)
    return metadata


def _shared(endpoints: Iterable[tuple[str, int | None] | None]) -> tuple[str | None, int | None]:
    """The address every endpoint shares (else None), and the port too when they are one endpoint."""
    distinct = set(endpoints)
    addresses = {endpoint[0] for endpoint in distinct if endpoint is not None}
    if None in distinct or len(addresses) != 1:
        return None, None
    (address,) = addresses
    return address, distinct.pop()[1] if len(distinct) == 1 else None


def _subscription(record: Record, facts: SubscriptionFacts | None, sources: list[Provenance],
                  device: DeviceDescription | None, revisions: Mapping[str, str]) -> dict:
    subscription: dict[str, Any] = {"id": record.subscription_id}
    facts = facts or SubscriptionFacts()
    if facts.xpath_filter is not None:
        subscription["xpath-filter"] = facts.xpath_filter
    elif facts.subtree_filter is not None:
        subscription["subtree-filter"] = facts.subtree_filter
    if facts.datastore is not None:
        subscription["datastore"] = facts.datastore
    elif facts.stream is not None:
        subscription["stream"] = facts.stream
    transport = facts.transport or _common(source.transport for source in sources)
    if transport is not None:
        subscription["transport"] = transport
    encoding = _common(source.encoding for source in sources)
    if encoding is not None:
        subscription["encoding"] = encoding
    if facts.purpose is not None:
        subscription["purpose"] = facts.purpose
    trigger = facts.trigger
    if isinstance(trigger, Periodic):
        periodic: dict[str, Any] = {"period": trigger.period_cs}
        if trigger.anchor_time is not None:
            periodic["anchor-time"] = trigger.anchor_time
        subscription["periodic"] = periodic
    elif isinstance(trigger, OnChange):
        subscription["on-change"] = {"dampening-period": trigger.dampening_cs, "sync-on-start": trigger.sync_on_start}
    device_revisions = device.revisions if device is not None else {}
    modules = []
    for name in data_modules(record):
        revision = device_revisions.get(name) or revisions.get(name)
        modules.append({"name": name, "revision": revision} if revision else {"name": name})
    if modules:
        subscription["module"] = modules
    if device is not None and device.content_id is not None:
        subscription["yang-library-content-id"] = device.content_id
    return subscription


def _common(values: Iterable[str | None]) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _completeness(record: Record) -> dict:
    if record.kind != PERIODIC:
        return {"present-generator": record.present}
    completeness: dict[str, Any] = {"slot": format_epoch(record.time), "complete": not record.missing}
    for leaf, generators in (("expected-generator", record.expected), ("present-generator", record.present),
                             ("missing-generator", record.missing), ("unexpected-generator", record.unexpected)):
        if generators:  # an empty leaf-list is absent
            completeness[leaf] = generators
    if record.clashes:
        completeness["clashes"] = record.clashes
    return completeness
