"""Summaries of a topic's records for one consumer (TS 23.288 §5A.4 processing; TS 29.574
ProcessingInstruction, NotifSummaryReport, EventParamReport). Pure: records in with their data
times, one summary report per processing interval out, the clock passed in.

A parameter is a path into a record's data (RFC 7951 member names); every list on the path is
walked, so a parameter has one *series* per list entry (named by its keys, as
``interface[name='1/0/1']``), each a value over time. A series' observations form *runs*: a run
of a value begins when the parameter takes that value (its first observation, or a change)
and lasts until the next run begins. Per interval, and per value the instruction restricts to
(or over every value when it names none):

- OCCURRENCES: how many runs began (the value occurred);
- SPACING: average and variance of the time between consecutive run beginnings of the same
  value; with no values named, between consecutive beginnings whatever the value, which for
  data that changes at every report is the reporting periodicity;
- DURATION: average and variance of how long the runs that ended in the interval held (a run
  still holding when the interval closes is reported in the interval where it ends);
- AVG_VAR: average, variance and skewness of the observed values (numbers only: RFC 7951 writes
  64-bit integers as strings, which count as numbers);
- FREQ_VAL: the most and the least frequent observed value (a tie goes to the value seen first);
- MIN_MAX: the smallest and the largest observed value (numerically when all are numbers).

Variances and skewness are of the population (divided by n). A summary is ENTRY-level (one per
series) or ALL-level (every series' observations, runs and spacings pooled). Runs carry over
from one interval to the next. An interval [k·I, (k+1)·I) (I the procInterval, k·I seconds
since the epoch) is reported once the clock passes its end by ``grace``, with the records whose
data time falls in it, taken in time order; a record for an interval already reported is late,
counted and left out. Intervals with no records are reported too (nothing occurred), from the
first record on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from mso.bus_instructions import ENTRY, ParamProcInstruction, ProcInstruction
from mso.instance_path import xpath_literal

MemberPath = tuple[str, ...]
ListKeys = Mapping[MemberPath, tuple[str, ...]]  # a list's member path -> its keys' member names
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
SUMMARY_GRACE = 2.0  # seconds after an interval's end before it is reported (late records still come)


@dataclass(frozen=True)
class SummaryReport:
    start: float
    interval: int
    event_reports: tuple[dict, ...]


class Summarizer:
    """One ProcessingInstruction over a stream of records."""

    def __init__(self, instruction: ProcInstruction, keys: ListKeys, grace: float = SUMMARY_GRACE) -> None:
        self.instruction = instruction
        self._grace = grace
        self._parameters = [_Parameter(param, keys) for param in instruction.params]
        self._waiting: dict[float, list[tuple[float, dict]]] = {}  # interval start -> (data time, data)
        self._next: float | None = None  # the start of the first interval not reported yet
        self.late = 0

    def record(self, time: float, data: dict) -> None:
        start = self._start_of(time)
        if self._next is None:
            self._next = start
        if start < self._next:
            self.late += 1
            return
        self._waiting.setdefault(start, []).append((time, data))

    def due(self, now: float) -> list[SummaryReport]:
        """The reports of the intervals that ended at least ``grace`` before ``now``, in order."""
        reports = []
        interval = self.instruction.interval
        while self._next is not None and self._next + interval + self._grace <= now:
            for time, data in sorted(self._waiting.pop(self._next, []), key=lambda item: item[0]):
                for parameter in self._parameters:
                    parameter.observe(time, data)
            reports.append(SummaryReport(self._next, interval,
                                         tuple(r for parameter in self._parameters for r in parameter.report())))
            self._next += interval
        return reports

    def _start_of(self, time: float) -> float:
        interval = self.instruction.interval
        return math.floor(time / interval) * interval


# --- one parameter -----------------------------------------------------------------------------

@dataclass
class _Series:
    """One list entry's value of a parameter over time: what carries across intervals, and what
    the current interval gathered."""

    watched: frozenset[str]  # the values whose own spacing is kept
    last_time: float | None = None
    run_value: str | None = None
    run_start: float = 0.0
    last_start: float | None = None  # of the latest run, whatever its value
    last_start_of: dict[str, float] = field(default_factory=dict)  # of the latest run of each watched value
    observations: list[object] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)  # the values of the runs that began
    gaps: list[float] = field(default_factory=list)  # between consecutive run beginnings
    gaps_of: list[tuple[str, float]] = field(default_factory=list)  # between beginnings of the same watched value
    durations: list[tuple[str, float]] = field(default_factory=list)  # of the runs that ended

    def observe(self, time: float, value: object) -> None:
        if self.last_time is not None and time <= self.last_time:
            return  # one observation per instant, in order
        self.last_time = time
        self.observations.append(value)
        text = value_text(value)
        if text == self.run_value:
            return
        if self.run_value is not None:
            self.durations.append((self.run_value, time - self.run_start))
        if self.last_start is not None:
            self.gaps.append(time - self.last_start)
        if text in self.watched:
            if text in self.last_start_of:
                self.gaps_of.append((text, time - self.last_start_of[text]))
            self.last_start_of[text] = time
        self.starts.append(text)
        self.run_value, self.run_start, self.last_start = text, time, time

    def restart_interval(self) -> None:
        self.observations, self.starts, self.gaps, self.gaps_of, self.durations = [], [], [], [], []


class _Parameter:
    def __init__(self, instruction: ParamProcInstruction, keys: ListKeys) -> None:
        self.instruction = instruction
        self._keys = keys
        self._steps = instruction.steps
        self._series: dict[str, _Series] = {}  # by entry, in the order first seen

    def observe(self, time: float, data: dict) -> None:
        for entry, value in _values(data, self._steps, (), (), self._keys):
            series = self._series.get(entry)
            if series is None:
                series = self._series[entry] = _Series(frozenset(self.instruction.values))
            series.observe(time, value)

    def report(self) -> list[dict]:
        """This interval's EventParamReports, then a new interval."""
        if self.instruction.aggr_level == ENTRY:
            groups = [(entry, [series]) for entry, series in self._series.items()]
        else:
            groups = [(None, list(self._series.values()))]
        reports = [self._entry(entry, series, value) for entry, series in groups
                   for value in (self.instruction.values or (None,))]
        for series in self._series.values():
            series.restart_interval()
        return reports

    def _entry(self, entry: str | None, group: Sequence[_Series], value: str | None) -> dict:
        """One EventParamReport: for the value ``value`` (None: every value) of ``group``."""
        def chosen(text: str) -> bool:
            return value is None or text == value

        observations = [v for s in group for v in s.observations if chosen(value_text(v))]
        report: dict = {"name": self.instruction.name}
        if value is not None:
            report["values"] = [value]
        if entry is not None:
            report["entry"] = entry
        for attribute in self.instruction.sum_attrs:
            if attribute == "OCCURRENCES":
                report["count"] = sum(1 for s in group for text in s.starts if chosen(text))
            elif attribute == "SPACING":
                gaps = ([g for s in group for g in s.gaps] if value is None
                        else [g for s in group for text, g in s.gaps_of if text == value])
                _put(report, "spacing", average_and_variance(gaps))
            elif attribute == "DURATION":
                _put(report, "duration", average_and_variance([d for s in group for text, d in s.durations
                                                               if chosen(text)]))
            elif attribute == "AVG_VAR":
                numbers = [number(v) for v in observations]
                if observations and None not in numbers:
                    _put(report, "avgAndVar", average_variance_skewness(numbers))
            elif attribute == "FREQ_VAL" and observations:
                report["mostFreqVal"], report["leastFreqVal"] = most_and_least_frequent(observations)
            elif attribute == "MIN_MAX" and observations:
                report["minValue"], report["maxValue"] = smallest_and_largest(observations)
        return report


