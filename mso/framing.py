"""RFC 6242 message framing for both ends of a NETCONF session.

Two framings exist: the end-of-message marker of base:1.0 (``]]>]]>``) used until both peers
have advertised base:1.1 in ``<hello>``, and chunked framing (RFC 6242 §4.2) after that.
The decoder is incremental (bytes arrive in arbitrary pieces from SSH) and enforces a maximum
message size, so a peer cannot make us buffer without bound.
"""

from __future__ import annotations

import re

EOM = b"]]>]]>"
END_OF_CHUNKS = b"\n##\n"
MAX_CHUNK_SIZE = 4294967295
# A chunk header is LF '#' chunk-size LF, chunk-size 1..4294967295 without leading zeros: at most
# 10 digits, so a complete header fits in 13 bytes and anything longer without LF is broken.
_CHUNK_HEADER = re.compile(rb"\n#([1-9][0-9]{0,9})\n")
_LONGEST_HEADER = 13


class FramingError(Exception):
    """The peer broke the framing; the session cannot continue (RFC 6242 §4.2: terminate)."""


class MessageTooLarge(FramingError):
    """A message grew beyond the configured limit."""


def frame_eom(message: bytes) -> bytes:
    """Frame one message for base:1.0."""
    return message + EOM


def frame_chunked(message: bytes) -> bytes:
    """Frame one message for base:1.1 as a single chunk (an empty message has no chunk)."""
    if not message:
        return END_OF_CHUNKS
    return b"\n#%d\n%s%s" % (len(message), message, END_OF_CHUNKS)


class FrameDecoder:
    """Splits an incoming byte stream into complete messages.

    Starts in end-of-message mode and yields only the first message (the peer's ``<hello>``)
    until ``hello_done`` says which framing follows: a base:1.1 peer may send its hello and a
    chunked ``<rpc>`` in one SSH packet, and those bytes must not be read as end-of-message.
    ``feed`` returns the messages completed by the new bytes, in order.
    """

    def __init__(self, max_message_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_message_bytes = max_message_bytes
        self.chunked = False
        self._awaiting_hello = True
        self._buffer = bytearray()
        self._message = bytearray()  # chunked mode: chunks of the message in progress
        self._chunk_remaining = 0

    def hello_done(self, chunked: bool) -> list[bytes]:
        """Fix the framing for the rest of the session; returns messages already buffered."""
        self.chunked = chunked
        self._awaiting_hello = False
        return self._drain()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        return self._drain()

    def _drain(self) -> list[bytes]:
        return self._drain_chunked() if self.chunked else self._drain_eom()

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buffer) + len(self._message)

    def _drain_eom(self) -> list[bytes]:
        messages = []
        start = 0
        while True:
            end = self._buffer.find(EOM, start)
            if end < 0:
                break
            messages.append(bytes(self._buffer[start:end]))
            start = end + len(EOM)
            if self._awaiting_hello:
                break
        del self._buffer[:start]
        if len(self._buffer) > self.max_message_bytes + len(EOM):
            raise MessageTooLarge(f"message exceeds {self.max_message_bytes} bytes")
        return messages

    def _drain_chunked(self) -> list[bytes]:
        messages = []
        buf = self._buffer
        pos = 0
        while True:
            if self._chunk_remaining:
                take = min(self._chunk_remaining, len(buf) - pos)
                if take == 0:
                    break
                self._message += buf[pos : pos + take]
                pos += take
                self._chunk_remaining -= take
                continue
            if buf.startswith(END_OF_CHUNKS, pos):
                if not self._message:
                    raise FramingError("end-of-chunks marker without any chunk")
                messages.append(bytes(self._message))
                self._message.clear()
                pos += len(END_OF_CHUNKS)
                continue
            match = _CHUNK_HEADER.match(buf, pos)
            if match is None:
                if self._is_incomplete_header(buf, pos):
                    break
                raise FramingError("invalid chunk header")
            size = int(match.group(1))
            if size > MAX_CHUNK_SIZE:
                raise FramingError("chunk size out of range")
            if len(self._message) + size > self.max_message_bytes:
                raise MessageTooLarge(f"message exceeds {self.max_message_bytes} bytes")
            self._chunk_remaining = size
            pos = match.end()
        del buf[:pos]
        return messages

    @staticmethod
    def _is_incomplete_header(buf: bytearray, pos: int) -> bool:
        """True while the buffered bytes may still become a chunk header or the end marker."""
        tail = bytes(buf[pos : pos + _LONGEST_HEADER])
        if END_OF_CHUNKS.startswith(tail):
            return True
        if not tail.startswith(b"\n#"):
            return False
        digits = tail[2:]
        return digits.isdigit() and not digits.startswith(b"0") and len(digits) <= 10
