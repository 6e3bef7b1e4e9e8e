"""Reassembly of one subscription's pieces from every generator into records (draft §6).

Pure: no I/O, the clock is injected. Pieces come in (one per decoded push), records go out.

* A ``push-update`` of a periodic subscription belongs to the slot ``anchor + k·period`` nearest
  its event time (publishers' clocks are synchronised, arrival order is not). The slot becomes
  one record as soon as every expected generator has delivered, or when its deadline passes
  (``deadline_factor`` periods after its first piece arrived) as an incomplete record naming the
  generators that did not. The expected set is the one in force for the slot's time, so a
  ``subscription-modified`` applies from the next slot; ``regroup`` re-evaluates open slots
  when the knowledge changes after their pieces came.
* Everything else (push-change-update, the push-updates of an on-change subscription, events
  of a stream subscription) passes through one by one, held ``reorder_window`` seconds so they
  leave in event-time order.
* A piece of a subscription the collector does not know is passed on at once as an
  ``unknown-subscription`` record: nothing says which generators to wait for.
* A second piece from one generator for one slot is a duplicate; a piece for a slot already
  emitted is late. Both are counted per generator and dropped.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import count

from collector.knowledge import Knowledge, generator_list
from collector.merge import Merger
from mso.date_and_time import format_epoch

PUSH_UPDATE = "ietf-yang-push:push-update"
PUSH_CHANGE_UPDATE = "ietf-yang-push:push-change-update"
PERIODIC, ON_CHANGE, UNKNOWN = "periodic", "on-change", "unknown-subscription"
STATE = "state"  # a state notification, for outputs that carry them (a reporting job's topic)
_CLOSED_MEMORY = 256  # emitted slots remembered per subscription (up to twice as many) to recognise late pieces
_ORDERS_MEMORY = 1024


@dataclass(slots=True)
class Piece:
    """One generator's share of a subscription at one event time."""

    subscription_id: int
    generator: str
    event: str  # qualified event name, "ietf-yang-push:push-update"
    event_time: float  # epoch seconds, from the publisher's clock
    body: dict  # the event's content, RFC 7951 JSON
    arrived: float  # the collector's clock when it arrived


@dataclass(slots=True)
class Record:
    """What the outputs get: a merged slot, or one passed-through event."""

    subscription_id: int
    kind: str  # PERIODIC, ON_CHANGE or UNKNOWN
    time: float  # the slot's tick, or the event time
    event: str
    data: dict  # datastore-contents (merged for a slot), datastore-changes, or another event's body
    present: tuple[str, ...]
    expected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    clashes: int = 0  # leaves two generators both gave, with different values
    last_arrival: float = 0.0  # collector clock
    emitted: float = 0.0  # collector clock
    event_time: float | None = None  # a slot's: its first piece's event time (None: ``time`` is the event time)

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_json(self) -> dict:
        """The JSON lines / message bus form."""
        out: dict = {
            "subscription-id": self.subscription_id,
            "kind": self.kind,
            "time": _format_time(self.time),
            "event": self.event,
        }
        if self.kind == PERIODIC:
            out["complete"] = not self.missing
            out["generators"] = {  # tuples: orjson writes them as arrays
                "expected": self.expected,
                "present": self.present,
                "missing": self.missing,
                "unexpected": self.unexpected,
            }
            if self.clashes:
                out["clashes"] = self.clashes
        else:
            out["generator"] = self.present[0]
        out["data"] = self.data
        return out


@dataclass(slots=True)
class _Slot:
    time: float
    expected: frozenset[str]
    event_time: float  # of the first piece
    pieces: dict[str, dict] = field(default_factory=dict)  # generator -> push-update body
    last_arrival: float = 0.0


@dataclass(slots=True)
class _SubscriptionState:
    open: dict[int, _Slot] = field(default_factory=dict)  # slot time in µs -> slot
    closed: dict[int, None] = field(default_factory=dict)  # recently emitted slot keys, oldest first
    changes: list[tuple[float, int, Piece]] = field(default_factory=list)  # heap on event time
    last_released: float = float("-inf")  # event time of the last pass-through record


