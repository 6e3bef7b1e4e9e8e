"""The collector's receive path, datagram to record, on one thread and without I/O of its own:
UDP-notif reassembly, per-generator message-id accounting (duplicates dropped before the cost
of decoding), decoding, subscription knowledge from state notifications, slot reassembly and
hand-off to the outputs. The receiver feeds it datagrams, the Master channel feeds it NETCONF
notifications, and a timer calls ``tick``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

from lxml import etree

from collector.decoding import Event, EventDecoder, generator_of
from collector.knowledge import Knowledge, KnowledgeError
from collector.outputs import Outputs
from collector.reassembly import PERIODIC, STATE, UNKNOWN, Piece, Reassembly, Record
from collector.stats import GeneratorStats, Stats
from mso.generators import MASTER_GENERATOR
from mso.udp_notif import Reassembler, SourceAddress, whole_message

log = logging.getLogger("mso.collector")
STATE_MODULE = "ietf-subscribed-notifications:"
_REASSEMBLER_EXPIRY = 1.0  # seconds between sweeps: nothing partial outlives timeout + this
MAX_READ_LAG = 5.0  # seconds


class Pipeline:
    def __init__(
        self,
        decoder: EventDecoder,
        knowledge: Knowledge,
        reassembly: Reassembly,
        outputs: Outputs,
        stats: Stats,
        *,
        reassembler: Reassembler | None = None,
        on_unknown: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.decoder = decoder
        self.knowledge = knowledge
        self.reassembly = reassembly
        self.outputs = outputs
        self.stats = stats
        self.reassembler = reassembler or Reassembler()
        self.on_unknown = on_unknown
        self._clock = clock
        self._wall_clock = wall_clock
        self._next_expiry = clock() + _REASSEMBLER_EXPIRY
        self._read_up_to = clock()
        self._publishers: dict[int, GeneratorStats] = {}  # publisher id -> its counters, by number

    # --- inputs -----------------------------------------------------------------------------

    def datagram(self, data: bytes, source: SourceAddress) -> None:
        """One UDP datagram, from the receiver.

        The common datagram, one whole message with no options (``whole_message``), goes
        straight to decoding; anything else, segments included, goes through the reassembler,
        which applies every rule and counts every drop.
        """
        stats = self.stats
        stats.datagrams += 1
        stats.bytes += len(data)
        whole = whole_message(data)
        if whole is not None:
            self._message(source, *whole)
            return
        message = self.reassembler.feed(data, source)
        if message is not None:
            self._message(source, message.publisher_id, message.message_id, message.media_type,
                          message.private_encoding, message.payload)

    def _message(self, source: SourceAddress, publisher_id: int, message_id: int, media_type: int, private: bool,
                 payload: bytes) -> None:
        now = self._clock()
        counters = self._publishers.get(publisher_id)
        if counters is None:
            counters = self._publishers[publisher_id] = self.stats.generator(str(publisher_id))
        if not counters.message_ids.observe(message_id, now):
            return
        counters.messages += 1
        counters.last_seen = self._wall_clock()
        counters.source = source  # the export address a telemetry message names
        event = self.decoder.payload(media_type, private, payload)
        if event is None:
            return
        if event.sequence_number is not None:
            counters.sequence_numbers.observe(event.sequence_number, now)
        self.event(event, counters.generator, now)

    def netconf_notification(self, notification: etree._Element) -> None:
        """One ``<notification>`` from the Master's NETCONF session."""
        event = self.decoder.netconf(notification)
        if event is None:
            return
        generator = generator_of(event.body, MASTER_GENERATOR)
        counters = self.stats.generator(generator)
        counters.messages += 1
        counters.last_seen = self._wall_clock()
        self.event(event, generator, self._clock())

    def event(self, event: Event, generator: str, arrived: float) -> None:
        """A decoded event from ``generator``: a push, a state change, or another event."""
        if event.name.startswith(STATE_MODULE):
            self._state_change(event)
            return
        subscription_id = event.body.get("id")
        if not isinstance(subscription_id, int) or isinstance(subscription_id, bool):
            self.stats.errors["no-subscription-id"] += 1
            return
        records = self.reassembly.add(Piece(subscription_id, generator, event.name, event.event_time, event.body,
                                            arrived))
        if records:
            if self.on_unknown is not None and records[0].kind == UNKNOWN:
                self.on_unknown(subscription_id)
            self.emit(records)

    def _state_change(self, event: Event) -> None:
        try:
            change = self.knowledge.apply_state_change(event.name, event.body, event.event_time)
        except KnowledgeError as error:
            self.stats.errors["state-notification"] += 1
            log.warning("state-notification-unreadable", extra={"fields": {"error": str(error)}})
            return
        if change is None:
            return
        subscription_id = event.body["id"]
        log.info("subscription-" + change, extra={"fields": {"id": subscription_id}})
        self.outputs.publish(Record(subscription_id, STATE, event.event_time, event.name, event.body,
                                    (MASTER_GENERATOR,)))
        if change == "ended":
            self.emit(self.reassembly.end(subscription_id))
        else:
            self.emit(self.reassembly.regroup(subscription_id))

    def knowledge_changed(self, subscription_ids: Iterable[int]) -> None:
        """The Master channel learned something (a reply, a get): re-evaluate open slots."""
        for subscription_id in subscription_ids:
            self.emit(self.reassembly.regroup(subscription_id))

    def forget(self, subscription_ids: Iterable[int]) -> None:
        """Subscriptions that ended without a word (their session was lost)."""
        for subscription_id in subscription_ids:
            self.knowledge.end(subscription_id)
            self.emit(self.reassembly.end(subscription_id))

    # --- outputs ----------------------------------------------------------------------------

    def drained(self) -> None:
        """The receiver found its socket empty: everything that arrived until now has been read."""
        self._read_up_to = self._clock()

    def tick(self) -> None:
        """Deadlines and reorder windows; every second also the partial-message and gap sweeps.

        A receiver that is behind may hold a slot's missing piece unread in its socket, so
        deadlines pass only up to the last time it was caught up, but never lag more than
        ``MAX_READ_LAG`` behind the clock (a receiver behind for good loses data anyway).
        """
        now = self._clock()
        self.emit(self.reassembly.due(max(self._read_up_to, now - MAX_READ_LAG)))
        if now >= self._next_expiry:
            self._next_expiry = now + _REASSEMBLER_EXPIRY
            self.reassembler.expire()
            for counters in list(self.stats.generators.values()):
                counters.message_ids.expire(now)
                counters.sequence_numbers.expire(now)

    def emit(self, records: list[Record]) -> None:
        if not records:
            return
        stats = self.stats
        by_status, by_subscription = stats.records, stats.records_by_subscription
        latency, merge_latency, publish = stats.latency.observe, stats.merge_latency.observe, self.outputs.publish
        wall = self._wall_clock()
        for record in records:
            if record.kind == PERIODIC:
                status = "incomplete" if record.missing else "complete"
            else:
                status = record.kind
            by_status[status] += 1
            by_subscription[record.subscription_id, status] += 1
            latency(max(0.0, wall - record.time))
            merge_latency(max(0.0, record.emitted - record.last_arrival))
            publish(record)

    def flush(self) -> None:
        """Emit everything still open (at shutdown)."""
        self.emit(self.reassembly.flush())

    # --- figures ----------------------------------------------------------------------------

    def refusals(self) -> Counter[str]:
        """Everything refused, by reason: reassembler drops, decoder errors, pipeline errors."""
        total: Counter[str] = Counter()
        total.update(self.reassembler.drops)
        total.update(self.decoder.errors)
        total.update(self.stats.errors)
        return total

    @property
    def segments_pending(self) -> int:
        return self.reassembler.pending

