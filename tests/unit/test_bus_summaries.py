"""Each summary attribute (TS 29.574 SummarizationAttribute) on hand-computed data sets, the
intervals a summary covers, and the stage that feeds summaries to the formatting."""

from __future__ import annotations

import pytest

from collector.bus_stage import ConsumerStage
from collector.bus_summaries import Summarizer
from mso.bus_instructions import (ALL, ENTRY, FormatInstruction, JobInstructions, ParamProcInstruction,
                                  ProcInstruction, ReportingOptions)
from mso.date_and_time import format_epoch

KEYS = {("ietf-interfaces:interfaces", "interface"): ("name",)}
STATUS = "ietf-interfaces:interfaces/interface/oper-status"
OCTETS = "ietf-interfaces:interfaces/interface/statistics/in-octets"


def data(**interfaces: tuple[str, str]) -> dict:
    """Interfaces by name: (oper-status, in-octets as RFC 7951 writes a counter64)."""
    return {"ietf-interfaces:interfaces": {"interface": [
        {"name": name, "oper-status": status, "statistics": {"in-octets": octets}}
        for name, (status, octets) in interfaces.items()]}}


def summarizer(name: str, attributes: tuple[str, ...], level: str = ALL, values: tuple[str, ...] = (),
               interval: int = 10, grace: float = 0.0) -> Summarizer:
    param = ParamProcInstruction(name=name, sum_attrs=attributes, values=values, aggr_level=level)
    return Summarizer(ProcInstruction(interval, (param,)), KEYS, grace)


def reports(s: Summarizer, now: float) -> list[list[dict]]:
    return [list(report.event_reports) for report in s.due(now)]


STATES = ["up", "up", "down", "up", "up", "up", "down", "down", "up", "up"]  # at t = 0..9


def test_occurrences_spacing_and_duration_of_each_value_of_a_state() -> None:
    # runs: up 0-2, down 2-3, up 3-6, down 6-8, up from 8 (still holding at the interval's end)
    s = summarizer(STATUS, ("OCCURRENCES", "SPACING", "DURATION"), level=ENTRY, values=("up", "down"))
    for t, state in enumerate(STATES):
        s.record(float(t), data(a=(state, "0")))
    ((up, down),) = reports(s, 10.0)
    assert up == {"name": STATUS, "values": ["up"], "entry": "interface[name='a']", "count": 3,
                  "spacing": {"number": 4.0, "variance": 1.0},  # began at 0, 3, 8: gaps 3 and 5
                  "duration": {"number": 2.5, "variance": 0.25}}  # held 2 and 3; the third still holds
    assert down == {"name": STATUS, "values": ["down"], "entry": "interface[name='a']", "count": 2,
                    "spacing": {"number": 4.0, "variance": 0.0}, "duration": {"number": 1.5, "variance": 0.25}}
    s.record(10.0, data(a=("down", "0")))
    ((up, down),) = reports(s, 20.0)
    assert up["count"] == 0 and up["duration"] == {"number": 2.0, "variance": 0.0}  # the run begun at 8 ended at 10
    assert "spacing" not in up
    assert down["count"] == 1 and down["spacing"] == {"number": 4.0, "variance": 0.0}  # 6 -> 10, across intervals


COUNTERS = [(0.0, {"a": "9", "b": "20"}), (1.0, {"a": "20", "b": "20"}), (2.0, {"a": "30", "b": "100"})]


def counters_summary(attributes: tuple[str, ...], level: str = ALL) -> list[dict]:
    s = summarizer(OCTETS, attributes, level=level)
    for t, octets in COUNTERS:
        s.record(t, data(**{name: ("up", value) for name, value in octets.items()}))
    (event_reports,) = reports(s, 10.0)
    return event_reports


def test_avg_var_gives_average_variance_and_skewness_of_numbers() -> None:
    s = summarizer(OCTETS, ("AVG_VAR",))
    for t, octets in enumerate(["0", "0", "0", "4"]):
        s.record(float(t), data(a=("up", octets)))
    ((report,),) = reports(s, 10.0)
    # mean 1; deviations -1, -1, -1, 3: variance 12/4 = 3, third moment 24/4 = 6, skewness 6 / 3^1.5 = 2/sqrt(3)
    assert report["avgAndVar"] == pytest.approx({"number": 1.0, "variance": 3.0, "skewness": 2 / 3 ** 0.5})


def test_avg_var_of_equal_values_has_no_skew() -> None:
    s = summarizer(OCTETS, ("AVG_VAR",))
    s.record(0.0, data(a=("up", "5"), b=("up", "5")))
    ((report,),) = reports(s, 10.0)
    assert report["avgAndVar"] == {"number": 5.0, "variance": 0.0, "skewness": 0.0}


def test_min_max_compares_counters_as_numbers_and_freq_val_counts_values() -> None:
    (report,) = counters_summary(("MIN_MAX", "FREQ_VAL"))
    assert (report["minValue"], report["maxValue"]) == ("9", "100")  # as texts "100" < "9"
    assert (report["mostFreqVal"], report["leastFreqVal"]) == ("20", "9")  # 20 three times; 9, 30, 100 once: 9 first


def test_spacing_without_values_is_the_periodicity_and_occurrences_count_changes() -> None:
    (report,) = counters_summary(("SPACING", "OCCURRENCES", "DURATION"))
    # a changes at 0, 1, 2 (gaps 1, 1); b at 0 and 2 (gap 2): pooled 1, 1, 2
    assert report["count"] == 5
    assert report["spacing"] == pytest.approx({"number": 4 / 3, "variance": 2 / 9})
    assert report["duration"] == pytest.approx({"number": 4 / 3, "variance": 2 / 9})  # runs ended: 1, 1 and 2