def _put(report: dict, name: str, value: dict | None) -> None:
    if value is not None:
        report[name] = value


# --- reading a record's data --------------------------------------------------------------------

def _values(node: object, steps: Sequence[str], path: MemberPath, entry: tuple[str, ...],
            keys: ListKeys) -> Iterator[tuple[str, object]]:
    """(entry, value) for every value at ``steps`` below ``node``; ``entry`` names the list
    entries passed on the way."""
    if not steps:
        for value in node if isinstance(node, list) else [node]:
            if not isinstance(value, (dict, list)):
                yield "/".join(entry), value
        return
    if not isinstance(node, dict):
        return
    for member, child in node.items():
        if not _matches(steps[0], member):
            continue
        here = (*path, member)
        if isinstance(child, list) and child and all(isinstance(item, dict) for item in child):
            for position, item in enumerate(child, 1):
                yield from _values(item, steps[1:], here, (*entry, _entry_name(member, item, position, here, keys)),
                                   keys)
        else:
            yield from _values(child, steps[1:], here, entry, keys)


def _matches(step: str, member: str) -> bool:
    """A step names a member with or without its module: RFC 7951 qualifies a member only where
    its module changes."""
    if step == member:
        return True
    return step.rpartition(":")[2] == member.rpartition(":")[2] and (":" not in step or ":" not in member)


def _entry_name(member: str, item: dict, position: int, path: MemberPath, keys: ListKeys) -> str:
    names = keys.get(path)
    local = member.rpartition(":")[2]
    if not names:
        return f"{local}[{position}]"
    return local + "".join(f"[{name}={xpath_literal(value_text(item.get(name, '')))}]" for name in names)


# --- the arithmetic -----------------------------------------------------------------------------

def value_text(value: object) -> str:
    """A value as the instructions' ``values`` name it (RFC 7951 JSON texts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def average_and_variance(values: Sequence[float]) -> dict | None:
    if not values:
        return None
    mean = sum(values) / len(values)
    return {"number": mean, "variance": sum((v - mean) ** 2 for v in values) / len(values)}


def average_variance_skewness(values: Sequence[float]) -> dict | None:
    moments = average_and_variance(values)
    if moments is None:
        return None
    mean, variance = moments["number"], moments["variance"]
    third = sum((v - mean) ** 3 for v in values) / len(values)
    return {**moments, "skewness": third / variance ** 1.5 if variance > 0 else 0.0}


def most_and_least_frequent(values: Sequence[object]) -> tuple[object, object]:
    counts: dict[str, int] = {}
    first: dict[str, object] = {}
    for value in values:
        text = value_text(value)
        counts[text] = counts.get(text, 0) + 1
        first.setdefault(text, value)
    order = list(counts)  # first seen first: ties go to it
    most = max(order, key=lambda text: (counts[text], -order.index(text)))
    least = min(order, key=lambda text: (counts[text], order.index(text)))
    return first[most], first[least]


def smallest_and_largest(values: Sequence[object]) -> tuple[object, object]:
    """Numbers compare exactly (a counter64 is beyond a float's precision), other values as texts."""
    if any(number(value) is None for value in values):
        ordered = sorted(values, key=value_text)
    else:
        ordered = sorted(values, key=lambda value: Decimal(value_text(value)))
    return ordered[0], ordered[-1]
