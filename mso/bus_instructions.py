"""A polling job's formatting and processing instructions (3GPP TS 29.574 FormattingInstruction
and ProcessingInstruction, as ``mso-3gpp-message-bus`` configures them), one home for their shape
and for their wire form: the Master writes them to the bus (KV bucket
``mso.bus.INSTRUCTIONS_BUCKET``), the bus workers read them there.

The wire form is JSON with the attribute names of TS 29.574 and of the YANG module, so what a
5GC engineer reads in the bucket is what the specification calls it.
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
class JobInstructions:
    """What a bus worker does for one polling job: read ``topic``, summarise its records by
    ``processing`` (if any), format the notifications by ``formatting``."""

    job: str
    consumer: str
    topic: str
    formatting: FormatInstruction = field(default_factory=FormatInstruction)
    processing: tuple[ProcInstruction, ...] = ()

    def to_wire(self) -> dict:
        return {"job": self.job, "consumer": self.consumer, "topic": self.topic,
                "formatInstruct": _format_to_wire(self.formatting),
                "procInstructs": [_proc_to_wire(proc) for proc in self.processing]}

    @classmethod
    def from_wire(cls, wire: Mapping) -> JobInstructions:
        """ValueError (or KeyError/TypeError, which callers treat alike) for what is not one."""
        return cls(job=str(wire["job"]), consumer=str(wire["consumer"]), topic=str(wire["topic"]),
                   formatting=_format_from_wire(wire.get("formatInstruct") or {}),
                   processing=tuple(_proc_from_wire(proc) for proc in wire.get("procInstructs") or ()))


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
