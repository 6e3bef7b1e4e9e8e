"""UDP-notif wire codec, draft-ietf-netconf-udp-notif-26 (28 July 2026): pure, no I/O.

Two layers, as in NetGauze's codec crates:

* raw: ``decode_header`` / ``encode_header`` map octets to a ``Header`` and back exactly as they
  are on the wire, every option included (unknown ones too). Only structural faults are errors.
* decoded: ``encode_message`` / ``Publisher`` build whole messages, segmenting when asked;
  ``Reassembler`` turns datagrams into ``Message`` objects and applies the draft's receiver rules;
  ``whole_message`` is its fast path on its own, for receivers that want the common case
  without building a ``Message``.

Facts from the draft this module relies on:

* §3.2: a 12-octet fixed header in network byte order: Ver (3 bits, 1), S (1 bit, MT is a private
  encoding), MT (4 bits; 1 yang-data+json, 2 +xml, 3 +cbor; 0 reserved when S is clear), Header
  Len (8 bits, fixed header plus options), Message Length (16 bits, the whole UDP-notif message
  in this datagram; per segment when segmented), Message Publisher ID (32), Message ID (32).
  Message ids start random, increase by one per message and wrap from 2**32-1 to 0.
* §4: options are TLVs whose Length octet counts the Type and Length octets too. The only
  registered type (§8.1.2) is 1, segmentation; receivers MUST discard messages with unsupported
  options. Private encodings are signalled by the S flag, not by an option.
* §4.1: the segmentation option has length 4; its last 16 bits are a 15-bit segment number
  (first segment 0, no wrap) followed by L, the least significant bit, set on the last segment.
  Duplicate segments MUST be dropped; segments arrive in any order.
* §5.2: receivers support at least 64 segments; reassembly SHOULD finish within 10 s and MUST NOT
  take longer than 20 s.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

VERSION = 1
FIXED_HEADER_LENGTH = 12
SEGMENTATION_OPTION = 1
SEGMENTATION_OPTION_LENGTH = 4
SEGMENTED_HEADER_LENGTH = FIXED_HEADER_LENGTH + SEGMENTATION_OPTION_LENGTH
MAX_MESSAGE_LENGTH = 0xFFFF  # Message Length is 16 bits
MAX_SEGMENTS = 1 << 15  # segment numbers are 15 bits: 0..32767
MIN_SUPPORTED_SEGMENTS = 64  # §5.2: a receiver MUST reassemble at least this many
MIN_SUPPORTED_MESSAGE_BYTES = 96 * 1024  # §5.2: messages SHOULD stay below 96 KB
MAX_REASSEMBLY_SECONDS = 20.0  # §5.2: reassembly MUST NOT exceed 20 s

_U32 = 0xFFFFFFFF
_MAX_OPTION_VALUE = 0xFF - 2
# First octet of a version-1 header whose S and MT are not both zero (MT 0 without S is reserved).
USABLE_FIRST_OCTETS = frozenset(range((VERSION << 5) + 1, (VERSION + 1) << 5))
MEDIA_TYPE_BITS = 0x0F
PRIVATE_BIT = 0x10

FIXED_HEADER = struct.Struct("!BBHII")
_SEGMENTED = struct.Struct("!BBHIIBBH")
_SEGMENT_FIELD = struct.Struct("!H")

SourceAddress = tuple[str, int] | None
_MessageKey = tuple[SourceAddress, int, int]
# (publisher id, message id, media type, private encoding, payload)
WholeMessage = tuple[int, int, int, bool, bytes]


class MediaType(IntEnum):
    """Standard media types (S flag clear), UDP-Notif Media Types registry."""

    JSON = 1  # application/yang-data+json
    XML = 2  # application/yang-data+xml
    CBOR = 3  # application/yang-data+cbor


@dataclass(frozen=True, slots=True)
class Header:
    """The raw layer: exactly what is on the wire."""

    version: int
    private_encoding: bool
    media_type: int
    header_length: int
    message_length: int
    publisher_id: int
    message_id: int
    segment: tuple[int, bool] | None  # (segment number, is last) from option type 1, else None
    options: tuple[tuple[int, bytes], ...]  # every option as (type, value), unknown ones too


class DecodeError(ValueError):
    """The octets are not a well-formed UDP-notif message.

    ``reason`` is a short label fit for a metric: short, version, header-length, message-length,
    option or segment-option.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def decode_header(datagram: bytes | memoryview) -> tuple[Header, memoryview]:
    """Decode one datagram into its header and a view of its payload.

    Message Length must equal the datagram length: a UDP-notif message fills its datagram, so
    anything else is truncation or trailing garbage. Raises only ``DecodeError``.
    """
    view = memoryview(datagram)
    if len(view) < FIXED_HEADER_LENGTH:
        raise DecodeError("short", f"{len(view)} octets, the fixed header has 12")
    first, header_length, message_length, publisher_id, message_id = FIXED_HEADER.unpack_from(view)
    if first >> 5 != VERSION:
        raise DecodeError("version", f"version {first >> 5}, only {VERSION} is known")
    if header_length < FIXED_HEADER_LENGTH:
        raise DecodeError("header-length", f"header length {header_length} < 12")
    if message_length != len(view):
        raise DecodeError(
            "message-length", f"message length {message_length}, datagram {len(view)} octets"
        )
    if header_length > message_length:
        raise DecodeError(
            "header-length", f"header length {header_length} > message length {message_length}"
        )
    if header_length == FIXED_HEADER_LENGTH:
        options: tuple[tuple[int, bytes], ...] = ()
        segment = None
    else:
        options = _decode_options(view[FIXED_HEADER_LENGTH:header_length])
        segment = _segment_of(options)
    header = Header(
        VERSION,
        bool(first & PRIVATE_BIT),
        first & MEDIA_TYPE_BITS,
        header_length,
        message_length,
        publisher_id,
        message_id,
        segment,
        options,
    )
    return header, view[header_length:]


