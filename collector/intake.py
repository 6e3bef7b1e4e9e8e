"""Datagrams to decoded events, the first half of the collector's receive path: UDP-notif
reassembly, per-publisher message-id and sequence-number accounting (duplicates dropped before
the cost of decoding), decoding. Each event goes to ``deliver``, which returns the records it
completes; those of one batch go to ``emit`` together.

In one collector process ``deliver`` is the pipeline's reassembly; in a receiver of a scaled-out
collector it hands the event to the reassemblers over NATS (collector.piece_transport).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from collector.decoding import Event, EventDecoder
from collector.reassembly import Record
from collector.stats import GeneratorStats, Stats
from mso.udp_notif import (FIXED_HEADER, FIXED_HEADER_LENGTH, MEDIA_TYPE_BITS, PRIVATE_BIT, USABLE_FIRST_OCTETS,
                           Reassembler, SourceAddress)

log = logging.getLogger("mso.collector")
_U32 = 0xFFFFFFFF
NO_RECORDS: list[Record] = []  # what an input that makes no record returns (never appended to)
Deliver = Callable[[Event, str, float], list[Record]]


class Intake:
    def __init__(self, decoder: EventDecoder, stats: Stats, deliver: Deliver, emit: Callable[[list[Record]], None],
                 *, reassembler: Reassembler | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.decoder = decoder
        self.stats = stats
        self.deliver = deliver
        self._emit = emit
        self.reassembler = reassembler or Reassembler()
        self._clock = clock
        self._wall_clock = wall_clock
        self._publishers: dict[int, GeneratorStats] = {}  # publisher id -> its counters, by number

    def datagrams(self, batch: list[tuple[bytes, SourceAddress]]) -> None:
        """The datagrams one read of the socket returned, in arrival order.

        They share one reading of the clocks (they arrived together) and their records leave
        together, in order. The common datagram, one whole message with no options
        (``mso.udp_notif.whole_message``'s case, checked inline here), goes straight to
        decoding; anything else, segments included, goes through the reassembler, which applies
        every rule and counts every drop. A datagram whose handling raises is counted as
        ``internal-error`` and the rest of the batch goes on.
        """
        now, wall = self._clock(), self._wall_clock()
        stats = self.stats
        stats.datagrams += len(batch)
        unpack, usable, message = FIXED_HEADER.unpack_from, USABLE_FIRST_OCTETS, self._message
        records: list[Record] = []
        size = 0
        for data, source in batch:
            length = len(data)
            size += length
            try:
                if length >= FIXED_HEADER_LENGTH:
                    first, header_length, message_length, publisher_id, message_id = unpack(data)
                    if header_length == FIXED_HEADER_LENGTH and first in usable and message_length == length:
                        records += message(source, publisher_id, message_id, first & MEDIA_TYPE_BITS,
                                           first & PRIVATE_BIT != 0, data[FIXED_HEADER_LENGTH:], now, wall)
                        continue
                whole = self.reassembler.feed(data, source)
                if whole is not None:
                    records += message(source, whole.publisher_id, whole.message_id, whole.media_type,
                                       whole.private_encoding, whole.payload, now, wall)
            except Exception:
                stats.errors["internal-error"] += 1
                log.exception("datagram-handling-failed")
        stats.bytes += size
        self._emit(records)

    def _message(self, source: SourceAddress, publisher_id: int, message_id: int, media_type: int, private: bool,
                 payload: bytes, now: float, wall: float) -> list[Record]:
        """One UDP-notif message: counted for its publisher, dropped when a duplicate, decoded."""
        counters = self._publishers.get(publisher_id)
        if counters is None:
            counters = self._publishers[publisher_id] = self.stats.generator(str(publisher_id))
        ids = counters.message_ids
        highest = ids.highest
        if highest is not None and (message_id - highest) & _U32 == 1:  # the next one: SequenceTracker's common case
            ids.highest = message_id
        elif not ids.observe(message_id, now):
            return NO_RECORDS
        counters.messages += 1
        counters.last_seen = wall
        counters.source = source  # the export address a telemetry message names
        event = self.decoder.payload(media_type, private, payload)
        if event is None:
            return NO_RECORDS
        if event.sequence_number is not None:
            counters.sequence_numbers.observe(event.sequence_number, now)
        return self.deliver(event, counters.generator, now)

    def expire(self, now: float) -> None:
        """Drop partial messages past their time; count gaps held past their horizon as lost."""
        self.reassembler.expire()
        for counters in list(self.stats.generators.values()):
            counters.message_ids.expire(now)
            counters.sequence_numbers.expire(now)

    def refusals(self) -> Counter[str]:
        """Everything refused, by reason: reassembler drops, decoder errors, the path's own errors."""
        total: Counter[str] = Counter()
        total.update(self.reassembler.drops)
        total.update(self.decoder.errors)
        total.update(self.stats.errors)
        return total

    @property
    def segments_pending(self) -> int:
        return self.reassembler.pending
