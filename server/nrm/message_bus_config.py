"""The message-bus MnS as running holds it (``mso-3gpp-message-bus``): the broking function, its
reporting and polling jobs (with the data a polling job asks for and its formatting and
processing instructions), the rules the schema cannot say, and what a reporting job asks of the
device (the configured subscription that feeds its topic).

Pure: reading a ``<data>`` tree, no I/O. The tree is expected to have passed
``Schema.validate_config``; ``check`` adds the Master's own rules, each refused with the
NETCONF error it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from mso import bus
from mso.bus_instructions import (DEFAULT_EXPIRY, FormatInstruction, JobInstructions, ParamProcInstruction,
                                  ProcInstruction, ReportingOptions)
from mso.date_and_time import parse_datetime, parse_epoch
from mso.filter_limits import check_subscription_xpath
from mso.filters import FilterError, bound_prefixes
from mso.instance_path import xpath_literal
from mso.namespaces import MESSAGE_BUS, NRM, qn
from mso.subscription_model import EPOCH, Encoding, FilterSpec, Periodic, Receiver, SubscriptionSpec

PATH_NAMESPACES = {"nrm": NRM, "mbus": MESSAGE_BUS}
_ENCODINGS = {"json": Encoding.JSON, "xml": Encoding.XML, "cbor": Encoding.CBOR}
PERFORMANCE, FAULT, PROPRIETARY = "PERFORMANCE", "FAULT", "PROPRIETARY"
SYSTEM_PREFIX = "sys-"  # the ids and topics of the collections the Master creates (system-created jobs)


class BusConfigError(Exception):
    """A configuration the Master cannot run, with what an rpc-error needs (paths use the
    prefixes of ``PATH_NAMESPACES``)."""

    def __init__(self, error_tag: str, message: str, path: str, app_tag: str | None = None) -> None:
        super().__init__(message)
        self.error_tag = error_tag
        self.message = message
        self.path = path
        self.app_tag = app_tag


@dataclass(frozen=True)
class ReportingJob:
    id: str
    path: str  # its instance path, for errors
    topic: str
    data_type: str
    selector: FilterSpec | None
    period_cs: int
    encoding: Encoding
    unlocked: bool
    system_created: bool = False


@dataclass(frozen=True)
class DataRequest:
    """What a polling job asks for instead of (or besides) naming topics."""

    selector: FilterSpec
    period_cs: int


@dataclass(frozen=True)
class PollingJob:
    id: str
    path: str
    consumer: str
    secret: str
    topics: tuple[str, ...]
    start: str  # FROM_START | FROM_TIME | NEW_ONLY
    start_time: datetime | None
    request: DataRequest | None = None
    formatting: FormatInstruction | None = None  # None: no formatInstruct
    processing: tuple[ProcInstruction, ...] = ()

    @property
    def instructed(self) -> bool:
        """Whether it has formatting or processing instructions (a bus worker then serves it on
        its own subject, as it serves every job that asks for data: ``BusPlan.shaped``)."""
        return self.formatting is not None or bool(self.processing)

    def instructions(self, topic: str) -> JobInstructions:
        return JobInstructions(self.id, self.consumer, topic, self.formatting or FormatInstruction(), self.processing)


@dataclass(frozen=True)
class BusConfig:
    subnetwork: str
    function: str
    endpoint: str
    reporting: tuple[ReportingJob, ...]
    polling: tuple[PollingJob, ...]

    @property
    def path(self) -> str:
        return _function_path(self.subnetwork, self.function)

    def reporting_job(self, topic: str) -> ReportingJob | None:
        return next((job for job in self.reporting if job.topic == topic), None)


def read_bus_config(running: etree._Element) -> BusConfig | None:
    """The device's MessageBrokingFunction (``check_one_function`` refuses a second one), or None."""
    functions = _functions(running)
    if not functions:
        return None
    subnetwork, function = functions[0]
    ids = _text(subnetwork, NRM, "id"), _text(function, MESSAGE_BUS, "id")
    path = _function_path(*ids)
    endpoint = _leaf(function.find(qn(MESSAGE_BUS, "attributes")), "brokerEndpoint") or bus.DEFAULT_ENDPOINT
    reporting = tuple(_reporting(entry, path)
                      for entry in function.iterchildren(qn(MESSAGE_BUS, "MessageBusDataReportingJob")))
    polling = tuple(_polling(entry, path) for entry in function.iterchildren(qn(MESSAGE_BUS, "MessageBusDataPollingJob")))
    return BusConfig(*ids, endpoint, reporting, polling)