def test_entry_level_names_each_interface_by_its_key() -> None:
    a, b = counters_summary(("MIN_MAX", "OCCURRENCES"), level=ENTRY)
    assert a == {"name": OCTETS, "entry": "interface[name='a']", "minValue": "9", "maxValue": "30", "count": 3}
    assert b == {"name": OCTETS, "entry": "interface[name='b']", "minValue": "20", "maxValue": "100", "count": 2}


def test_texts_have_no_average_and_compare_as_texts() -> None:
    s = summarizer(STATUS, ("AVG_VAR", "MIN_MAX", "FREQ_VAL"))
    for t, state in enumerate(STATES):
        s.record(float(t), data(a=(state, "0")))
    ((report,),) = reports(s, 10.0)
    assert "avgAndVar" not in report
    assert (report["minValue"], report["maxValue"]) == ("down", "up")
    assert (report["mostFreqVal"], report["leastFreqVal"]) == ("up", "down")


def test_intervals_wait_for_their_grace_late_records_are_left_out_and_empty_ones_are_reported() -> None:
    s = summarizer(OCTETS, ("OCCURRENCES",), interval=10, grace=2.0)
    s.record(5.0, data(a=("up", "1")))
    s.record(12.0, data(a=("up", "2")))  # the next interval's: not in the first
    assert s.due(11.9) == []
    (first,) = s.due(12.0)
    assert (first.start, first.interval, first.event_reports[0]["count"]) == (0.0, 10, 1)
    s.record(3.0, data(a=("up", "3")))
    assert s.late == 1
    second, third = s.due(32.0)
    assert (second.start, second.event_reports[0]["count"]) == (10.0, 1)
    assert (third.start, third.event_reports[0]["count"]) == (20.0, 0)  # nothing occurred


def test_a_path_step_matches_a_member_with_or_without_its_module() -> None:
    s = summarizer("ietf-interfaces:interfaces/ietf-interfaces:interface/statistics/in-octets", ("MIN_MAX",))
    s.record(0.0, data(a=("up", "7")))
    ((report,),) = reports(s, 10.0)
    assert report["minValue"] == "7"


def stage(formatting: FormatInstruction = FormatInstruction(), *procs: ProcInstruction) -> ConsumerStage:
    return ConsumerStage(JobInstructions("j", "alice", "t", formatting, procs), KEYS, grace=0.0)


def record(t: float, octets: str, kind: str = "periodic") -> dict:
    return {"kind": kind, "time": format_epoch(t), "data": data(a=("up", octets))}


def test_the_stage_formats_records_as_they_are_without_procinstructs() -> None:
    s = stage(FormatInstruction(reporting=ReportingOptions(min_clubbed=2)))
    assert s.record(record(0.0, "1"), 0.5) == []
    assert s.record(record(1.0, "2", kind="state"), 1.5) == [
        {"kind": "delivery", "job": "j", "time": format_epoch(1.5),
         "notifications": [record(0.0, "1"), record(1.0, "2", kind="state")]}]


def test_the_stage_delivers_summary_reports_formatted_and_reads_only_periodic_records() -> None:
    proc = ProcInstruction(10, (ParamProcInstruction(OCTETS, ("MIN_MAX",)),))
    s = stage(FormatInstruction(reporting=ReportingOptions(min_clubbed=2)), proc)
    for t, octets in ((1.0, "5"), (2.0, "8"), (11.0, "9")):
        assert s.record(record(t, octets), t + 0.1) == []
    s.record(record(3.0, "1000", kind="state"), 3.1)
    assert s.tick(10.5) == []  # one report waits for a second (minClubbedNotif 2)
    (message,) = s.tick(20.0)
    first, second = message["notifications"]
    assert first == {"kind": "summary", "job": "j", "topic": "t", "procInterval": 10, "startTime": format_epoch(0.0),
                     "stopTime": format_epoch(10.0),
                     "eventReports": [{"name": OCTETS, "minValue": "5", "maxValue": "8"}]}
    assert second["startTime"] == format_epoch(10.0) and second["eventReports"][0]["minValue"] == "9"


def test_the_stage_buffers_for_a_fetch_and_counts_what_expired() -> None:
    s = stage(FormatInstruction(cons_trig_notif=True, expiry=30))
    assert s.record(record(0.0, "1"), 1.0) == [{"kind": "fetch-instruction", "job": "j", "time": format_epoch(1.0),
                                                "fetchCorrIds": ["1"], "expiry": format_epoch(31.0)}]
    assert s.record(record(5.0, "2"), 5.0)[0]["fetchCorrIds"] == ["2"]
    s.tick(31.0)  # the first expires
    s.record(record(33.0, "3"), 33.0)
    fetched = s.fetch(34.0, limit=1)
    assert fetched["fetchCorrIds"] == ["2"] and fetched["more"] and (fetched["expired"], fetched["expiredTotal"]) == (1, 1)
    assert fetched["deliveries"] == [{"kind": "delivery", "job": "j", "time": format_epoch(5.0),
                                      "notifications": [record(5.0, "2")]}]
    rest = s.fetch(80.0, limit=10)  # 3 expired at 63
    assert (rest["deliveries"], rest["expired"], rest["expiredTotal"], rest["more"]) == ([], 1, 2, False)
    assert s.fetch(81.0, limit=10)["expired"] == 0
