"""A polling job's formatting and processing instructions (3GPP TS 29.574 FormattingInstruction
and ProcessingInstruction, as ``mso-3gpp-message-bus`` configures them), one home for their shape
and for their wire form: the Master writes them to the bus (KV bucket
``mso.bus.INSTRUCTIONS_BUCKET``), the bus workers read them there.

The wire form is JSON with the attribute names of TS 29.574 and of the YANG module, so what a
5GC engineer reads in the bucket is what the specification calls it. Beside them, a job that asks
for data carries its ``dataSelection``: the job's own dataSelector read as steps, by which the
worker cuts each record of a (possibly wider) collection to the job's share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mso.date_and_time import format_epoch, parse_epoch

SUMMARIZATION_ATTRIBUTES = ("SPACING", "DURATION", "OCCURRENCES", "AVG_VAR", "FREQ_VAL", "MIN_MAX")
ENTRY, ALL = "ENTRY", "ALL"  # aggregation levels: per list entry on the path, or over all of them
DEFAULT_EXPIRY = 300  # seconds buffered notifications wait for a fetch


@dataclass(frozen=True)
class ReportingOptions:
    min_clubbed: int | None = None
    max_clubbed: int | None = None
    window: tuple[float, float] | None = None  # notifyWindow as POSIX times: start, stop
    notify_period: int | None = None  # seconds
    notify_period_inc: int | None = None  # seconds


@dataclass(frozen=True)
class FormatInstruction:
    cons_trig_notif: bool = False
    expiry: int = DEFAULT_EXPIRY
    reporting: ReportingOptions = field(default_factory=ReportingOptions)


@dataclass(frozen=True)
class ParamProcInstruction:
    name: str  # a path of RFC 7951 member names: "ietf-interfaces:interfaces/interface/statistics/in-octets"
    sum_attrs: tuple[str, ...]
    values: tuple[str, ...] = ()  # empty: every value, in one entry
    aggr_level: str = ALL

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(self.name.strip("/").split("/"))


@dataclass(frozen=True)
class ProcInstruction:
    interval: int  # procInterval, seconds
    params: tuple[ParamProcInstruction, ...]


@dataclass(frozen=True)
class SelectionTest:
    """On a step: the node's child leaf (namespace, name) has one of ``values`` (XPath ``=``
    against string literals, several joined by ``or``)."""

    namespace: str
    name: str
    values: frozenset[str]


@dataclass(frozen=True)
class SelectionStep:
    """A child step of a dataSelector: a node by namespace and name, and the tests its entries
    (or the container) must pass, all of them (``and``)."""

    namespace: str
    name: str
    tests: tuple[SelectionTest, ...] = ()


@dataclass(frozen=True)
class DataSelection:
    """A polling job's dataSelector as the steps a bus worker cuts records by: what it
    selects is the last step's nodes whole, with their ancestors (list entries by their keys),
    as the job's own subscription would have pushed them. ``selector`` is its text, for whoever
    reads the bucket."""

    selector: str
    steps: tuple[SelectionStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a data selection has at least one step")


@dataclass(frozen=True)
class JobInstructions:
    """What a bus worker does for one polling job: read ``topic``, cut each record to
    ``selection`` (if any), summarise the records by ``processing`` (if any), format the
    notifications by ``formatting``."""

    job: str
    consumer: str
    topic: str
    formatting: FormatInstruction = field(default_factory=FormatInstruction)
    processing: tuple[ProcInstruction, ...] = ()
    selection: DataSelection | None = None  # None: the topic's records whole

    def to_wire(self) -> dict:
        wire = {"job": self.job, "consumer": self.consumer, "topic": self.topic,
                "formatInstruct": _format_to_wire(self.formatting),
                "procInstructs": [_proc_to_wire(proc) for proc in self.processing]}
        if self.selection is not None:
            wire["dataSelection"] = _selection_to_wire(self.selection)
        return wire

    @classmethod
    def from_wire(cls, wire: Mapping) -> JobInstructions:
        """ValueError (or KeyError/TypeError, which callers treat alike) for what is not one."""
        return cls(job=str(wire["job"]), consumer=str(wire["consumer"]), topic=str(wire["topic"]),
                   formatting=_format_from_wire(wire.get("formatInstruct") or {}),
                   processing=tuple(_proc_from_wire(proc) for proc in wire.get("procInstructs") or ()),
                   selection=None if wire.get("dataSelection") is None else _selection_from_wire(wire["dataSelection"]))


def _selection_to_wire(selection: DataSelection) -> dict:
    return {"dataSelector": selection.selector,
            "steps": [{"namespace": step.namespace, "name": step.name,
                       "tests": [{"namespace": test.namespace, "name": test.name, "values": sorted(test.values)}
                                 for test in step.tests]} for step in selection.steps]}


def _selection_from_wire(wire: Mapping) -> DataSelection:
    steps = []
    for step in wire["steps"]:
        tests = []
        for test in step.get("tests") or ():
            values = test["values"]
            if not isinstance(values, list):  # empty: nothing passes (a selector such as [a='x' and a='y'])
                raise ValueError(f"a selection test of {test['name']!r} needs a list of values")
            tests.append(SelectionTest(_name(test["namespace"]), _name(test["name"]),
                                       frozenset(str(value) for value in values)))
        steps.append(SelectionStep(_name(step["namespace"]), _name(step["name"]), tuple(tests)))
    return DataSelection(str(wire["dataSelector"]), tuple(steps))


def _name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a namespace or a node name")
    return value


def _format_to_wire(formatting: FormatInstruction) -> dict:
    options = formatting.reporting
    reporting: dict = {name: value for name, value in (
        ("minClubbedNotif", options.min_clubbed), ("maxClubbedNotif", options.max_clubbed),
        ("notifyPeriod", options.notify_period), ("notifyPeriodInc", options.notify_period_inc)) if value is not None}
    if options.window is not None:
        reporting["notifyWindow"] = {"startTime": format_epoch(options.window[0]),
                                     "stopTime": format_epoch(options.window[1])}
    return {"consTrigNotif": formatting.cons_trig_notif, "expiry": formatting.expiry, "reportingOptions": reporting}


def _format_from_wire(wire: Mapping) -> FormatInstruction:
    reporting = wire.get("reportingOptions") or {}
    window = reporting.get("notifyWindow")
    return FormatInstruction(
        cons_trig_notif=bool(wire.get("consTrigNotif", False)), expiry=int(wire.get("expiry", DEFAULT_EXPIRY)),
        reporting=ReportingOptions(
            min_clubbed=_optional_int(reporting, "minClubbedNotif"), max_clubbed=_optional_int(reporting, "maxClubbedNotif"),
            window=None if window is None else (parse_epoch(window["startTime"]), parse_epoch(window["stopTime"])),
            notify_period=_optional_int(reporting, "notifyPeriod"),
            notify_period_inc=_optional_int(reporting, "notifyPeriodInc")))


def _proc_to_wire(proc: ProcInstruction) -> dict:
    return {"procInterval": proc.interval,
            "paramProcInstructs": [{"name": param.name, "values": list(param.values), "sumAttrs": list(param.sum_attrs),
                                    "aggrLevel": param.aggr_level} for param in proc.params]}


def _proc_from_wire(wire: Mapping) -> ProcInstruction:
    params = []
    for param in wire["paramProcInstructs"]:
        attributes = tuple(str(a) for a in param["sumAttrs"])
        unknown = [a for a in attributes if a not in SUMMARIZATION_ATTRIBUTES]
        if unknown:
            raise ValueError(f"unknown summarization attributes {unknown}")
        level = str(param.get("aggrLevel", ALL))
        if level not in (ENTRY, ALL):
            raise ValueError(f"unknown aggregation level {level!r}")
        params.append(ParamProcInstruction(name=str(param["name"]), sum_attrs=attributes,
                                           values=tuple(str(v) for v in param.get("values") or ()), aggr_level=level))
    return ProcInstruction(interval=int(wire["procInterval"]), params=tuple(params))


def _optional_int(wire: Mapping, name: str) -> int | None:
    value = wire.get(name)
    return None if value is None else int(value)
