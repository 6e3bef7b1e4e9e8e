"""The collector's counters: plain integers and ``Counter``s that the receive path bumps.

The receive path runs once per datagram, so it only touches plain objects here;
``collector.metrics`` reads them when scraped (prometheus-client's own Counter takes a lock per
``inc``), and the dashboard reads them when it redraws.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from collector.sequence import SequenceTracker

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative-bucket histogram of seconds, Prometheus style, without locks."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe_all(self, values: Iterable[float]) -> None:
        """Each value, a negative one as 0 (a clock step makes a record look early)."""
        bounds, counts, bucket = self.bounds, self.counts, bisect.bisect_left
        total = 0.0
        for value in values:
            if value < 0.0:
                value = 0.0
            counts[bucket(bounds, value)] += 1
            total += value
        self.total += total

    def cumulative(self) -> list[tuple[str, int]]:
        running, out = 0, []
        for bound, bucket in zip((*map(str, self.bounds), "+Inf"), self.counts):
            running += bucket
            out.append((bound, running))
        return out


@dataclass(slots=True)
class GeneratorStats:
    """One message generator (a publisher id) as seen by this receiver."""

    generator: str
    messages: int = 0
    last_seen: float | None = None  # wall clock
    source: tuple[str, int] | None = None  # the UDP address its last UDP-notif message came from
    message_ids: SequenceTracker = field(default_factory=SequenceTracker)
    sequence_numbers: SequenceTracker = field(default_factory=SequenceTracker)


@dataclass
class Stats:
    """Everything one collector counts, shared by the receiver, the pipeline and the outputs."""

    datagrams: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # decode errors and refusals by reason
    records: Counter[str] = field(default_factory=Counter)  # by status
    records_by_subscription: Counter[tuple[int, str]] = field(default_factory=Counter)
    output_drops: Counter[str] = field(default_factory=Counter)  # by output
    generators: dict[str, GeneratorStats] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)  # event/slot time -> emitted
    merge_latency: Histogram = field(default_factory=Histogram)  # last piece -> emitted

    def generator(self, generator: str) -> GeneratorStats:
        stats = self.generators.get(generator)
        if stats is None:
            stats = self.generators[generator] = GeneratorStats(generator)
        return stats