def _decode_options(area: memoryview) -> tuple[tuple[int, bytes], ...]:
    options = []
    offset = 0
    while offset < len(area):
        if len(area) - offset < 2:
            raise DecodeError("option", f"option at header offset {12 + offset} is cut short")
        option_type, length = area[offset], area[offset + 1]
        if length < 2 or offset + length > len(area):
            raise DecodeError(
                "option", f"option type {option_type} has length {length}, which does not fit"
            )
        options.append((option_type, bytes(area[offset + 2 : offset + length])))
        offset += length
    return tuple(options)


def _segment_of(options: tuple[tuple[int, bytes], ...]) -> tuple[int, bool] | None:
    values = [value for option_type, value in options if option_type == SEGMENTATION_OPTION]
    if not values:
        return None
    if len(values) > 1:
        raise DecodeError("segment-option", "more than one segmentation option")
    if len(values[0]) != SEGMENTATION_OPTION_LENGTH - 2:
        raise DecodeError("segment-option", f"length {len(values[0]) + 2}, must be 4")
    (field,) = _SEGMENT_FIELD.unpack(values[0])
    return field >> 1, bool(field & 1)


def encode_header(header: Header) -> bytes:
    """Encode a header (fixed part and options) exactly as given: the inverse of ``decode_header``.

    ``options`` is what is written; ``segment`` must agree with it, ``header_length`` must be
    the encoded size, and every field must fit its width, else ``ValueError``.
    """
    options = b"".join(_encode_option(option_type, value) for option_type, value in header.options)
    header_length = FIXED_HEADER_LENGTH + len(options)
    if header.header_length != header_length:
        raise ValueError(f"header_length {header.header_length}, the options make {header_length}")
    if not header_length <= header.message_length <= MAX_MESSAGE_LENGTH:
        raise ValueError(f"message_length {header.message_length} out of range")
    if header.segment != _segment_of(header.options):
        raise ValueError(f"segment {header.segment} disagrees with the options")
    if not (0 <= header.version <= 7 and 0 <= header.media_type <= MEDIA_TYPE_BITS):
        raise ValueError("version or media_type does not fit its field")
    private = PRIVATE_BIT if header.private_encoding else 0
    first = header.version << 5 | private | header.media_type
    fixed = _pack_fixed(
        first, header_length, header.message_length, header.publisher_id, header.message_id
    )
    return fixed + options


def _encode_option(option_type: int, value: bytes) -> bytes:
    if not 0 <= option_type <= 0xFF or len(value) > _MAX_OPTION_VALUE:
        raise ValueError(f"option type {option_type} with {len(value)} octets does not fit a TLV")
    return bytes((option_type, len(value) + 2)) + value


def _pack_fixed(
    first: int, header_length: int, message_length: int, publisher_id: int, message_id: int
) -> bytes:
    try:
        return FIXED_HEADER.pack(first, header_length, message_length, publisher_id, message_id)
    except struct.error as error:
        raise ValueError(f"a header field does not fit: {error}") from None