def _functions(running: etree._Element) -> list[tuple[etree._Element, etree._Element]]:
    return [(subnetwork, function) for subnetwork in running.iterchildren(qn(NRM, "SubNetwork"))
            for function in subnetwork.iterchildren(qn(MESSAGE_BUS, "MessageBrokingFunction"))]


def check_one_function(running: etree._Element) -> None:
    """The device runs one message bus: a second MessageBrokingFunction, in any SubNetwork, is
    too many (as the schema says within one)."""
    functions = _functions(running)
    if len(functions) > 1:
        subnetwork, function = functions[1]
        raise BusConfigError("operation-failed", "this device runs one MessageBrokingFunction",
                             _function_path(_text(subnetwork, NRM, "id"), _text(function, MESSAGE_BUS, "id")),
                             "too-many-elements")


def _function_path(subnetwork: str, function: str) -> str:
    return (f"/nrm:SubNetwork[nrm:id={xpath_literal(subnetwork)}]"
            f"/mbus:MessageBrokingFunction[mbus:id={xpath_literal(function)}]")


def check(config: BusConfig | None) -> None:
    """The rules beyond the schema: the endpoint is a NATS one, a topic has one reporting job,
    a polling job names reporting jobs' topics, a consumer has one secret."""
    if config is None:
        return
    try:
        bus.parse_endpoint(config.endpoint)
    except ValueError as error:
        raise BusConfigError("invalid-value", str(error), f"{config.path}/mbus:attributes/mbus:brokerEndpoint") from None
    seen: set[str] = set()
    for job in config.reporting:
        _check_not_reserved(job)
        if job.topic in seen:
            raise BusConfigError("data-exists", f"topic {job.topic!r} already has a reporting job",
                                 f"{job.path}/mbus:attributes/mbus:topic")
        seen.add(job.topic)
    secrets: dict[str, str] = {}
    for polling in config.polling:
        for topic in polling.topics:
            if topic not in seen:
                raise BusConfigError("invalid-value", f"no reporting job publishes topic {topic!r}",
                                     f"{polling.path}/mbus:attributes/mbus:topics[.={xpath_literal(topic)}]")
        if secrets.setdefault(polling.consumer, polling.secret) != polling.secret:
            raise BusConfigError("invalid-value", f"consumer {polling.consumer!r} has another secret in another "
                                 "polling job", f"{polling.path}/mbus:attributes/mbus:consumerSecret")
        _check_polling(polling)


def _check_not_reserved(job: ReportingJob) -> None:
    for leaf, value in (("id", job.id), ("topic", job.topic)):
        if value.startswith(SYSTEM_PREFIX):
            where = job.path if leaf == "id" else f"{job.path}/mbus:attributes/mbus:topic"
            raise BusConfigError("invalid-value", f"reporting job {leaf}s beginning with {SYSTEM_PREFIX!r} are the "
                                 "collections the server creates", where)


