"""The collector's counters and their Prometheus exposition.

The receive path runs once per datagram, so it only bumps plain integers here; the Prometheus
collector reads them when scraped (prometheus-client's own Counter takes a lock per ``inc``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from collector.sequence import SequenceTracker

if TYPE_CHECKING:
    from collector.pipeline import Pipeline

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative-bucket histogram of seconds, Prometheus style, without locks."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

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
    message_ids: SequenceTracker = field(default_factory=SequenceTracker)
    sequence_numbers: SequenceTracker = field(default_factory=SequenceTracker)


@dataclass
class Stats:
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


class PipelineCollector(Collector):
    """Reads the pipeline's counters at scrape time."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def collect(self) -> Iterator:
        pipeline = self._pipeline
        stats = pipeline.stats
        yield _counter("datagrams", "UDP datagrams received", stats.datagrams)
        yield _counter("bytes", "UDP payload octets received", stats.bytes)
        yield _labelled(CounterMetricFamily, "decode_errors", "messages or datagrams refused, by reason",
                        "reason", pipeline.refusals())
        yield GaugeMetricFamily("mso_collector_segments_pending", "partial UDP-notif messages held",
                                value=pipeline.segments_pending)
        yield GaugeMetricFamily("mso_collector_slots_open", "periodic slots waiting for pieces",
                                value=pipeline.reassembly.open_slots)
        yield _labelled(CounterMetricFamily, "records", "records emitted, by status", "status", stats.records)
        yield _labelled(CounterMetricFamily, "output_drops", "records an output could not take", "output",
                        stats.output_drops)
        yield _counter("out_of_order", "on-change records emitted after a later one (arrived past the window)",
                       pipeline.reassembly.out_of_order)
        yield from self._generators(stats)
        yield _histogram("record_latency_seconds", "slot or event time to emission", stats.latency)
        yield _histogram("merge_latency_seconds", "last piece of a record to its emission", stats.merge_latency)

    def _generators(self, stats: Stats) -> Iterator:
        reassembly = self._pipeline.reassembly
        rows = list(stats.generators.values())
        series = {
            "messages": ("messages received", [g.messages for g in rows]),
            "lost_messages": ("message-id gaps not filled in time",
                              [g.message_ids.lost for g in rows]),
            "duplicate_messages": ("messages received twice and dropped", [g.message_ids.duplicates for g in rows]),
            "reordered_messages": ("messages that arrived after a later one and filled their gap",
                                   [g.message_ids.reordered for g in rows]),
            "sequence_gaps": ("envelope sequence-number gaps not filled in time",
                              [g.sequence_numbers.lost for g in rows]),
            "late_pieces": ("pieces for a slot already emitted", [reassembly.late[g.generator] for g in rows]),
            "duplicate_pieces": ("second pieces from one generator for one slot",
                                 [reassembly.duplicates[g.generator] for g in rows]),
            "publisher_restarts": ("message-id jumps too far to be loss: the publisher started again",
                                   [g.message_ids.resets for g in rows]),
        }
        for name, (documentation, values) in series.items():
            family = CounterMetricFamily(f"mso_collector_{name}", documentation, labels=["generator"])
            for row, value in zip(rows, values):
                family.add_metric([row.generator], value)
            yield family


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"mso_collector_{name}", documentation, value=value)


def _labelled(kind: type, name: str, documentation: str, label: str, values: Counter) -> object:
    family = kind(f"mso_collector_{name}", documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], value)
    return family


def _histogram(name: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(f"mso_collector_{name}", documentation, buckets=histogram.cumulative(),
                                 sum_value=histogram.total)


def serve_metrics(pipeline: Pipeline, host: str, port: int) -> tuple[object, int]:
    """Serve ``/metrics`` on HOST:PORT in a thread; returns the server and its port."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(pipeline))
    server, thread = start_http_server(port, host, registry=registry)
    return server, server.server_address[1]