def encode_message(
    payload: bytes,
    *,
    publisher_id: int,
    message_id: int,
    media_type: MediaType,
    max_segment_size: int | None = None,
) -> list[bytes]:
    """Encode one notification message as one datagram, or as segments when it is too big.

    ``max_segment_size`` counts the whole datagram (UDP-notif header and options included, as
    the draft's max-segment-size leaf, a uint16). A message that fits is sent without the
    segmentation option. Raises ValueError when a field is out of range or the payload cannot
    fit: more than 2**15 segments, or more than 65535 octets unsegmented.
    """
    first = VERSION << 5 | MediaType(media_type)
    _check_u32("publisher_id", publisher_id)
    _check_u32("message_id", message_id)
    if max_segment_size is not None and not (
        SEGMENTED_HEADER_LENGTH < max_segment_size <= MAX_MESSAGE_LENGTH
    ):
        raise ValueError(f"max_segment_size {max_segment_size} outside 17..65535")
    length = FIXED_HEADER_LENGTH + len(payload)
    if max_segment_size is None or length <= max_segment_size:
        if length > MAX_MESSAGE_LENGTH:
            raise ValueError(f"{len(payload)}-octet payload does not fit one message; segment it")
        return [FIXED_HEADER.pack(first, FIXED_HEADER_LENGTH, length, publisher_id, message_id) + payload]
    return _segment(payload, first, publisher_id, message_id, max_segment_size)


