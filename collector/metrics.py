"""The collector's Prometheus exposition: ``/metrics`` reads the counters when scraped.

The counters themselves live in ``collector.stats`` and ``collector.reassembly``; this module
is given them (and callables for the figures the pipeline computes) rather than the pipeline,
so that it depends on nothing above them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from collector.reassembly import Reassembly
from collector.stats import Histogram, Stats


class CollectorMetrics(Collector):
    """Reads the collector's counters at scrape time.

    ``refusals`` returns everything refused, by reason; ``segments_pending`` the number of
    partial UDP-notif messages held. Both are asked anew at every scrape. ``receive_buffer`` is
    the UDP socket's receive buffer as the kernel granted it. A process of a scaled-out collector
    has only one half: a receiver no ``reassembly``, a reassembler no socket (``receive_buffer``
    None) and no messages of its own; the series of the half it lacks are left out.
    """

    def __init__(
        self,
        stats: Stats,
        reassembly: Reassembly | None,
        *,
        refusals: Callable[[], Counter[str]],
        segments_pending: Callable[[], int],
        receive_buffer: int | None,
    ) -> None:
        self._stats = stats
        self._reassembly = reassembly
        self._refusals = refusals
        self._segments_pending = segments_pending
        self._receive_buffer = receive_buffer

    def collect(self) -> Iterator:
        stats, reassembly = self._stats, self._reassembly
        yield _counter("datagrams", "UDP datagrams received", stats.datagrams)
        yield _counter("bytes", "UDP payload octets received", stats.bytes)
        if self._receive_buffer is not None:
            yield GaugeMetricFamily("mso_collector_receive_buffer_bytes",
                                    "the UDP socket's receive buffer as granted by the kernel (SO_RCVBUF)",
                                    value=self._receive_buffer)
        yield _labelled(CounterMetricFamily, "decode_errors", "messages or datagrams refused, by reason",
                        "reason", self._refusals())
        yield GaugeMetricFamily("mso_collector_segments_pending", "partial UDP-notif messages held",
                                value=self._segments_pending())
        if reassembly is not None:
            yield GaugeMetricFamily("mso_collector_slots_open", "periodic slots waiting for pieces",
                                    value=reassembly.open_slots)
        yield _labelled(CounterMetricFamily, "records", "records emitted, by status", "status", stats.records)
        yield _labelled(CounterMetricFamily, "output_drops", "records an output could not take", "output",
                        stats.output_drops)
        if reassembly is not None:
            yield _counter("out_of_order", "on-change records emitted after a later one (arrived past the window)",
                           reassembly.out_of_order)
        yield from self._generators()
        yield _histogram("record_latency_seconds", "slot or event time to emission", stats.latency)
        yield _histogram("merge_latency_seconds", "last piece of a record to its emission", stats.merge_latency)

    def _generators(self) -> Iterator:
        """Per generator: what its messages came to here, and what reassembly made of its pieces."""
        reassembly = self._reassembly
        rows = {g.generator: g for g in list(self._stats.generators.values())}
        series: dict[str, tuple[str, dict[str, int]]] = {}
        if rows:
            series.update({
                "messages": ("messages received", {g: row.messages for g, row in rows.items()}),
                "lost_messages": ("message-id gaps not filled in time",
                                  {g: row.message_ids.lost for g, row in rows.items()}),
                "duplicate_messages": ("messages received twice and dropped",
                                       {g: row.message_ids.duplicates for g, row in rows.items()}),
                "reordered_messages": ("messages that arrived after a later one and filled their gap",
                                       {g: row.message_ids.reordered for g, row in rows.items()}),
                "sequence_gaps": ("envelope sequence-number gaps not filled in time",
                                  {g: row.sequence_numbers.lost for g, row in rows.items()}),
                "publisher_restarts": ("message-id jumps too far to be loss: the publisher started again",
                                       {g: row.message_ids.resets for g, row in rows.items()}),
            })
        if reassembly is not None:
            generators = [*rows, *(g for g in (*reassembly.late, *reassembly.duplicates) if g not in rows)]
            series["late_pieces"] = ("pieces for a slot already emitted",
                                     {g: reassembly.late[g] for g in dict.fromkeys(generators)})
            series["duplicate_pieces"] = ("second pieces from one generator for one slot",
                                          {g: reassembly.duplicates[g] for g in dict.fromkeys(generators)})
        for name, (documentation, values) in series.items():
            family = CounterMetricFamily(f"mso_collector_{name}", documentation, labels=["generator"])
            for generator, value in values.items():
                family.add_metric([generator], value)
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


def serve_metrics(metrics: CollectorMetrics, host: str, port: int) -> tuple[object, int]:
    """Serve ``/metrics`` on HOST:PORT in a thread; returns the server and its port."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    server, _thread = start_http_server(port, host, registry=registry)
    return server, server.server_address[1]
