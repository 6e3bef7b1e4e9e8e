"""UDP-notif codec: byte-exact fixtures from the draft, round trips, reassembly rules, fuzzing."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mso.udp_notif import (
    DecodeError,
    Header,
    MediaType,
    Message,
    Publisher,
    Reassembler,
    decode_header,
    encode_header,
    encode_message,
    whole_message,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# draft-ietf-netconf-udp-notif-26 Appendix A.3, Figure 6: Ver=1, S=0, MT=1, Header_Len=12,
# Message_Length=230, Message Publisher ID=2, Message ID=1563, then the 218-octet JSON of
# Figure 5. Octet by octet, per Figure 2: 0x21 = 0b001_0_0001 (Ver 1, S 0, MT 1); 0x0c = 12;
# 0x00e6 = 230; 0x00000002; 0x0000061b = 1563.
FIGURE_6_PAYLOAD = (
    b'{"ietf-notification:notification":{"eventTime":"2024-02-10T08:00:11.22Z",'
    b'"ietf-yang-push:push-update":{"id":1011,"datastore-contents":'
    b'{"ietf-interfaces:interfaces":[{"interface":{"name":"eth0","oper-status":"up"}}]}}}}'
)
FIGURE_6 = bytes.fromhex("21 0c 00e6 00000002 0000061b") + FIGURE_6_PAYLOAD

# A segment written by hand from Figures 2 and 4: 0x23 = Ver 1, S 0, MT 3 (CBOR); Header Len
# 16 (fixed 12 + option 4); Message Length 0x0014 = 20; publisher 0x01020304; message id
# 0xfffffffe; option Type 1, Length 4, then 0x000b = segment number 5 in the high 15 bits and
# L = 1 in the lowest bit; a 4-octet payload.
SEGMENT_5_LAST = bytes.fromhex("23 10 0014 01020304 fffffffe 01 04 000b a1 01 02 03")


def shuffled(items: list[bytes], seed: int) -> list[bytes]:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def fixed_clock() -> float:
    return 0.0


def segment(number: int, last: bool, payload: bytes, *, media_type: int = 1) -> bytes:
    """A segment of message 1 from publisher 1, packed field by field."""
    fixed = struct.pack("!BBHII", 0x20 | media_type, 16, 16 + len(payload), 1, 1)
    return fixed + struct.pack("!BBH", 1, 4, number << 1 | last) + payload


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- raw layer: byte-exact fixtures -------------------------------------------------------------


def test_draft_figure_6_decodes_to_its_fields() -> None:
    header, payload = decode_header(FIGURE_6)
    assert header == Header(
        version=1,
        private_encoding=False,
        media_type=MediaType.JSON,
        header_length=12,
        message_length=230,
        publisher_id=2,
        message_id=1563,
        segment=None,
        options=(),
    )
    assert bytes(payload) == FIGURE_6_PAYLOAD
    assert encode_header(header) + payload == FIGURE_6


def test_encode_message_reproduces_draft_figure_6() -> None:
    datagrams = encode_message(
        FIGURE_6_PAYLOAD, publisher_id=2, message_id=1563, media_type=MediaType.JSON
    )
    assert datagrams == [FIGURE_6]


def test_hand_written_segment_decodes_and_reencodes() -> None:
    header, payload = decode_header(SEGMENT_5_LAST)
    assert (header.media_type, header.header_length, header.message_length) == (3, 16, 20)
    assert (header.publisher_id, header.message_id) == (0x01020304, 0xFFFFFFFE)
    assert header.segment == (5, True)
    assert header.options == ((1, b"\x00\x0b"),)
    assert bytes(payload) == bytes.fromhex("a1010203")
    assert encode_header(header) + payload == SEGMENT_5_LAST


@pytest.mark.parametrize(
    ("field", "segment"),
    [("0001", (0, True)), ("0002", (1, False)), ("fffe", (32767, False)), ("ffff", (32767, True))],
)
def test_segment_number_is_the_high_15_bits_and_last_flag_the_lowest(
    field: str, segment: tuple[int, bool]
) -> None:
    datagram = bytes.fromhex(f"21 10 0010 00000001 00000001 01 04 {field}")
    assert decode_header(datagram)[0].segment == segment


def test_private_encoding_flag_and_media_type() -> None:
    # 0x3f = Ver 1, S 1, MT 15: a private media type number, free for the users to define.
    header, _ = decode_header(bytes.fromhex("3f 0c 000c 00000009 0000000a"))
    assert (header.private_encoding, header.media_type) == (True, 15)
    assert encode_header(header) == bytes.fromhex("3f 0c 000c 00000009 0000000a")


def test_unknown_option_is_kept_by_the_raw_layer() -> None:
    # Option type 9, length 3, value 0xaa after the segmentation option.
    datagram = bytes.fromhex("21 13 0014 00000001 00000002 01 04 0001 09 03 aa 7b")
    header, payload = decode_header(datagram)
    assert header.options == ((1, b"\x00\x01"), (9, b"\xaa"))
    assert header.segment == (0, True)
    assert encode_header(header) + payload == datagram


@pytest.mark.parametrize(
    ("hex_datagram", "reason"),
    [
        ("21 0c 000b 00000001 000000", "short"),
        ("41 0c 000c 00000001 00000001", "version"),
        ("01 0c 000c 00000001 00000001", "version"),
        ("21 0b 000c 00000001 00000001", "header-length"),
        ("21 10 000e 00000001 00000001 0104", "header-length"),
        ("21 0c 000d 00000001 00000001", "message-length"),
        ("21 0c 000c 00000001 00000001 ff", "message-length"),
        ("21 0d 000d 00000001 00000001 01", "option"),
        ("21 0e 000e 00000001 00000001 0901", "option"),
        ("21 0e 000e 00000001 00000001 0903", "option"),
        ("21 11 0011 00000001 00000001 01 05 000100", "segment-option"),
        ("21 14 0014 00000001 00000001 01 04 0002 01 04 0001", "segment-option"),
    ],
)
def test_malformed_datagrams_raise_decode_error_with_reason(hex_datagram: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_header(bytes.fromhex(hex_datagram))
    assert caught.value.reason == reason


def test_encode_header_refuses_a_header_length_that_disagrees_with_the_options() -> None:
    header, _ = decode_header(SEGMENT_5_LAST)
    fields = {name: getattr(header, name) for name in Header.__slots__}
    with pytest.raises(ValueError, match="header_length"):
        encode_header(Header(**{**fields, "header_length": 12}))
    with pytest.raises(ValueError, match="segment"):
        encode_header(Header(**{**fields, "segment": (4, True)}))


# --- send side ------------------------------------------------------------------------------------


def test_small_message_is_not_segmented_and_large_one_is() -> None:
    common = {"publisher_id": 1, "message_id": 1, "media_type": MediaType.JSON}
    one = encode_message(b"x" * 1388, **common, max_segment_size=1400)
    assert len(one) == 1 and decode_header(one[0])[0].segment is None
    two = encode_message(b"x" * 1389, **common, max_segment_size=1400)
    assert [decode_header(d)[0].segment for d in two] == [(0, False), (1, True)]
    assert [len(d) for d in two] == [1400, 16 + 1389 - 1384]


def test_encode_message_limits() -> None:
    common = {"publisher_id": 1, "message_id": 1, "media_type": MediaType.XML}
    assert len(encode_message(b"x" * 65523, **common)) == 1
    with pytest.raises(ValueError, match="segment it"):
        encode_message(b"x" * 65524, **common)
    assert len(encode_message(b"x" * 2**15, **common, max_segment_size=17)) == 2**15
    with pytest.raises(ValueError, match="segments"):
        encode_message(b"x" * (2**15 + 1), **common, max_segment_size=17)
    for size in (16, 65536):
        with pytest.raises(ValueError, match="max_segment_size"):
            encode_message(b"x", **common, max_segment_size=size)
    with pytest.raises(ValueError):
        encode_message(b"x", publisher_id=2**32, message_id=1, media_type=MediaType.XML)
    with pytest.raises(ValueError):
        encode_message(b"x", publisher_id=1, message_id=-1, media_type=MediaType.XML)
    with pytest.raises(ValueError):
        encode_message(b"x", publisher_id=1, message_id=1, media_type=0)  # type: ignore[arg-type]


def message_ids(datagram_lists: list[list[bytes]]) -> list[int]:
    return [decode_header(datagrams[0])[0].message_id for datagrams in datagram_lists]


def test_message_id_wraps_around_after_2_to_the_32_minus_1() -> None:
    publisher = Publisher(5, first_message_id=2**32 - 2)
    sent = [publisher.encode(b"{}", MediaType.JSON) for _ in range(4)]
    assert message_ids(sent) == [2**32 - 2, 2**32 - 1, 0, 1]


def test_publisher_message_ids_start_random_and_increase_by_one() -> None:
    firsts = {message_ids([Publisher(1).encode(b"{}", MediaType.JSON)])[0] for _ in range(8)}
    assert len(firsts) > 1
    publisher = Publisher(1)
    ids = message_ids([publisher.encode(b"x" * 3000, MediaType.CBOR) for _ in range(5)])
    assert [(ids[i + 1] - ids[i]) % 2**32 for i in range(4)] == [1, 1, 1, 1]


def test_a_message_that_fails_to_encode_uses_no_message_id() -> None:
    publisher = Publisher(1, max_segment_size=None, first_message_id=10)
    with pytest.raises(ValueError):
        publisher.encode(b"x" * 70000, MediaType.JSON)
    assert message_ids([publisher.encode(b"{}", MediaType.JSON)]) == [10]


# --- receive side ---------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", list(MediaType))
@pytest.mark.parametrize("size", [0, 500, 20_000])
def test_round_trip_per_media_type(media_type: MediaType, size: int) -> None:
    payload = random.Random(size).randbytes(size)
    publisher = Publisher(77, first_message_id=123)
    reassembler = Reassembler(clock=fixed_clock)
    results = [reassembler.feed(d) for d in publisher.encode(payload, media_type)]
    assert results[-1] == Message(77, 123, media_type, False, payload, len(results))
    assert results[:-1] == [None] * (len(results) - 1)
    assert not reassembler.drops and reassembler.pending == 0


def test_96_kb_in_64_shuffled_and_duplicated_segments() -> None:
    payload = random.Random(96).randbytes(96 * 1024)
    datagrams = Publisher(3, max_segment_size=1552).encode(payload, MediaType.JSON)
    assert len(datagrams) == 64
    reassembler = Reassembler(clock=fixed_clock)
    duplicates = datagrams[::5]
    source = ("192.0.2.1", 4000)
    results = [reassembler.feed(d, source) for d in shuffled(datagrams + duplicates, 1)]
    messages = [r for r in results if r is not None]
    assert len(messages) == 1
    assert messages[0].payload == payload and messages[0].segments == 64
    # Duplicates before completion hit the partial, later ones the completed record.
    assert reassembler.drops == {"duplicate-segment": len(duplicates)}
    assert reassembler.pending == 0


def test_missing_segment_delivers_nothing_and_expires() -> None:
    clock = Clock()
    reassembler = Reassembler(timeout=10.0, clock=clock)
    datagrams = Publisher(3).encode(bytes(20_000), MediaType.CBOR)
    missing = datagrams.pop(7)
    assert [reassembler.feed(d) for d in shuffled(datagrams, 2)] == [None] * len(datagrams)
    assert reassembler.pending == 1
    assert reassembler.expire(clock.now + 9.9) == 0
    assert reassembler.expire(clock.now + 10.0) == 1
    assert reassembler.drops == {"expired": 1} and reassembler.pending == 0
    clock.now += 10.0
    assert reassembler.feed(missing) is None  # starts a new partial message, cannot complete it
    assert reassembler.pending == 1


def test_feed_drops_overdue_partials_itself() -> None:
    clock = Clock()
    reassembler = Reassembler(timeout=5.0, clock=clock)
    first, *rest = Publisher(3).encode(bytes(5000), MediaType.XML)
    reassembler.feed(first)
    clock.now += 5.0
    assert reassembler.feed(FIGURE_6) is not None
    assert reassembler.drops == {"expired": 1} and reassembler.pending == 0
    assert [reassembler.feed(d) for d in rest] == [None] * len(rest)


def test_a_discarded_partial_does_not_shorten_the_life_of_its_successor() -> None:
    clock = Clock()
    reassembler = Reassembler(timeout=10.0, clock=clock)
    reassembler.feed(segment(0, False, b"a"))
    reassembler.feed(segment(0, False, b"b"))  # conflicting: the partial is discarded
    clock.now += 5.0
    reassembler.feed(segment(1, False, b"c"))  # same key, a new partial
    assert reassembler.expire(clock.now + 5.0) == 0 and reassembler.pending == 1
    assert reassembler.expire(clock.now + 10.0) == 1


def test_completed_messages_are_remembered_for_timeout_only() -> None:
    clock = Clock()
    reassembler = Reassembler(timeout=10.0, clock=clock)
    datagrams = Publisher(3).encode(bytes(3000), MediaType.JSON)
    assert [reassembler.feed(d) is not None for d in datagrams] == [False, False, True]
    clock.now += 9.0
    assert reassembler.feed(datagrams[0]) is None
    assert reassembler.drops == {"duplicate-segment": 1} and reassembler.pending == 0
    clock.now += 1.0
    assert reassembler.feed(datagrams[0]) is None
    assert reassembler.drops == {"duplicate-segment": 1} and reassembler.pending == 1


def test_partials_are_keyed_on_source_too() -> None:
    datagrams = Publisher(3, first_message_id=9).encode(bytes(range(256)) * 20, MediaType.JSON)
    reassembler = Reassembler(clock=fixed_clock)
    a, b = ("192.0.2.1", 1), ("192.0.2.2", 1)
    for datagram in datagrams[:-1]:
        assert reassembler.feed(datagram, a) is None
        assert reassembler.feed(datagram, b) is None
    assert reassembler.pending == 2
    assert reassembler.feed(datagrams[-1], a) is not None
    assert reassembler.feed(datagrams[-1], b) is not None
    assert not reassembler.drops


@pytest.mark.parametrize(
    ("datagrams", "reason"),
    [
        ([segment(0, False, b"a"), segment(0, False, b"b")], "conflicting-segment"),
        ([segment(0, False, b"a"), segment(0, True, b"a")], "conflicting-segment"),
        ([segment(3, True, b"a"), segment(2, True, b"a")], "conflicting-segment"),
        ([segment(3, True, b"a"), segment(4, False, b"a")], "conflicting-segment"),
        ([segment(3, False, b"a"), segment(2, True, b"a")], "conflicting-segment"),
        ([segment(0, False, b"a"), segment(1, False, b"a", media_type=2)], "media-type-mismatch"),
        ([segment(0, False, b"a"), segment(64, False, b"a")], "too-many-segments"),
        ([segment(0, False, bytes(60_000)), segment(1, False, bytes(60_000))], "too-large"),
    ],
)
def test_a_bad_segment_discards_its_partial_message(datagrams: list[bytes], reason: str) -> None:
    reassembler = Reassembler(max_segments=64, max_message_bytes=96 * 1024, clock=fixed_clock)
    assert [reassembler.feed(d) for d in datagrams] == [None, None]
    assert reassembler.drops == {reason: 1}
    assert reassembler.pending == 0


def test_limits_allow_what_the_draft_requires() -> None:
    reassembler = Reassembler(max_segments=64, max_message_bytes=96 * 1024, clock=fixed_clock)
    datagrams = [segment(n, n == 63, bytes(1536)) for n in range(64)]
    results = [reassembler.feed(d) for d in shuffled(datagrams, 3)]
    assert sum(r is not None for r in results) == 1 and not reassembler.drops


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        ("21 13 0014 00000001 00000002 01 04 0001 09 03 aa 7b", "unsupported-option"),
        ("20 0c 000d 00000001 00000002 7b", "reserved-media-type"),
        ("41 0c 000d 00000001 00000002 7b", "decode:version"),
        ("21 0c 000e 00000001 00000002 7b", "decode:message-length"),
        ("21", "decode:short"),
    ],
)
def test_rejected_datagrams_are_counted(datagram: str, reason: str) -> None:
    reassembler = Reassembler(clock=fixed_clock)
    assert reassembler.feed(bytes.fromhex(datagram)) is None
    assert reassembler.drops == {reason: 1}


def test_single_segment_with_option_and_private_encoding_is_delivered() -> None:
    reassembler = Reassembler(clock=fixed_clock)
    datagram = bytes.fromhex("3a 10 0013 00000004 00000005 01 04 0001 616263")
    assert reassembler.feed(datagram) == Message(4, 5, 10, True, b"abc", 1)
    assert reassembler.feed(datagram) is None
    assert reassembler.drops == {"duplicate-segment": 1}


@pytest.mark.parametrize(
    "limits",
    [{"timeout": 0}, {"timeout": 20.5}, {"max_segments": 63}, {"max_segments": 2**15 + 1},
     {"max_message_bytes": 96 * 1024 - 1}],
)
def test_reassembler_refuses_limits_below_what_the_draft_requires(limits: dict) -> None:
    with pytest.raises(ValueError):
        Reassembler(**limits)


# --- fuzzing --------------------------------------------------------------------------------------


@st.composite
def near_valid_datagrams(draw: st.DrawFn) -> bytes:
    """Well-formed datagrams (with and without options) with a few octets overwritten or cut."""
    payload = draw(st.binary(max_size=64))
    options = draw(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=4)), max_size=3))
    encoded = b"".join(bytes((t, len(v) + 2)) + v for t, v in options)
    header_length = 12 + len(encoded)
    first, ids = draw(st.integers(0, 255)), draw(st.binary(min_size=8, max_size=8))
    fixed = struct.pack("!BBH", first, header_length, header_length + len(payload)) + ids
    datagram = bytearray(fixed + encoded + payload)
    for _ in range(draw(st.integers(0, 3))):
        if datagram:
            datagram[draw(st.integers(0, len(datagram) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del datagram[draw(st.integers(0, len(datagram))) :]
    return bytes(datagram)


any_datagram = st.one_of(st.binary(max_size=128), near_valid_datagrams())


@FUZZ
@given(any_datagram)
def test_decode_header_raises_only_decode_error(datagram: bytes) -> None:
    try:
        header, payload = decode_header(datagram)
    except DecodeError:
        return
    assert encode_header(header) + payload == datagram


@st.composite
def datagram_streams(draw: st.DrawFn) -> list[bytes]:
    """Segments of a few messages, some duplicated or corrupted, mixed with noise, shuffled."""
    segments: list[bytes] = []
    for message_id in range(draw(st.integers(1, 3))):
        segments += encode_message(
            draw(st.binary(min_size=1, max_size=200)),
            publisher_id=draw(st.integers(0, 1)),
            message_id=message_id,
            media_type=MediaType.JSON,
            max_segment_size=draw(st.integers(17, 64)),
        )
    stream = segments + draw(st.lists(st.sampled_from(segments), max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(stream) - 1))
        corrupted = bytearray(stream[index])
        corrupted[draw(st.integers(0, len(corrupted) - 1))] ^= draw(st.integers(1, 255))
        stream.append(bytes(corrupted))
    stream += draw(st.lists(any_datagram, max_size=3))
    return draw(st.permutations(stream))


@FUZZ
@given(datagram_streams())
def test_every_datagram_is_delivered_counted_once_or_held(stream: list[bytes]) -> None:
    """Invariant, with a clock that stands still so nothing expires; each feed() does exactly one
    of: return a Message, no drop counter moving; return None with the drop counters grown by
    exactly one; return None with no counter moving because the datagram is now held in a
    pending partial message, which shows as feeding it again being a counted duplicate that
    leaves the pending partial messages as they were."""
    reassembler = Reassembler(clock=fixed_clock)
    for datagram in stream:
        drops_before = reassembler.drops.total()
        result = reassembler.feed(datagram)
        counted = reassembler.drops.total() - drops_before
        if result is not None:
            assert counted == 0
        elif counted:
            assert counted == 1
        else:
            duplicates, pending = reassembler.drops["duplicate-segment"], reassembler.pending
            assert reassembler.feed(datagram) is None
            assert reassembler.drops["duplicate-segment"] == duplicates + 1
            assert reassembler.pending == pending >= 1


@FUZZ
@given(
    payload=st.binary(max_size=5000),
    mss=st.integers(17, 1500),
    seed=st.integers(0, 2**16),
    media_type=st.sampled_from(MediaType),
)
def test_any_payload_round_trips_through_shuffled_segments(
    payload: bytes, mss: int, seed: int, media_type: MediaType
) -> None:
    datagrams = encode_message(
        payload, publisher_id=1, message_id=2, media_type=media_type, max_segment_size=mss
    )
    assert all(len(d) <= mss for d in datagrams)
    reassembler = Reassembler(clock=fixed_clock)
    results = [reassembler.feed(d) for d in shuffled(datagrams, seed)]
    assert results[:-1] == [None] * (len(datagrams) - 1)
    assert results[-1] == Message(1, 2, media_type, False, payload, len(datagrams))


@FUZZ
@given(
    first=st.integers(0, 255),
    ids=st.binary(min_size=8, max_size=8),
    payload=st.binary(max_size=16),
    length_error=st.sampled_from([0, 0, -1, 1, 300]),
)
def test_fast_path_agrees_with_decode_header(
    first: int, ids: bytes, payload: bytes, length_error: int
) -> None:
    """Option-less datagrams take the fast path in feed(); it must judge them as the full
    decoder does."""
    length = (12 + len(payload) + length_error) % 2**16
    datagram = struct.pack("!BBH", first, 12, length) + ids + payload
    delivered = Reassembler(clock=fixed_clock).feed(datagram)
    try:
        header, body = decode_header(datagram)
    except DecodeError:
        assert delivered is None
        return
    if header.media_type == 0 and not header.private_encoding:
        assert delivered is None
    else:
        assert delivered == Message(
            header.publisher_id,
            header.message_id,
            header.media_type,
            header.private_encoding,
            bytes(body),
            1,
        )


def test_whole_message_takes_a_complete_option_less_message_apart() -> None:
    assert whole_message(FIGURE_6) == (2, 1563, MediaType.JSON, False, FIGURE_6_PAYLOAD)


def test_whole_message_keeps_a_private_encoding_and_its_media_type() -> None:
    # 0x3f = Ver 1, S 1, MT 15, and a 1-octet payload.
    datagram = bytes.fromhex("3f 0c 000d 00000009 0000000a ff")
    assert whole_message(datagram) == (9, 10, 15, True, b"\xff")


@pytest.mark.parametrize(
    "datagram",
    [
        pytest.param(SEGMENT_5_LAST, id="segment"),
        pytest.param(bytes.fromhex("21 0f 0010 00000001 00000002 09 03 aa 7b"), id="option"),
        pytest.param(bytes([0x41]) + FIGURE_6[1:], id="version-2"),
        pytest.param(bytes.fromhex("20 0c 000d 00000001 00000002 7b"), id="reserved-media-type"),
        pytest.param(FIGURE_6[:11], id="truncated-header"),
        pytest.param(FIGURE_6[:-1], id="truncated-payload"),
        pytest.param(FIGURE_6 + b"\x00", id="trailing-octet"),
        pytest.param(b"", id="empty"),
    ],
)
def test_whole_message_leaves_every_other_datagram_to_the_reassembler(datagram: bytes) -> None:
    assert whole_message(datagram) is None
