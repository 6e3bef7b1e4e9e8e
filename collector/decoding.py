"""From a reassembled UDP-notif message, or a NETCONF ``<notification>``, to a decoded event:
qualified name, RFC 7951 JSON body, event time in epoch seconds.

JSON is read with orjson, XML and CBOR with the C readers of collector.payload_readers where
they were built (which also check a JSON tree for the envelope, as ``_json_envelope`` does here). Each of these fast readers takes the common payload, our notif-envelope, and
declines anything else, which then takes the general decoder (mso.notification_encoding).

Every refusal is counted by a short reason fit for a metric label: ``private-encoding`` and
``unknown-media-type`` (draft-ietf-netconf-udp-notif §3.2: the collector reads the three
registered media types only), then the envelope's own reasons (``not-json``,
``event-does-not-fit-the-schema``...) and ``event-time``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
from lxml import etree

from collector.knowledge import KnowledgeError, parse_time
from mso.namespaces import NOTIFICATION, qn
from mso.notification_encoding import ENVELOPE_MEMBER, EnvelopeCodec, NotificationDecodeError
from mso.subscription_model import Encoding
from mso.udp_notif import MediaType
from mso.yang_json import YangJson, YangJsonError

ENCODINGS = {MediaType.JSON: Encoding.JSON, MediaType.XML: Encoding.XML, MediaType.CBOR: Encoding.CBOR}
PUBLISHER_MEMBER = "ietf-distributed-notif:message-publisher-id"
_EVENT_TIME = qn(NOTIFICATION, "eventTime")
_LABEL_END = re.compile(r"[:,{'\"0-9]")
_TIME_CACHE_SIZE = 4096
COUNTER32_MAX = 2**32 - 1
Envelope = tuple[str, dict, str, int | None]  # event name, RFC 7951 body, event-time text, sequence-number
FastReader = Callable[[bytes], Envelope | None]


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

    def __init__(self, codec: EnvelopeCodec, yang: YangJson,
                 readers: Mapping[str, FastReader] | None = None) -> None:
        """``readers`` are the fast XML and CBOR readers (collector.payload_readers), where built."""
        self._codec = codec
        self._yang = yang
        self._times: dict[str, float] = {}  # the pieces of one slot share their event time text
        readers = readers or {}
        self._fast: dict[int, FastReader] = {MediaType.JSON: readers.get("json", _json_envelope),
                                             MediaType.XML: readers.get("xml", _declined),
                                             MediaType.CBOR: readers.get("cbor", _declined)}
        self.errors: Counter[str] = Counter()

    def payload(self, media_type: int, private_encoding: bool, payload: bytes) -> Event | None:
        """The event of a payload of this media type, or None (counted).

        The common payload, our notif-envelope, is read by the fast reader of its media type;
        anything that reader declines takes the general decoder, which also gives the precise
        reason for a refusal.
        """
        if private_encoding:
            self.errors["private-encoding"] += 1
            return None
        fast = self._fast.get(media_type)
        if fast is None:
            self.errors["unknown-media-type"] += 1
            return None
        envelope = fast(payload)
        if envelope is None:
            return self._general(media_type, payload)
        name, body, text, sequence_number = envelope
        seconds = self._times.get(text)  # the pieces of a slot share their event time
        if seconds is None:
            seconds = self.event_time(text)
            if seconds is None:
                return None
        return Event(name, body, seconds, sequence_number)

    def _general(self, media_type: int, payload: bytes) -> Event | None:
        try:
            decoded = self._codec.decode(payload, ENCODINGS[media_type])  # type: ignore[index]
        except NotificationDecodeError as error:
            self.errors[reason_label(error.reason)] += 1
            return None
        seconds = self.event_time(decoded.event_time)
        if seconds is None:
            return None
        return Event(decoded.event, decoded.body, seconds, decoded.sequence_number)

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


def _declined(payload: bytes) -> None:
    """The fast reader of a media type that has none: everything takes the general decoder."""
    return None


def _json_envelope(payload: bytes) -> Envelope | None:
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
