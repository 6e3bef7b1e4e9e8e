"""The collector's receive path, datagram to record, on one thread and without I/O of its own:
the intake (collector.intake: UDP-notif reassembly, per-generator message-id accounting,
decoding), subscription knowledge from state notifications, slot reassembly and hand-off to the
outputs. The receiver feeds it datagrams, the Master channel feeds it NETCONF notifications, a
scaled-out collector's reassembler feeds it the receivers' events, and a timer calls ``tick``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

from lxml import etree

from collector.decoding import Event, EventDecoder, generator_of
from collector.intake import NO_RECORDS, Intake
from collector.knowledge import Knowledge, KnowledgeError
from collector.outputs import Outputs
from collector.reassembly import PERIODIC, STATE, UNKNOWN, Piece, Reassembly, Record
from collector.stats import Stats
from mso.generators import MASTER_GENERATOR
from mso.udp_notif import Reassembler, SourceAddress

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
        self.intake = Intake(decoder, stats, self.event, self.emit, reassembler=reassembler, clock=clock,
                             wall_clock=wall_clock)
        self.on_unknown = on_unknown
        self._clock = clock
        self._wall_clock = wall_clock
        self._next_expiry = clock() + _REASSEMBLER_EXPIRY
        self._read_up_to = clock()

    # --- inputs -----------------------------------------------------------------------------

    def datagram(self, data: bytes, source: SourceAddress) -> None:
        """One UDP datagram."""
        self.intake.datagrams([(data, source)])

    def datagrams(self, batch: list[tuple[bytes, SourceAddress]]) -> None:
        """The datagrams one read of the socket returned (collector.intake)."""
        self.intake.datagrams(batch)

    def netconf_notification(self, notification: etree._Element) -> None:
        """One ``<notification>`` from the Master's NETCONF session."""
        event = self.decoder.netconf(notification)
        if event is None:
            return
        generator = generator_of(event.body, MASTER_GENERATOR)
        counters = self.stats.generator(generator)
        counters.messages += 1
        counters.last_seen = self._wall_clock()
        self.emit(self.event(event, generator, self._clock()))

    def event(self, event: Event, generator: str, arrived: float) -> list[Record]:
        """A decoded event from ``generator``: a push, a state change, or another event.
        Returns the records it completes, for the caller to ``emit``."""
        if event.name.startswith(STATE_MODULE):
            return self._state_change(event)
        subscription_id = event.body.get("id")
        if subscription_id.__class__ is not int:  # bool is not int here, nor is anything else
            self.stats.errors["no-subscription-id"] += 1
            return NO_RECORDS
        records = self.reassembly.add(Piece(subscription_id, generator, event.name, event.event_time, event.body,
                                            arrived))
        if records and self.on_unknown is not None and records[0].kind == UNKNOWN:
            self.on_unknown(subscription_id)
        return records

    def _state_change(self, event: Event) -> list[Record]:
        try:
            change = self.knowledge.apply_state_change(event.name, event.body, event.event_time)
        except KnowledgeError as error:
            self.stats.errors["state-notification"] += 1
            log.warning("state-notification-unreadable", extra={"fields": {"error": str(error)}})
            return NO_RECORDS
        if change is None:
            return NO_RECORDS
        subscription_id = event.body["id"]
        log.info("subscription-" + change, extra={"fields": {"id": subscription_id}})
        state = Record(subscription_id, STATE, event.event_time, event.name, event.body, (MASTER_GENERATOR,))
        if change == "ended":
            return [state, *self.reassembly.end(subscription_id)]
        return [state, *self.reassembly.regroup(subscription_id)]

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

    def caught_up(self) -> None:
        """The receiver found its socket empty: everything that arrived until now has been read
        (or is in the batch it is about to hand over)."""
        self._read_up_to = self._clock()

    def tick(self) -> None:
        """Deadlines and reorder windows; every second also the partial-message and gap sweeps.

        A receiver that is behind may hold a slot's missing piece unread in its socket, so
        deadlines pass only up to the last time it was caught up, but never lag more than
        ``MAX_READ_LAG`` behind the clock (a receiver behind for good loses data anyway). The
        receiver looks at its socket before each tick, so an idle one counts as caught up.
        """
        now = self._clock()
        self.emit(self.reassembly.due(self.settled_until()))
        if now >= self._next_expiry:
            self._next_expiry = now + _REASSEMBLER_EXPIRY
            self.intake.expire(now)

    def settled_until(self) -> float:
        """The time up to which deadlines pass: when the input was last caught up, but never more
        than ``MAX_READ_LAG`` behind the clock."""
        return max(self._read_up_to, self._clock() - MAX_READ_LAG)

    def emit(self, records: list[Record]) -> None:
        """Count the records by status and latency (state changes are not counted) and hand
        them to the outputs, in order."""
        if not records:
            return
        stats = self.stats
        by_status, by_subscription = stats.records, stats.records_by_subscription
        wall = self._wall_clock()
        counted = [record for record in records if record.kind != STATE]
        for record in counted:
            if record.kind == PERIODIC:
                status = "incomplete" if record.missing else "complete"
            else:
                status = record.kind
            by_status[status] += 1
            by_subscription[record.subscription_id, status] += 1
        stats.latency.observe_all([wall - record.time for record in counted])
        stats.merge_latency.observe_all([record.emitted - record.last_arrival for record in counted])
        self.outputs.publish_all(records)

    def flush(self) -> None:
        """Emit everything still open (at shutdown)."""
        self.emit(self.reassembly.flush())

    # --- figures ----------------------------------------------------------------------------

    def refusals(self) -> Counter[str]:
        """Everything refused, by reason: reassembler drops, decoder errors, pipeline errors."""
        return self.intake.refusals()

    @property
    def segments_pending(self) -> int:
        return self.intake.segments_pending

