"""The envelopes around a notification's event: NETCONF sessions and UDP-notif payloads.

Over a NETCONF session the envelope is RFC 5277's `<notification>` with `<eventTime>`
(RFC 8639 §2.6, RFC 8640).

A UDP-notif payload uses the notification envelope of draft-ietf-netconf-notif-envelope-07:
module `ietf-yp-notification`, namespace `urn:ietf:params:xml:ns:yang:ietf-yp-notification`,
an RFC 8791 structure

    structure envelope:
      +-- event-time         yang:date-and-time
      +-- hostname?          inet:host-name      {hostname-sequence-number}?
      +-- sequence-number?   yang:counter32      {hostname-sequence-number}?
      +-- contents           <anydata>

whose `contents` holds the event element, encoded in XML, in JSON as
`{"ietf-yp-notification:envelope": {"event-time": .., "hostname": .., "sequence-number": 1,
"contents": {"ietf-yang-push:push-update": {..}}}}`, and in CBOR as that tree with names as keys
(RFC 9254 §3.3). The four envelope members are written here from the draft, not loaded from
its module (ietf-yp-notification@2026-09-25): that module imports RFC 9196's
ietf-system-capabilities and ietf-notification-capabilities and uses RFC 9911's inet:host-name,
none of which pyang's module set (our IETF source) has. The event inside `contents` is
schema-aware (mso.yang_json).

Decoding also accepts the RFC 5277 shape that publishers without the envelope send:
`<notification><eventTime>..` in XML and `{"ietf-notification:notification": {"eventTime": ..,
"<module>:<event>": {..}}}` in JSON (draft-ietf-netconf-udp-notif's example) or CBOR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import cbor2
import orjson
from lxml import etree

from mso import namespaces as ns
from mso.schema import Schema
from mso.subscription_model import Encoding
from mso.xml_parsing import MalformedXML, parse_xml
from mso.yang_json import YangJson, YangJsonError

ENVELOPE_MEMBER = "ietf-yp-notification:envelope"
RFC5277_MEMBER = "ietf-notification:notification"  # the JSON name draft-ietf-netconf-udp-notif uses
_COUNTER32_MAX = 2**32 - 1
_NOTIFICATION_OPEN = f'<notification xmlns="{ns.NOTIFICATION}"><eventTime>'.encode()


class NotificationDecodeError(ValueError):
    """A payload that is not a notification we can read; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedNotification:
    event_time: str
    sequence_number: int | None
    hostname: str | None
    event: str  # "ietf-yang-push:push-update", "ietf-subscribed-notifications:subscription-started", ...
    subscription_id: int | None  # the event's <id>, when it has one
    body: dict  # the event's content as RFC 7951 JSON, whatever the encoding on the wire


def xml_notification(event: etree._Element, event_time: str) -> bytes:
    """The RFC 5277 <notification> a NETCONF session carries, around the serialized event."""
    return b"".join(
        (
            _NOTIFICATION_OPEN,
            escape(event_time).encode(),
            b"</eventTime>",
            etree.tostring(event, with_tail=False),
            b"</notification>",
        )
    )


