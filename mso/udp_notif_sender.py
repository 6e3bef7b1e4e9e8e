"""The sending side of UDP-notif for a publisher (the Master, or an agent with its own id).

Each receiver gets its own contiguous message-id and envelope sequence-number series from this
publisher, so a collector can tell a lost message from one that simply went elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from mso.date_and_time import format_epoch
from mso.notification_encoding import EnvelopeCodec
from mso.subscription_model import Encoding, Receiver
from mso.udp_notif import MediaType, encode_message

log = logging.getLogger("mso.udp_notif")
MEDIA_TYPES = {Encoding.JSON: MediaType.JSON, Encoding.XML: MediaType.XML, Encoding.CBOR: MediaType.CBOR}
_U32 = 0xFFFFFFFF
DEFAULT_SEGMENT = 1400  # bytes per datagram when a receiver asks for segmentation without a size


@dataclass
class _Series:
    message_id: int
    sequence_number: int = 0


class UdpNotifPublisher:
    def __init__(self, publisher_id: int, codec: EnvelopeCodec, transport: asyncio.DatagramTransport) -> None:
        self.publisher_id = publisher_id
        self._codec = codec
        self._transport = transport
        self._series: dict[tuple[str, int], _Series] = {}
        self.dropped: Counter[str] = Counter()
        self.sent_datagrams = 0

    @classmethod
    async def open(cls, publisher_id: int, codec: EnvelopeCodec, local_host: str = "127.0.0.1") -> "UdpNotifPublisher":
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(local_host, 0),
                                                           family=socket.AF_INET)
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        return cls(publisher_id, codec, transport)

    def send(self, event: etree._Element, event_time: float, encoding: Encoding, receivers: Sequence[Receiver]) -> None:
        stamp = format_epoch(event_time)
        media_type = MEDIA_TYPES[encoding]
        for receiver in receivers:
            series = self._series_of(receiver)
            payload = self._codec.encode(event, event_time=stamp, sequence_number=series.sequence_number,
                                         encoding=encoding)
            segment_size = (receiver.max_segment_size or DEFAULT_SEGMENT) if receiver.enable_segmentation else None
            try:
                datagrams = encode_message(payload, publisher_id=self.publisher_id, message_id=series.message_id,
                                           media_type=media_type, max_segment_size=segment_size)
            except ValueError as error:  # too large for one datagram and segmentation is off
                self.dropped["too-large"] += 1
                log.warning("push-dropped", extra={"fields": {"receiver": receiver.name, "reason": str(error)}})
                continue
            series.message_id = (series.message_id + 1) & _U32
            series.sequence_number = (series.sequence_number + 1) & _U32
            for datagram in datagrams:
                self._transport.sendto(datagram, (receiver.address, receiver.port))
            self.sent_datagrams += len(datagrams)

    def _series_of(self, receiver: Receiver) -> _Series:
        key = (receiver.address, receiver.port)
        series = self._series.get(key)
        if series is None:
            # the draft asks for message ids that start at a random value
            series = self._series[key] = _Series(random.getrandbits(32))
        return series

    def close(self) -> None:
        self._transport.close()


class ReceiversEmitter:
    """The emitter of one configured (or agent component) subscription: its receivers, its encoding."""

    def __init__(self, publisher: UdpNotifPublisher, receivers: Sequence[Receiver], encoding: Encoding) -> None:
        self.publisher = publisher
        self.receivers = tuple(receivers)
        self.encoding = encoding

    def emit(self, event: etree._Element, event_time: float) -> None:
        self.publisher.send(event, event_time, self.encoding, self.receivers)
