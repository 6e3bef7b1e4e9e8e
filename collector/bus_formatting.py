"""When and how a consumer's notifications reach it (TS 23.288 §5A.4 formatting; TS 29.574
FormattingInstruction and ReportingOptions). Pure: notifications in as they come, deliveries
out, the clock passed in.

A delivery is one message to the consumer with the notifications it carries, in order:

- by default each notification is delivered as it comes, alone;
- ``minClubbedNotif`` holds them until that many wait, then delivers them together;
  ``maxClubbedNotif`` puts at most that many in one message (more make several);
- ``notifyWindow`` delivers only inside [startTime, stopTime): what comes before waits and goes
  when the window opens; what still waits when it closes, and what comes after, is dropped
  (counted in ``dropped``);
- ``notifyPeriod`` N delivers at the exact times k·N seconds since the epoch, what came
  meanwhile, also nothing (an empty message says nothing came);
- ``notifyPeriodInc`` N delivers the first notification at once, then what came meanwhile
  after N, 2N, 3N... (gaps growing by N; a due time with nothing to send sends nothing).

At a timed delivery (the window opening, a period, an increasing step) everything waiting goes,
in messages of at most ``maxClubbedNotif``; ``minClubbedNotif`` governs the deliveries that
notifications themselves trigger. With ``consTrigNotif`` every delivery is marked ``fetch``:
it waits in a ``FetchBuffer`` for the consumer to fetch it until ``expiry`` seconds after it was
made, then it is dropped and counted. At most ``MAX_WAITING`` notifications wait for a
delivery, and ``MAX_BUFFERED`` deliveries for a fetch; beyond, the oldest are dropped and
counted.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from mso.bus_instructions import FormatInstruction

MAX_WAITING = 10_000
MAX_BUFFERED = 10_000


@dataclass(frozen=True)
class Delivery:
    time: float
    notifications: tuple[dict, ...]
    fetch: bool = False  # buffered until the consumer fetches it
    expiry: float | None = None  # when a buffered delivery is dropped


class Formatter:
    def __init__(self, instruction: FormatInstruction) -> None:
        options = instruction.reporting
        self._minimum = options.min_clubbed or 1
        self._maximum = options.max_clubbed
        self._window = options.window
        self._period = options.notify_period
        self._increment = options.notify_period_inc
        self._fetch = instruction.cons_trig_notif
        self._expiry = instruction.expiry
        self._waiting: list[dict] = []
        self._next: float | None = None  # the next timed delivery
        self._steps = 0  # increasing deliveries made after the first
        self.dropped = 0

    def offer(self, notification: dict, now: float) -> list[Delivery]:
        if self._closed(now):
            self.dropped += 1
            return []
        self._waiting.append(notification)
        if len(self._waiting) > MAX_WAITING:
            del self._waiting[0]
            self.dropped += 1
        if not self._open(now):
            return []
        if self._increment is not None:
            return self._first_increasing(now)
        if self._period is None and len(self._waiting) >= self._minimum:
            return self._flush(now)
        return []

    def tick(self, now: float) -> list[Delivery]:
        if self._closed(now):
            self.dropped += len(self._waiting)
            self._waiting = []
            return []
        if self._period is not None:
            return self._periodic(now)
        if not self._open(now):
            return []
        if self._increment is not None:
            return self._first_increasing(now) if self._next is None else self._increasing(now)
        return self._flush(now) if len(self._waiting) >= self._minimum else []

    # --- the timings ------------------------------------------------------------------------

    def _periodic(self, now: float) -> list[Delivery]:
        period = self._period
        assert period is not None
        if self._next is None:
            self._next = (math.floor(now / period) + 1) * period
        if now < self._next:
            return []
        instant = math.floor(now / period) * period  # the latest due (one message however many were missed)
        self._next = instant + period
        return self._flush(instant, empty=True) if self._open(instant) else []

    def _first_increasing(self, now: float) -> list[Delivery]:
        if self._next is not None or not self._waiting:
            return []
        assert self._increment is not None
        self._next = now + self._increment
        self._steps = 1
        return self._flush(now)

    def _increasing(self, now: float) -> list[Delivery]:
        assert self._next is not None and self._increment is not None
        if now < self._next:
            return []
        instant = self._next
        while self._next <= now:  # the steps missed (a paused worker) are passed, not sent
            instant = self._next
            self._steps += 1
            self._next = instant + self._steps * self._increment
        return self._flush(instant) if self._waiting else []

    # --- the window ----------------------------------------------------------------------------

    def _open(self, now: float) -> bool:
        return self._window is None or self._window[0] <= now < self._window[1]

    def _closed(self, now: float) -> bool:
        return self._window is not None and now >= self._window[1]

    def _flush(self, time: float, empty: bool = False) -> list[Delivery]:
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return [self._delivery(time, ())] if empty else []
        size = self._maximum or len(waiting)
        return [self._delivery(time, tuple(waiting[i:i + size])) for i in range(0, len(waiting), size)]

    def _delivery(self, time: float, notifications: tuple[dict, ...]) -> Delivery:
        if self._fetch:
            return Delivery(time, notifications, fetch=True, expiry=time + self._expiry)
        return Delivery(time, notifications)


@dataclass(frozen=True)
class Fetched:
    deliveries: tuple[tuple[str, Delivery], ...]  # (correlation id, delivery), oldest first
    expired: int  # dropped since the previous fetch, unfetched
    more: bool  # more wait than this fetch took


class FetchBuffer:
    """Deliveries waiting for the consumer to fetch them (consTrigNotif), each until its expiry;
    correlation ids are 1, 2, 3... in order."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[str, Delivery]] = deque()
        self._next_id = 1
        self._expired = 0  # since the previous fetch
        self.expired_total = 0

    def put(self, delivery: Delivery) -> str:
        correlation_id = str(self._next_id)
        self._next_id += 1
        self._waiting.append((correlation_id, delivery))
        if len(self._waiting) > MAX_BUFFERED:
            self._waiting.popleft()
            self._count_expired(1)
        return correlation_id

    def expire(self, now: float) -> int:
        """Drop what expired by ``now``; how many."""
        dropped = 0
        while self._waiting and (self._waiting[0][1].expiry or math.inf) <= now:
            self._waiting.popleft()
            dropped += 1
        self._count_expired(dropped)
        return dropped

    def take(self, now: float, limit: int) -> Fetched:
        self.expire(now)
        taken = tuple(self._waiting.popleft() for _ in range(min(limit, len(self._waiting))))
        expired, self._expired = self._expired, 0
        return Fetched(taken, expired, bool(self._waiting))

    def _count_expired(self, count: int) -> None:
        self._expired += count
        self.expired_total += count
