"""RFC 6242 framing: both framings, arbitrary splits, and every way a peer can break them."""

import pytest
from hypothesis import given, settings, strategies as st

from mso.framing import (
    FrameDecoder,
    FramingError,
    MessageTooLarge,
    frame_chunked,
    frame_eom,
)

HELLO = b"<hello/>"


def chunked_decoder(limit: int = 1 << 20) -> FrameDecoder:
    decoder = FrameDecoder(limit)
    assert decoder.feed(frame_eom(HELLO)) == [HELLO]
    assert decoder.hello_done(chunked=True) == []
    return decoder


def test_eom_messages_in_one_read_after_hello():
    decoder = FrameDecoder()
    assert decoder.feed(frame_eom(HELLO)) == [HELLO]
    decoder.hello_done(chunked=False)
    assert decoder.feed(frame_eom(b"<a/>") + frame_eom(b"<b/>")) == [b"<a/>", b"<b/>"]


def test_hello_and_chunked_rpc_in_one_read():
    decoder = FrameDecoder()
    data = frame_eom(HELLO) + frame_chunked(b"<rpc/>")
    assert decoder.feed(data) == [HELLO]
    assert decoder.hello_done(chunked=True) == [b"<rpc/>"]


def test_rfc6242_example_with_two_chunks():
    decoder = chunked_decoder()
    wire = b"\n#4\n<rpc\n#18\n message-id=\"102\"\n\n##\n"
    assert decoder.feed(wire) == [b'<rpc message-id="102"\n']


@settings(max_examples=200)
@given(
    messages=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=50), max_size=40),
)
def test_chunked_any_split_yields_the_same_messages(messages, cuts):
    decoder = chunked_decoder()
    wire = b"".join(frame_chunked(m) for m in messages)
    received, pos = [], 0
    for cut in cuts:
        received += decoder.feed(wire[pos : pos + cut])
        pos += cut
    received += decoder.feed(wire[pos:])
    assert received == messages
    assert decoder.buffered == 0


@pytest.mark.parametrize(
    "wire",
    [
        b"\n#0\n\n##\n",  # chunk size 0
        b"\n#012\nabcdefghijkl\n##\n",  # leading zero
        b"\n#abc\n",  # not a number
        b"garbage",  # no header at all
        b"\n##\n",  # end marker before any chunk
        b"\n#99999999999\n",  # 11 digits
        b"\n#4294967296\nx",  # one over the maximum chunk size
    ],
)
def test_broken_chunk_framing_is_an_error(wire):
    decoder = chunked_decoder(limit=1 << 40)
    with pytest.raises(FramingError):
        decoder.feed(wire)


def test_incomplete_header_waits_for_more_bytes():
    decoder = chunked_decoder()
    assert decoder.feed(b"\n#1") == []
    assert decoder.feed(b"2\nhello world!\n#") == []
    assert decoder.feed(b"#\n") == [b"hello world!"]


def test_chunked_message_over_limit():
    decoder = chunked_decoder(limit=100)
    with pytest.raises(MessageTooLarge):
        decoder.feed(b"\n#60\n" + b"x" * 60 + b"\n#60\n")


def test_eom_message_over_limit():
    decoder = FrameDecoder(100)
    with pytest.raises(MessageTooLarge):
        decoder.feed(b"x" * 200)


def test_empty_chunked_message_frames_to_end_marker_only():
    assert frame_chunked(b"") == b"\n##\n"