class Reassembly:
    def __init__(
        self,
        knowledge: Knowledge,
        merger: Merger,
        *,
        deadline_factor: float = 1.5,
        reorder_window: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._knowledge = knowledge
        self._merger = merger
        self.deadline_factor = deadline_factor
        self.reorder_window = reorder_window
        self._clock = clock
        self._states: dict[int, _SubscriptionState] = {}
        self._deadlines: list[tuple[float, int, int]] = []  # (deadline, slot key, subscription id)
        self._arrivals = count()  # tie-breaker in the change heaps
        self.late: Counter[str] = Counter()  # by generator
        self.duplicates: Counter[str] = Counter()  # by generator
        self.out_of_order = 0  # changes that arrived after the window and left out of order
        self._orders: dict[frozenset[str], tuple[str, ...]] = {}

    @property
    def open_slots(self) -> int:
        return sum(len(state.open) for state in self._states.values())

    def add(self, piece: Piece) -> list[Record]:
        """Take one piece; return the records it completes (at most one)."""
        subscription = self._knowledge.subscriptions.get(piece.subscription_id)
        if subscription is None:
            return [self._pass_through(piece, UNKNOWN)]
        policy = subscription.policy_at(piece.event_time)
        state = self._states.get(piece.subscription_id)
        if state is None:
            state = self._states[piece.subscription_id] = _SubscriptionState()
        if policy.period is None or piece.event != PUSH_UPDATE:
            heapq.heappush(state.changes, (piece.event_time, next(self._arrivals), piece))
            return []
        slot_time = policy.slot_of(piece.event_time)
        key = round(slot_time * 1_000_000)
        slot = state.open.get(key)
        if slot is None:
            if key in state.closed:
                self.late[piece.generator] += 1
                return []
            expected = subscription.policy_at(slot_time).generators
            if len(expected) == 1 and piece.generator in expected:  # one originator: no waiting
                return [self._single(piece, state, key, slot_time, expected)]
            slot = state.open[key] = _Slot(slot_time, expected, piece.event_time)
            deadline: float | None = piece.arrived + self.deadline_factor * policy.period
        elif piece.generator in slot.pieces:
            self.duplicates[piece.generator] += 1
            return []
        else:
            deadline = None
        slot.pieces[piece.generator] = piece.body
        slot.last_arrival = piece.arrived
        if slot.expected and slot.expected.issubset(slot.pieces):
            return [self._close(piece.subscription_id, state, key)]
        if deadline is not None:  # a slot completed by its first piece never needs one
            heapq.heappush(self._deadlines, (deadline, key, piece.subscription_id))
        return []

    def due(self, read_up_to: float | None = None) -> list[Record]:
        """Records whose time has come: slots past their deadline, changes past the window.

        ``read_up_to`` is when the receiver last found its socket empty: a missing piece may
        still be waiting there, unread, so a deadline counts as passed only up to that time.
        """
        now = self._clock()
        if read_up_to is not None:
            now = min(now, read_up_to)
        records = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, key, subscription_id = heapq.heappop(deadlines)
            state = self._states.get(subscription_id)
            if state is not None and key in state.open:
                records.append(self._close(subscription_id, state, key))
        for subscription_id, state in self._states.items():
            if state.changes:
                records.extend(self._release(subscription_id, state, now - self.reorder_window))
        return records

    def regroup(self, subscription_id: int) -> list[Record]:
        """The expected generators changed: re-evaluate the subscription's open slots."""
        subscription = self._knowledge.get(subscription_id)
        state = self._states.get(subscription_id)
        if subscription is None or state is None:
            return []
        records = []
        for key, slot in list(state.open.items()):
            slot.expected = subscription.policy_at(slot.time).generators
            if slot.expected and slot.expected.issubset(slot.pieces):
                records.append(self._close(subscription_id, state, key))
        return records

    def end(self, subscription_id: int) -> list[Record]:
        """The subscription is over: everything it still holds goes out now."""
        state = self._states.get(subscription_id)
        if state is None:
            return []
        records = [self._close(subscription_id, state, key) for key in list(state.open)]
        records.extend(self._release(subscription_id, state, float("inf")))
        del self._states[subscription_id]
        return records

    def flush(self) -> list[Record]:
        """Everything still held, now: at shutdown."""
        records = []
        for subscription_id in list(self._states):
            records.extend(self.end(subscription_id))
        return records

    def _single(self, piece: Piece, state: _SubscriptionState, key: int, slot_time: float,
                expected: frozenset[str]) -> Record:
        """The record of a slot its only expected generator completes with its first piece."""
        _remember(state.closed, key)
        order = self._order(expected)
        return Record(piece.subscription_id, PERIODIC, slot_time, PUSH_UPDATE,
                      piece.body.get("datastore-contents") or {}, order, order, (), (), 0, piece.arrived,
                      self._clock(), piece.event_time)

    def _close(self, subscription_id: int, state: _SubscriptionState, key: int) -> Record:
        slot = state.open.pop(key)
        _remember(state.closed, key)
        pieces, expected = slot.pieces, slot.expected
        expected_order = self._order(expected)
        if pieces.keys() == expected:  # the common case: exactly the generators announced
            present, missing, unexpected = expected_order, (), ()
        else:
            present = self._order(frozenset(pieces))
            missing = self._order(expected.difference(pieces))
            unexpected = self._order(frozenset(pieces.keys() - expected))
        if len(present) == 1:
            data, clashes = pieces[present[0]].get("datastore-contents") or {}, 0
        else:
            data, clashes = self._merger.merge([pieces[g].get("datastore-contents") or {} for g in present])
        return Record(subscription_id, PERIODIC, slot.time, PUSH_UPDATE, data, present, expected_order, missing,
                      unexpected, clashes, slot.last_arrival, self._clock(), slot.event_time)

    def _order(self, generators: frozenset[str]) -> tuple[str, ...]:
        """Generator ids in human order, remembered: a subscription has few distinct sets."""
        order = self._orders.get(generators)
        if order is None:
            if len(self._orders) > _ORDERS_MEMORY:
                self._orders.clear()
            order = self._orders[generators] = tuple(generator_list(generators))
        return order

    def _release(self, subscription_id: int, state: _SubscriptionState, arrived_by: float) -> list[Record]:
        """Pass-through pieces that arrived by ``arrived_by``, in event-time order: an older
        one that arrived later holds the rest back until its own window ends."""
        records = []
        changes = state.changes
        while changes and changes[0][2].arrived <= arrived_by:
            event_time, _, piece = heapq.heappop(changes)
            if event_time < state.last_released:
                self.out_of_order += 1
            state.last_released = max(state.last_released, event_time)
            records.append(self._pass_through(piece, ON_CHANGE))
        return records

    def _pass_through(self, piece: Piece, kind: str) -> Record:
        return Record(
            piece.subscription_id,
            kind,
            piece.event_time,
            piece.event,
            _content(piece.event, piece.body),
            (piece.generator,),
            last_arrival=piece.arrived,
            emitted=self._clock(),
        )


def _remember(closed: dict[int, None], key: int) -> None:
    """Remember an emitted slot; past twice the memory, forget the older half at once (a dict's
    first key costs a scan past every key deleted before it, so one at a time grew dear)."""
    closed[key] = None
    if len(closed) > 2 * _CLOSED_MEMORY:
        for old in list(closed)[:-_CLOSED_MEMORY]:
            del closed[old]


@lru_cache(maxsize=4096)
def _format_time(seconds: float) -> str:
    """Records of one tick share their time: format it once (strftime is not cheap)."""
    return format_epoch(seconds)


def _content(event: str, body: dict) -> dict:
    """What a pass-through record carries: the data of a push, the whole body of other events."""
    if event == PUSH_UPDATE:
        return body.get("datastore-contents") or {}
    if event == PUSH_CHANGE_UPDATE:
        return body.get("datastore-changes") or {}
    return body