class EnvelopeCodec:
    """UDP-notif payloads: the notif-envelope in XML, JSON or CBOR, and decoding of any of them."""

    def __init__(self, schema: Schema, hostname: str | None = None) -> None:
        self._yang = YangJson(schema)
        self._hostname = hostname

    def encode(self, event: etree._Element, *, event_time: str, sequence_number: int, encoding: Encoding) -> bytes:
        """One payload. sequence_number is the publisher process's counter32 (draft §3.2.1)."""
        if not 0 <= sequence_number <= _COUNTER32_MAX:
            raise ValueError(f"sequence-number {sequence_number} is not a counter32")
        if encoding is Encoding.XML:
            return self._xml(event, event_time, sequence_number)
        if encoding is Encoding.JSON:
            return orjson.dumps(self._tree(self._yang.event_to_json(event), event_time, sequence_number))
        return cbor2.dumps(self._tree(self._yang.event_to_cbor(event), event_time, sequence_number))

    def _xml(self, event: etree._Element, event_time: str, sequence_number: int) -> bytes:
        header = f'<envelope xmlns="{ns.NOTIF_ENVELOPE}"><event-time>{escape(event_time)}</event-time>'
        if self._hostname is not None:
            header += f"<hostname>{escape(self._hostname)}</hostname>"
        header += f"<sequence-number>{sequence_number}</sequence-number><contents>"
        return b"".join((header.encode(), etree.tostring(event, with_tail=False), b"</contents></envelope>"))

    def _tree(self, contents: dict, event_time: str, sequence_number: int) -> dict:
        envelope: dict[str, Any] = {"event-time": event_time}
        if self._hostname is not None:
            envelope["hostname"] = self._hostname
        envelope["sequence-number"] = sequence_number
        envelope["contents"] = contents
        return {ENVELOPE_MEMBER: envelope}

    def decode(self, payload: bytes, encoding: Encoding) -> DecodedNotification:
        """Read a payload of our envelope or the RFC 5277 shape; NotificationDecodeError otherwise."""
        try:
            if encoding is Encoding.XML:
                return self._decode_xml(payload)
            if encoding is Encoding.JSON:
                return _decode_tree(_load_json(payload), lambda event: event)
            return _decode_tree(_load_cbor(payload), self._cbor_event_to_json)
        except YangJsonError as error:
            raise NotificationDecodeError(f"event does not fit the schema: {error}") from None

    def _cbor_event_to_json(self, event: dict) -> dict:
        """RFC 9254 scalars -> RFC 7951 ones, by way of the schema-typed XML tree."""
        return self._yang.event_to_json(self._yang.cbor_to_event(event))

    def _decode_xml(self, payload: bytes) -> DecodedNotification:
        try:
            root = parse_xml(payload)
        except MalformedXML:
            raise NotificationDecodeError("not well-formed XML") from None
        if root.tag == f"{{{ns.NOTIF_ENVELOPE}}}envelope":
            header = {c.tag: c for c in root if isinstance(c.tag, str)}
            contents = header.get(f"{{{ns.NOTIF_ENVELOPE}}}contents")
            events = [] if contents is None else [c for c in contents if isinstance(c.tag, str)]
            time_element = header.get(f"{{{ns.NOTIF_ENVELOPE}}}event-time")
            sequence = header.get(f"{{{ns.NOTIF_ENVELOPE}}}sequence-number")
            hostname = header.get(f"{{{ns.NOTIF_ENVELOPE}}}hostname")
            fields = (
                None if time_element is None else time_element.text,
                None if sequence is None else _counter32(sequence.text),
                None if hostname is None else hostname.text,
            )
        elif root.tag == f"{{{ns.NOTIFICATION}}}notification":
            time_element = root.find(f"{{{ns.NOTIFICATION}}}eventTime")
            events = [c for c in root if isinstance(c.tag, str) and c is not time_element]
            fields = (None if time_element is None else time_element.text, None, None)
        else:
            raise NotificationDecodeError(f"unknown root element {root.tag}")
        if len(events) != 1:
            raise NotificationDecodeError(f"expected one event, found {len(events)}")
        return _decoded(*fields, self._yang.event_to_json(events[0]))


def _load_json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise NotificationDecodeError("not JSON") from None


def _load_cbor(payload: bytes) -> object:
    try:
        return cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, MemoryError):
        raise NotificationDecodeError("not CBOR") from None


def _decode_tree(tree: object, event_to_json: Any) -> DecodedNotification:
    """Our envelope or the RFC 5277 shape as a JSON/CBOR value tree."""
    if not isinstance(tree, dict) or len(tree) != 1:
        raise NotificationDecodeError("expected one top-level member")
    name, content = next(iter(tree.items()))
    if not isinstance(content, dict):
        raise NotificationDecodeError(f"{name!r} is not an object")
    if name == ENVELOPE_MEMBER:
        event = content.get("contents")
        sequence = content.get("sequence-number")
        fields = (content.get("event-time"), None if sequence is None else _counter32(sequence), content.get("hostname"))
    elif name == RFC5277_MEMBER:
        event = {k: v for k, v in content.items() if k != "eventTime"}
        fields = (content.get("eventTime"), None, None)
    else:
        raise NotificationDecodeError(f"unknown top-level member {name!r}")
    if not isinstance(event, dict) or len(event) != 1:
        raise NotificationDecodeError("expected one event")
    return _decoded(*fields, event_to_json(event))


def _counter32(value: object) -> int:
    """A sequence-number: an integer (JSON/CBOR) or its decimal text (XML) within counter32."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _COUNTER32_MAX:
        raise NotificationDecodeError("sequence-number is not a counter32")
    return value


def _decoded(event_time: object, sequence_number: int | None, hostname: object, event: dict) -> DecodedNotification:
    if not isinstance(event_time, str):
        raise NotificationDecodeError("no event time")
    if hostname is not None and not isinstance(hostname, str):
        raise NotificationDecodeError("hostname is not a string")
    (name, body), = event.items()
    if not isinstance(name, str) or ":" not in name or not isinstance(body, dict):
        raise NotificationDecodeError("the event is not a qualified member with an object value")
    subscription_id = body.get("id")
    if not isinstance(subscription_id, int) or isinstance(subscription_id, bool):
        subscription_id = None
    return DecodedNotification(event_time, sequence_number, hostname, name, subscription_id, body)