def _check_polling(job: PollingJob) -> None:
    """A polling job reads something, and its instructions can be followed."""
    attributes = f"{job.path}/mbus:attributes"
    if not job.topics and job.request is None:
        raise BusConfigError("invalid-value", "a polling job names topics or asks for data with a dataSelector",
                             attributes)
    if job.topics and job.request is not None:
        raise BusConfigError("invalid-value", "a polling job names topics or asks for data with a dataSelector, not "
                             "both: the data it asks for is served from a topic the server chooses",
                             f"{attributes}/mbus:dataSelector")
    if job.instructed and len(job.topics) > 1:
        where = "formatInstruct" if job.formatting is not None else "procInstructs"
        raise BusConfigError("invalid-value", "formatting and processing instructions apply to the records of one "
                             "topic: give one topic or a dataSelector", f"{attributes}/mbus:{where}")
    if job.formatting is not None:
        _check_reporting_options(job.formatting.reporting, f"{attributes}/mbus:formatInstruct/mbus:reportingOptions")
    for proc in job.processing:
        for param in proc.params:
            steps = param.steps
            if any(not step for step in steps) or ":" not in steps[0]:
                raise BusConfigError(
                    "invalid-value", f"{param.name!r} is not a path of RFC 7951 member names whose first is qualified "
                    "by its module ('ietf-interfaces:interfaces/interface/statistics/in-octets')",
                    f"{attributes}/mbus:procInstructs[mbus:procInterval='{proc.interval}']"
                    f"/mbus:paramProcInstructs[mbus:name={xpath_literal(param.name)}]/mbus:name")


def _check_reporting_options(options: ReportingOptions, path: str) -> None:
    if options.notify_period is not None and options.notify_period_inc is not None:
        raise BusConfigError("invalid-value", "notifyPeriod and notifyPeriodInc exclude each other: a delivery is "
                             "either periodic or increasingly spaced", f"{path}/mbus:notifyPeriodInc")
    if options.min_clubbed is not None and options.max_clubbed is not None and options.min_clubbed > options.max_clubbed:
        raise BusConfigError("invalid-value", "minClubbedNotif is greater than maxClubbedNotif",
                             f"{path}/mbus:maxClubbedNotif")
    if options.window is not None and options.window[0] >= options.window[1]:
        raise BusConfigError("invalid-value", "the notifyWindow's stopTime is not after its startTime",
                             f"{path}/mbus:notifyWindow/mbus:stopTime")


def job_subscription(job: ReportingJob, subscription_id: int, receivers: Iterable[Receiver]) -> SubscriptionSpec | None:
    """The configured subscription that feeds a PERFORMANCE job's topic (decomposed across the
    device, reassembled by the collector); None for a job that reports nothing that way: locked,
    PROPRIETARY (the Master's own event stream, which it publishes itself: an event record names
    no subscription a collector could attribute it to) or FAULT (no alarm source here)."""
    if not job.unlocked or job.data_type != PERFORMANCE:
        return None
    # every collection ticks on the epoch's grid, so collections of one period share each
    # reading of a line card however their selectors differ (collect once at the source)
    return SubscriptionSpec(id=subscription_id, datastore="ds:operational", filter=job.selector,
                            trigger=Periodic(job.period_cs, EPOCH), encoding=job.encoding, configured=True,
                            receivers=tuple(receivers))


def _reporting(entry: etree._Element, function_path: str) -> ReportingJob:
    job_id = _text(entry, MESSAGE_BUS, "id")
    path = f"{function_path}/mbus:MessageBusDataReportingJob[mbus:id={xpath_literal(job_id)}]"
    attributes = entry.find(qn(MESSAGE_BUS, "attributes"))
    return ReportingJob(
        id=job_id, path=path, topic=_leaf(attributes, "topic") or "",
        data_type=_leaf(attributes, "managementDataType") or PERFORMANCE,
        selector=_selector(attributes, path),
        period_cs=int(_leaf(attributes, "reportingPeriod") or 100),
        encoding=_ENCODINGS[_leaf(attributes, "encoding") or "json"],
        unlocked=(_leaf(attributes, "administrativeState") or "UNLOCKED") == "UNLOCKED",
    )


