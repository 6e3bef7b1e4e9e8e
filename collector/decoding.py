"""From a reassembled UDP-notif message, or a NETCONF ``<notification>``, to a decoded event:
qualified name, RFC 7951 JSON body, event time in epoch seconds.

Every refusal is counted by a short reason fit for a metric label: ``private-encoding`` and
``unknown-media-type`` (draft-ietf-netconf-udp-notif §3.2: the collector reads the three
registered media types only), then the envelope's own reasons (``not-json``,
``event-does-not-fit-the-schema``...) and ``event-time``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import orjson
from lxml import etree

from collector.knowledge import KnowledgeError, parse_time
from mso.namespaces import NOTIFICATION, qn
from mso.notification_encoding import ENVELOPE_MEMBER, EnvelopeCodec, NotificationDecodeError
from mso.subscription_model import Encoding
from mso.udp_notif import MediaType, Message
from mso.yang_json import YangJson, YangJsonError

ENCODINGS = {MediaType.JSON: Encoding.JSON, MediaType.XML: Encoding.XML, MediaType.CBOR: Encoding.CBOR}
PUBLISHER_MEMBER = "ietf-distributed-notif:message-publisher-id"
_EVENT_TIME = qn(NOTIFICATION, "eventTime")
_LABEL_END = re.compile(r"[:,{'\"0-9]")
_TIME_CACHE_SIZE = 4096
COUNTER32_MAX = 2**32 - 1


@dataclass(slots=True)
class Event:
    name: str  # "ietf-yang-push:push-update"
    body: dict
    event_time: float
    sequence_number: int | None


def reason_label(reason: str) -> str:
    """``"unknown root element {urn:x}y"`` -> ``"unknown-root-element"``: no unbounded values."""
    head = _LABEL_END.split(reason, 1)[0].strip().lower()
    return head.replace(" ", "-") or "malformed"


class EventDecoder:
    """Decodes payloads and NETCONF notifications; counts what it refuses in ``errors``."""

    def __init__(self, codec: EnvelopeCodec, yang: YangJson) -> None:
        self._codec = codec
        self._yang = yang
        self._times: dict[str, float] = {}  # the pieces of one slot share their event time text
        self.errors: Counter[str] = Counter()

    def message(self, message: Message) -> Event | None:
        """A UDP-notif message's event, or None (counted) when it cannot be read."""
        return self.payload(message.media_type, message.private_encoding, message.payload)

    def payload(self, media_type: int, private_encoding: bool, payload: bytes) -> Event | None:
        """The event of a payload of this media type, or None (counted)."""
        if private_encoding:
            self.errors["private-encoding"] += 1
            return None
        encoding = ENCODINGS.get(media_type)  # type: ignore[call-overload]
        if encoding is None:
            self.errors["unknown-media-type"] += 1
            return None
        if encoding is Encoding.JSON:
            fast = _json_envelope(payload)
            if fast is not None:
                name, body, text, sequence_number = fast
                seconds = self._times.get(text)
                if seconds is not None:  # the pieces of a slot share their event time
                    return Event(name, body, seconds, sequence_number)
                return self._timed(name, body, text, sequence_number)
        try:
            decoded = self._codec.decode(payload, encoding)
        except NotificationDecodeError as error:
            self.errors[reason_label(error.reason)] += 1
            return None
        return self._timed(decoded.event, decoded.body, decoded.event_time, decoded.sequence_number)

    def _timed(self, name: str, body: dict, event_time: str, sequence_number: int | None) -> Event | None:
        seconds = self.event_time(event_time)
        if seconds is None:
            return None
        return Event(name, body, seconds, sequence_number)

    def netconf(self, notification: etree._Element) -> Event | None:
        """An RFC 5277 ``<notification>`` from the Master's session."""
        events = [child for child in notification if isinstance(child.tag, str) and child.tag != _EVENT_TIME]
        if len(events) != 1:
            self.errors["expected-one-event"] += 1
            return None
        try:
            (name, body), = self._yang.event_to_json(events[0]).items()
        except YangJsonError:
            self.errors["event-does-not-fit-the-schema"] += 1
            return None
        event_time = self.event_time(notification.findtext(_EVENT_TIME) or "")
        if event_time is None:
            return None
        return Event(name, body, event_time, None)

    def event_time(self, text: str) -> float | None:
        """Epoch seconds of an RFC 3339 event time; None (counted) when it is not one."""
        cached = self._times.get(text)
        if cached is not None:
            return cached
        try:
            value = parse_time(text)
        except KnowledgeError:
            self.errors["event-time"] += 1
            return None
        if len(self._times) >= _TIME_CACHE_SIZE:
            self._times.clear()
        self._times[text] = value
        return value


def _json_envelope(payload: bytes) -> tuple[str, dict, str, int | None] | None:
    """The common JSON payload, our notif-envelope with well-typed members, read without the
    general decoder's checks; None for anything else, which then takes the general path (and
    gets its precise error)."""
    try:
        tree = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    envelope = tree.get(ENVELOPE_MEMBER) if type(tree) is dict and len(tree) == 1 else None
    if type(envelope) is not dict:
        return None
    contents, event_time = envelope.get("contents"), envelope.get("event-time")
    sequence = envelope.get("sequence-number")
    if type(contents) is not dict or len(contents) != 1 or type(event_time) is not str:
        return None
    if sequence is not None and not (type(sequence) is int and 0 <= sequence <= COUNTER32_MAX):
        return None
    ((name, body),) = contents.items()
    if type(body) is not dict or ":" not in name:
        return None
    return name, body, event_time, sequence


def generator_of(body: dict, default: str) -> str:
    """The publisher named in a push (draft-ietf-netconf-distributed-notif), else ``default``."""
    publisher = body.get(PUBLISHER_MEMBER)
    return default if publisher is None else str(publisher)