def _segment(
    payload: bytes, first: int, publisher_id: int, message_id: int, max_segment_size: int
) -> list[bytes]:
    chunk = max_segment_size - SEGMENTED_HEADER_LENGTH
    count = -(-len(payload) // chunk)
    if count > MAX_SEGMENTS:
        raise ValueError(f"{count} segments needed, at most {MAX_SEGMENTS} can be numbered")
    view = memoryview(payload)
    last = count - 1
    datagrams = []
    for number in range(count):
        part = view[number * chunk : (number + 1) * chunk]
        header = _SEGMENTED.pack(
            first,
            SEGMENTED_HEADER_LENGTH,
            SEGMENTED_HEADER_LENGTH + len(part),
            publisher_id,
            message_id,
            SEGMENTATION_OPTION,
            SEGMENTATION_OPTION_LENGTH,
            number << 1 | (number == last),
        )
        datagrams.append(header + part)
    return datagrams


def _check_u32(name: str, value: int) -> None:
    if not 0 <= value <= _U32:
        raise ValueError(f"{name} {value} is not a 32-bit unsigned integer")


class Publisher:
    """Per publisher-id sender state.

    Message ids start at a random 32-bit value and increase by one per message, wrapping from
    2**32-1 to 0 (§3.2), so the collector can count lost messages. A message that fails to
    encode does not use up an id: nothing was sent, so nothing may look lost.
    """

    def __init__(
        self,
        publisher_id: int,
        *,
        max_segment_size: int | None = 1400,
        first_message_id: int | None = None,
    ) -> None:
        _check_u32("publisher_id", publisher_id)
        if first_message_id is None:
            first_message_id = secrets.randbits(32)
        _check_u32("first_message_id", first_message_id)
        self.publisher_id = publisher_id
        self.max_segment_size = max_segment_size
        self._next_message_id = first_message_id

    def encode(self, payload: bytes, media_type: MediaType) -> list[bytes]:
        """The datagrams of the next message."""
        datagrams = encode_message(
            payload,
            publisher_id=self.publisher_id,
            message_id=self._next_message_id,
            media_type=media_type,
            max_segment_size=self.max_segment_size,
        )
        self._next_message_id = (self._next_message_id + 1) & _U32
        return datagrams


@dataclass(slots=True)
class Message:
    """A complete notification message as delivered to the application."""

    publisher_id: int
    message_id: int
    media_type: int
    private_encoding: bool
    payload: bytes
    segments: int


class _Partial:
    """The segments of one message received so far."""

    __slots__ = ("started", "media_type", "private_encoding", "segments", "last", "highest", "size")

    def __init__(self, started: float, media_type: int, private_encoding: bool) -> None:
        self.started = started
        self.media_type = media_type
        self.private_encoding = private_encoding
        self.segments: dict[int, bytes] = {}
        self.last: int | None = None  # number of the segment flagged last, once received
        self.highest = -1
        self.size = 0

    def rejection(
        self,
        media_type: int,
        private_encoding: bool,
        number: int,
        is_last: bool,
        payload: bytes | memoryview,
        max_segments: int,
        max_message_bytes: int,
    ) -> str | None:
        """Why this segment cannot join the message, or None when it can."""
        if media_type != self.media_type or private_encoding != self.private_encoding:
            return "media-type-mismatch"
        if number >= max_segments:
            return "too-many-segments"
        held = self.segments.get(number)
        if held is not None:
            same = held == payload and is_last == (number == self.last)
            return "duplicate-segment" if same else "conflicting-segment"
        if is_last and (self.last is not None or self.highest > number):
            return "conflicting-segment"
        if not is_last and self.last is not None and number > self.last:
            return "conflicting-segment"
        if self.size + len(payload) > max_message_bytes:
            return "too-large"
        return None

    def add(self, number: int, is_last: bool, payload: bytes) -> None:
        self.segments[number] = payload
        self.size += len(payload)
        self.highest = max(self.highest, number)
        if is_last:
            self.last = number

    @property
    def complete(self) -> bool:
        return self.last is not None and len(self.segments) == self.last + 1

    def payload(self) -> bytes:
        return b"".join(self.segments[number] for number in range(len(self.segments)))


def whole_message(datagram: bytes) -> WholeMessage | None:
    """The common datagram, decoded at the least cost: one whole, well-formed message.

    That is version 1, a header length of 12 (no options, so no segment), a message length equal
    to the datagram's, and a usable S/MT pair (MT 0 without S is reserved). The payload is a
    slice of ``datagram``. None means only "not this case": the datagram may still be a valid
    segment or a message with options, and ``Reassembler.feed`` applies every rule to it.
    """
    try:
        first, header_length, length, publisher_id, message_id = FIXED_HEADER.unpack_from(datagram)
    except struct.error:
        return None
    if (
        header_length == FIXED_HEADER_LENGTH
        and first in USABLE_FIRST_OCTETS
        and length == len(datagram)
    ):
        return (
            publisher_id,
            message_id,
            first & MEDIA_TYPE_BITS,
            bool(first & PRIVATE_BIT),
            datagram[FIXED_HEADER_LENGTH:],
        )
    return None


def _plain_segment(datagram: bytes) -> tuple[int, int, int, int] | None:
    """(first octet, publisher id, message id, segment field) of the common segment: version 1,
    the segmentation option alone (header length 16), a message length equal to the
    datagram's; None for anything else, which ``decode_header`` then reads with every check."""
    try:
        first, header_length, length, publisher_id, message_id, option, option_length, field = (
            _SEGMENTED.unpack_from(datagram))
    except struct.error:
        return None
    if (header_length == SEGMENTED_HEADER_LENGTH and option == SEGMENTATION_OPTION
            and option_length == SEGMENTATION_OPTION_LENGTH and first >> 5 == VERSION and length == len(datagram)):
        return first, publisher_id, message_id, field
    return None


class Reassembler:
    """Receive side: datagrams in, complete messages out. Never raises on any datagram.

    Partial messages are keyed on (source address, publisher id, message id): the draft keys on
    the last two and adds the source when publisher ids are not unique in the collection domain.
    Segments may come in any order; duplicates are dropped. A partial message not completed
    ``timeout`` seconds after its first segment is dropped by the first ``feed`` or ``expire``
    after that, so one never completes late; call ``expire`` at least every ``timeout`` seconds
    and nothing is held beyond 2 x timeout (20 s at the default, the draft's limit). Completed
    segmented messages are remembered for ``timeout`` seconds so a late duplicate is dropped
    rather than starting a partial that could only expire.

    Every datagram that does not complete a message is either held in a partial message or
    counted once in ``drops`` by reason: ``decode:<DecodeError.reason>``, ``unsupported-option``
    (§4: only the segmentation option is registered), ``reserved-media-type`` (MT 0 without S),
    ``duplicate-segment``, ``conflicting-segment`` (same number with other content, or
    contradicting last flags), ``media-type-mismatch``, ``too-many-segments``, ``too-large``.
    The last four discard the whole partial message: its content is no longer trustworthy or
    it breaks a limit (§5.2: such messages MUST be discarded). ``expired`` counts partial
    messages dropped for time.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_message_bytes: int = 256 * 1024,
        max_segments: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < timeout <= MAX_REASSEMBLY_SECONDS:
            raise ValueError(f"timeout {timeout} s outside (0, {MAX_REASSEMBLY_SECONDS}] (§5.2)")
        if not MIN_SUPPORTED_SEGMENTS <= max_segments <= MAX_SEGMENTS:
            raise ValueError(f"max_segments {max_segments} outside 64..{MAX_SEGMENTS} (§5.2)")
        if max_message_bytes < MIN_SUPPORTED_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes {max_message_bytes} below 96 KiB (§5.2)")
        self.timeout = timeout
        self.max_message_bytes = max_message_bytes
        self.max_segments = max_segments
        self.drops: Counter[str] = Counter()
        self._clock = clock
        self._partials: dict[_MessageKey, _Partial] = {}
        self._completed: dict[_MessageKey, float] = {}
        # (start or completion time, key) of everything held, oldest first, so expiry never
        # scans what is still young. Only times and keys: a message discarded or completed
        # early leaves a stale entry here, never its segments.
        self._held_since: deque[tuple[float, _MessageKey]] = deque()

    @property
    def pending(self) -> int:
        """Partial messages held."""
        return len(self._partials)

    def feed(self, datagram: bytes, source: SourceAddress = None) -> Message | None:
        """Take one datagram; return the message it completes, if any."""
        if self._held_since:
            self.expire()
        whole = whole_message(datagram)
        if whole is not None:
            publisher_id, message_id, media_type, private_encoding, payload = whole
            return Message(publisher_id, message_id, media_type, private_encoding, bytes(payload), 1)
        segment = _plain_segment(datagram)
        if segment is not None:  # the common segment, read without building a Header
            first, publisher_id, message_id, field = segment
            media_type, private_encoding = first & MEDIA_TYPE_BITS, bool(first & PRIVATE_BIT)
            if media_type == 0 and not private_encoding:
                return self._drop("reserved-media-type")
            return self._add_segment(publisher_id, message_id, media_type, private_encoding, field >> 1,
                                     bool(field & 1), datagram[SEGMENTED_HEADER_LENGTH:], (source, publisher_id,
                                                                                          message_id))
        return self._feed_checked(datagram, source)

    def _feed_checked(self, datagram: bytes, source: SourceAddress) -> Message | None:
        try:
            header, payload = decode_header(datagram)
        except DecodeError as error:
            return self._drop("decode:" + error.reason)
        if any(option_type != SEGMENTATION_OPTION for option_type, _ in header.options):
            return self._drop("unsupported-option")
        if header.media_type == 0 and not header.private_encoding:
            return self._drop("reserved-media-type")
        segment = header.segment
        if segment is None:
            return Message(
                header.publisher_id,
                header.message_id,
                header.media_type,
                header.private_encoding,
                bytes(payload),
                1,
            )
        key = (source, header.publisher_id, header.message_id)
        number, is_last = segment
        return self._add_segment(header.publisher_id, header.message_id, header.media_type, header.private_encoding,
                                 number, is_last, bytes(payload), key)

    def _add_segment(
        self,
        publisher_id: int,
        message_id: int,
        media_type: int,
        private_encoding: bool,
        number: int,
        is_last: bool,
        payload: bytes,
        key: _MessageKey,
    ) -> Message | None:
        if key in self._completed:
            return self._drop("duplicate-segment")
        partial = self._partials.get(key)
        if partial is None:
            partial = _Partial(self._clock(), media_type, private_encoding)
        reason = partial.rejection(
            media_type, private_encoding, number, is_last, payload, self.max_segments, self.max_message_bytes
        )
        if reason is not None:
            if reason != "duplicate-segment":
                self._partials.pop(key, None)
            return self._drop(reason)
        partial.add(number, is_last, payload)
        if not partial.complete:
            if key not in self._partials:
                self._partials[key] = partial
                self._held_since.append((partial.started, key))
            return None
        self._partials.pop(key, None)
        completed_at = self._clock()
        self._completed[key] = completed_at
        self._held_since.append((completed_at, key))
        return Message(
            publisher_id,
            message_id,
            partial.media_type,
            partial.private_encoding,
            partial.payload(),
            len(partial.segments),
        )

    def _drop(self, reason: str) -> None:
        self.drops[reason] += 1

    def expire(self, now: float | None = None) -> int:
        """Drop partial messages older than ``timeout``; return how many were dropped."""
        if now is None:
            now = self._clock()
        cutoff = now - self.timeout
        expired = 0
        held_since = self._held_since
        while held_since and held_since[0][0] <= cutoff:
            _, key = held_since.popleft()
            # The entry may be stale; whatever is held for its key now goes only when it is due.
            partial = self._partials.get(key)
            if partial is not None and partial.started <= cutoff:
                del self._partials[key]
                expired += 1
            completed_at = self._completed.get(key)
            if completed_at is not None and completed_at <= cutoff:
                del self._completed[key]
        if expired:
            self.drops["expired"] += expired
        return expired