def _selector(attributes: etree._Element | None, path: str) -> FilterSpec | None:
    """A job's dataSelector (``path`` is the job's), checked as any subscription's XPath filter."""
    element = None if attributes is None else attributes.find(qn(MESSAGE_BUS, "dataSelector"))
    if element is None:
        return None
    expression = (element.text or "").strip()
    namespaces = bound_prefixes(expression, element.nsmap)
    try:
        check_subscription_xpath(expression, dict(namespaces))
    except FilterError as error:
        raise BusConfigError("invalid-value", f"dataSelector: {error}",
                             f"{path}/mbus:attributes/mbus:dataSelector") from None
    return FilterSpec("xpath", xpath=expression, namespaces=namespaces)


def _polling(entry: etree._Element, function_path: str) -> PollingJob:
    job_id = _text(entry, MESSAGE_BUS, "id")
    path = f"{function_path}/mbus:MessageBusDataPollingJob[mbus:id={xpath_literal(job_id)}]"
    attributes = entry.find(qn(MESSAGE_BUS, "attributes"))
    topics = () if attributes is None else tuple((t.text or "").strip()
                                                 for t in attributes.iterchildren(qn(MESSAGE_BUS, "topics")))
    start_time = _leaf(attributes, "startTime")
    selector = _selector(attributes, path)
    request = None if selector is None else DataRequest(selector, int(_leaf(attributes, "reportingPeriod") or 100))
    return PollingJob(id=job_id, path=path, consumer=_leaf(attributes, "consumerId") or "",
                      secret=_leaf(attributes, "consumerSecret") or "", topics=topics,
                      start=_leaf(attributes, "startPosition") or "NEW_ONLY",
                      start_time=parse_datetime(start_time) if start_time else None, request=request,
                      formatting=_formatting(attributes), processing=_processing(attributes))


def _formatting(attributes: etree._Element | None) -> FormatInstruction | None:
    element = None if attributes is None else attributes.find(qn(MESSAGE_BUS, "formatInstruct"))
    if element is None or len(element) == 0:
        return None
    options = element.find(qn(MESSAGE_BUS, "reportingOptions"))
    window = None if options is None else options.find(qn(MESSAGE_BUS, "notifyWindow"))
    return FormatInstruction(
        cons_trig_notif=_leaf(element, "consTrigNotif") == "true", expiry=int(_leaf(element, "expiry") or DEFAULT_EXPIRY),
        reporting=ReportingOptions(
            min_clubbed=_number(options, "minClubbedNotif"), max_clubbed=_number(options, "maxClubbedNotif"),
            window=None if window is None else (parse_epoch(_leaf(window, "startTime") or ""),
                                                parse_epoch(_leaf(window, "stopTime") or "")),
            notify_period=_number(options, "notifyPeriod"), notify_period_inc=_number(options, "notifyPeriodInc")))


def _processing(attributes: etree._Element | None) -> tuple[ProcInstruction, ...]:
    if attributes is None:
        return ()
    return tuple(
        ProcInstruction(interval=int(_leaf(proc, "procInterval") or 0), params=tuple(
            ParamProcInstruction(
                name=_leaf(param, "name") or "",
                sum_attrs=tuple((a.text or "").strip() for a in param.iterchildren(qn(MESSAGE_BUS, "sumAttrs"))),
                values=tuple((v.text or "").strip() for v in param.iterchildren(qn(MESSAGE_BUS, "values"))),
                aggr_level=_leaf(param, "aggrLevel") or "ALL")
            for param in proc.iterchildren(qn(MESSAGE_BUS, "paramProcInstructs"))))
        for proc in attributes.iterchildren(qn(MESSAGE_BUS, "procInstructs")))


def _number(element: etree._Element | None, name: str) -> int | None:
    text = _leaf(element, name)
    return None if text is None else int(text)


def _leaf(attributes: etree._Element | None, name: str) -> str | None:
    if attributes is None:
        return None
    text = attributes.findtext(qn(MESSAGE_BUS, name))
    return None if text is None else text.strip()


def _text(element: etree._Element, namespace: str, tag: str) -> str:
    return (element.findtext(qn(namespace, tag)) or "").strip()
