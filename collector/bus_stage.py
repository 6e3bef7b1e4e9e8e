"""One polling job's stage between its topic and its consumer (TS 23.288 §5A.3.2: the messaging
framework formats and processes the data per consumer): the job's notifications are the topic's
records, or, with procInstructs, the summary reports made of them; the formatting decides when
they are delivered. Pure: records in, messages out, the clock passed in.

What the consumer receives on its own subject (``mso.bus.delivery_subject``), JSON:

- ``{"kind": "delivery", "job", "time", "notifications": [...]}``: one delivery, its
  notifications in order (records as on the topic, or summary reports);
- ``{"kind": "fetch-instruction", "job", "time", "fetchCorrIds", "expiry"}`` instead, with
  consTrigNotif: a delivery waits in the job's fetch buffer until ``expiry``;
- a summary report is ``{"kind": "summary", "job", "topic", "procInterval", "startTime",
  "stopTime", "eventReports": [...]}``, the EventParamReports of ``collector.bus_summaries``.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.bus_formatting import Delivery, Formatter
from collector.bus_summaries import SUMMARY_GRACE, ListKeys, Summarizer, SummaryReport
from mso.bus_instructions import JobInstructions
from mso.date_and_time import format_epoch, parse_epoch

SUMMARISED_KIND = "periodic"  # the records whose data summaries read (state changes carry none)


class ConsumerStage:
    def __init__(self, instructions: JobInstructions, keys: ListKeys, grace: float = SUMMARY_GRACE) -> None:
        self.instructions = instructions
        self.formatter = Formatter(instructions.formatting)
        self.summarizers = [Summarizer(proc, keys, grace) for proc in instructions.processing]

    def record(self, record: dict, now: float) -> list[Delivery]:
        """A record of the job's topic, as the topic carries it."""
        if not self.summarizers:
            return self.formatter.offer(record, now)
        if record.get("kind") == SUMMARISED_KIND and "time" in record:
            time = parse_epoch(record["time"])
            for summarizer in self.summarizers:
                summarizer.record(time, record.get("data") or {})
        return []

    def tick(self, now: float) -> list[Delivery]:
        deliveries = []
        for summarizer in self.summarizers:
            for report in summarizer.due(now):
                deliveries += self.formatter.offer(self.summary(report), now)
        return deliveries + self.formatter.tick(now)

    @property
    def late(self) -> int:
        """Records that came for intervals already reported."""
        return sum(summarizer.late for summarizer in self.summarizers)

    def summary(self, report: SummaryReport) -> dict:
        return {"kind": "summary", "job": self.instructions.job, "topic": self.instructions.topic,
                "procInterval": report.interval, "startTime": format_epoch(report.start),
                "stopTime": format_epoch(report.start + report.interval), "eventReports": list(report.event_reports)}

    def message(self, delivery: Delivery) -> dict:
        return {"kind": "delivery", "job": self.instructions.job, "time": format_epoch(delivery.time),
                "notifications": list(delivery.notifications)}

    def fetch_instruction(self, delivery: Delivery, correlation_ids: Sequence[str]) -> dict:
        assert delivery.expiry is not None
        return {"kind": "fetch-instruction", "job": self.instructions.job, "time": format_epoch(delivery.time),
                "fetchCorrIds": list(correlation_ids), "expiry": format_epoch(delivery.expiry)}
