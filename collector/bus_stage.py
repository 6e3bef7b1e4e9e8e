"""One polling job's stage between its topic and its consumer (TS 23.288 §5A.3.2: the messaging
framework formats and processes the data per consumer): the job's notifications are the topic's
records, cut to the job's own dataSelector when it asked for data (``collector.bus_selection``),
or, with procInstructs, the summary reports made of those; the formatting decides when they are
delivered. Pure: records in, the consumer's messages out, the clock passed in.

What the consumer receives on its own subject (``mso.bus.delivery_subject``), JSON:

- ``{"kind": "delivery", "job", "time", "notifications": [...]}``: one delivery, its
  notifications in order (records as on the topic, their data cut to the job's share, or
  summary reports);
- with consTrigNotif, ``{"kind": "fetch-instruction", "job", "time", "fetchCorrIds",
  "expiry"}`` instead: the delivery waits to be fetched until ``expiry``. A fetch answers
  ``{"job", "deliveries": [...], "fetchCorrIds": [...], "expired", "expiredTotal", "more"}``:
  the deliveries that waited, oldest first, and how many expired unfetched since the previous
  fetch and in all;
- a summary report is ``{"kind": "summary", "job", "topic", "procInterval", "startTime",
  "stopTime", "eventReports": [...]}``, the EventParamReports of ``collector.bus_summaries``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from collector.bus_formatting import Delivery, FetchBuffer, Formatter
from collector.bus_selection import SelectionCut
from collector.bus_summaries import SUMMARY_GRACE, ListKeys, Summarizer, SummaryReport
from mso.bus_instructions import JobInstructions
from mso.date_and_time import format_epoch, parse_epoch

SUMMARISED_KIND = "periodic"  # the records whose data summaries read (state changes carry none)


class ConsumerStage:
    """``modules``: namespace -> module name, for a selection's member names (ValueError when
    the selection names a namespace it lacks)."""

    def __init__(self, instructions: JobInstructions, keys: ListKeys,
                 modules: Mapping[str, str] = MappingProxyType({}), grace: float = SUMMARY_GRACE) -> None:
        self.instructions = instructions
        selection = instructions.selection
        self.cut = None if selection is None else SelectionCut(selection, modules, keys)
        self.formatter = Formatter(instructions.formatting)
        self.summarizers = [Summarizer(proc, keys, grace) for proc in instructions.processing]
        self.buffer = FetchBuffer()

    @property
    def fetched(self) -> bool:
        """Whether the consumer fetches its deliveries (consTrigNotif)."""
        return self.instructions.formatting.cons_trig_notif

    def record(self, record: dict, now: float) -> list[dict]:
        """A record of the job's topic, as the topic carries it."""
        if self.cut is not None:
            record = self.cut.record(record)
        if not self.summarizers:
            return self._messages(self.formatter.offer(record, now))
        if record.get("kind") == SUMMARISED_KIND and "time" in record:
            time = parse_epoch(record["time"])
            for summarizer in self.summarizers:
                summarizer.record(time, record.get("data") or {})
        return []

    def tick(self, now: float) -> list[dict]:
        deliveries = []
        for summarizer in self.summarizers:
            for report in summarizer.due(now):
                deliveries += self.formatter.offer(self.summary(report), now)
        self.buffer.expire(now)
        return self._messages(deliveries + self.formatter.tick(now))

    def fetch(self, now: float, limit: int) -> dict:
        taken = self.buffer.take(now, limit)
        return {"job": self.instructions.job, "deliveries": [self.delivery(d) for _, d in taken.deliveries],
                "fetchCorrIds": [correlation for correlation, _ in taken.deliveries], "expired": taken.expired,
                "expiredTotal": self.buffer.expired_total, "more": taken.more}

    @property
    def late(self) -> int:
        """Records that came for intervals already reported."""
        return sum(summarizer.late for summarizer in self.summarizers)

    def summary(self, report: SummaryReport) -> dict:
        return {"kind": "summary", "job": self.instructions.job, "topic": self.instructions.topic,
                "procInterval": report.interval, "startTime": format_epoch(report.start),
                "stopTime": format_epoch(report.start + report.interval), "eventReports": list(report.event_reports)}

    def delivery(self, delivery: Delivery) -> dict:
        return {"kind": "delivery", "job": self.instructions.job, "time": format_epoch(delivery.time),
                "notifications": list(delivery.notifications)}

    def _messages(self, deliveries: list[Delivery]) -> list[dict]:
        """What the consumer's subject gets for ``deliveries``: each, or a fetch instruction."""
        messages = []
        for delivery in deliveries:
            if not delivery.fetch:
                messages.append(self.delivery(delivery))
                continue
            assert delivery.expiry is not None
            messages.append({"kind": "fetch-instruction", "job": self.instructions.job,
                             "time": format_epoch(delivery.time), "fetchCorrIds": [self.buffer.put(delivery)],
                             "expiry": format_epoch(delivery.expiry)})
        return messages
