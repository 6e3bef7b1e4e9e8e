"""Data collection coordination at the source (TS 23.288 §5A.2, §5A.3): the Master as the
coordinator, reporting jobs as the collections from the source, polling jobs that ask for data
(a dataSelector and a reportingPeriod) as the consumers' requests. Pure: configuration and the
previous decisions in, decisions out.

A request is served, in this order of preference, by:

1. a collection that already covers it (ALREADY_COLLECTED): an operator's unlocked PERFORMANCE
   reporting job, or a system-created one, whose period is the request's or a divisor of it
   and whose selector contains the request's (``selectors.contains``). The consumer is
   served from that job's topic (its share of it, below); nothing new is asked of the source;
2. a system-created collection that can be widened to cover it as well (PARTLY_COVERED): the
   union of the selectors exists (``selectors.union``) and one period divides the other. Its
   subscription is modified (selector the union, period the smaller one): one collection,
   not two. An operator's job is never widened: its topic carries what the operator asked
   for, to whoever reads it;
3. a new system-created collection (NOT_COLLECTED), reporting job and topic ``sys-N``.

Decisions last: a request keeps its collection while it stays the same (selector and period)
and, for an operator's job, while that job still covers it. A system-created collection is
whatever its requests need now: the union of their selectors at the smallest of their
periods (all others being multiples of it), so when a request goes the collection narrows
(and its subscription is modified again) and when the last goes it ends. A request that no
longer fits the narrowed collection (its period or selector joined only through one that
left) is decided again.

A consumer gets only what its request selects, however wide the collection serving it: every
polling job that asks for data is served by a bus worker on the job's own subject, which cuts
each record of the collection to the request's selector (``BusPlan.instructions``; the cut is
the request's own, whatever the collection, so it need not change when a collection widens or
narrows, and no record passes uncut meanwhile). A request whose selector the worker cannot cut
exactly (not ``selectors.cuttable``: opaque, or a test the records cannot answer) is never given
more than it asked for: it is served only by a system-created collection of exactly its
selector (``selectors.same``), uncut; never attached to an operator's job (whose selector the
operator may change under it) nor to, or widening, a collection of other requests.

The decisions are a function of the previous ones, the configuration and the schema's list
keys, and applying them twice changes nothing, so the Master can ask for them whenever it reads
a configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from mso.bus_instructions import JobInstructions
from mso.filters import KeyIndex
from mso.instance_path import xpath_literal
from mso.subscription_model import Encoding
from server.nrm import selectors
from server.nrm.message_bus_config import (PERFORMANCE, SYSTEM_PREFIX, BusConfig, DataRequest, PollingJob,
                                           ReportingJob)

ALREADY_COLLECTED, PARTLY_COVERED, NOT_COLLECTED = "ALREADY_COLLECTED", "PARTLY_COVERED", "NOT_COLLECTED"


@dataclass(frozen=True)
class Assignment:
    job: str  # the reporting job (an operator's, or a system-created one) that serves the request
    fingerprint: str  # the request it was decided for
    status: str  # what the Master found when it decided


@dataclass(frozen=True)
class Coordination:
    assignments: Mapping[str, Assignment] = field(default_factory=dict)  # polling job id ->
    next_number: int = 1  # of the next system-created collection

    def to_json(self) -> dict:
        return {"next": self.next_number,
                "assignments": {job: [a.job, a.fingerprint, a.status] for job, a in sorted(self.assignments.items())}}

    @classmethod
    def from_json(cls, stored: Mapping) -> Coordination:
        return cls({job: Assignment(*entry) for job, entry in (stored.get("assignments") or {}).items()},
                   int(stored.get("next", 1)))


@dataclass(frozen=True)
class Collection:
    """A system-created collection: its id (also its topic) and its requests, in order."""

    id: str
    members: tuple[str, ...]
    selector: selectors.Selector
    period_cs: int


@dataclass(frozen=True)
class BusPlan:
    """What the configuration and the decisions mean for the bus: every reporting job (the
    operators' and the system-created ones), and what each polling job reads."""

    config: BusConfig
    coordination: Coordination
    reporting: tuple[ReportingJob, ...]
    keys: KeyIndex

    def topics(self, job: PollingJob) -> tuple[str, ...]:
        """The topics ``job`` reads: those it names, or the one serving the data it asks for."""
        served = served_topic(self.coordination, self.config, job)
        return job.topics if served is None else (served,)

    def shaped(self, job: PollingJob) -> bool:
        """Whether a bus worker serves ``job`` on the job's own subject (rather than its
        consumer reading topics): it has instructions, or it asks for data (its share of the
        serving collection's records is cut there)."""
        return job.instructed or job.request is not None

    def instructions(self, job: PollingJob) -> JobInstructions | None:
        """What a bus worker does for ``job`` (its one topic's records), if it serves it."""
        if not self.shaped(job):
            return None
        selection = None
        if job.request is not None:
            wanted = selectors.read(job.request.selector)
            if selectors.cuttable(wanted, self.keys):  # else served by a collection of exactly it
                selection = selectors.selection(wanted)
        return replace(job.instructions(self.topics(job)[0]), selection=selection)

    def sharing(self, reporting: ReportingJob) -> list[str]:
        """The polling jobs that read ``reporting``'s topic."""
        return [job.id for job in self.config.polling if reporting.topic in self.topics(job)]


def plan(previous: Coordination, config: BusConfig, keys: KeyIndex) -> BusPlan:
    coordination = coordinate(previous, config, keys)
    return BusPlan(config, coordination, config.reporting + tuple(system_jobs(coordination, config, keys)), keys)


def fingerprint(request: DataRequest) -> str:
    spec = request.selector
    return f"{request.period_cs}|{spec.xpath}|{' '.join(f'{p}={n}' for p, n in spec.namespaces)}"


def coordinate(previous: Coordination, config: BusConfig | None, keys: KeyIndex) -> Coordination:
    """The decisions for every polling job of ``config`` that asks for data (``keys``: the
    schema's list keys, which say which requests a worker can cut exactly)."""
    if config is None:
        return Coordination(next_number=previous.next_number)
    requests = _requests(config)
    operators = {job.id: job for job in config.reporting if job.unlocked and job.data_type == PERFORMANCE}
    kept = {job: assignment for job, assignment in previous.assignments.items()
            if job in requests and assignment.fingerprint == fingerprint(requests[job])
            and (assignment.job.startswith(SYSTEM_PREFIX)
                 or _covers(operators.get(assignment.job), requests[job], keys))}
    kept = _fitting(kept, requests, keys)
    coordination = Coordination(kept, previous.next_number)
    for job, request in requests.items():
        if job not in coordination.assignments:
            coordination = _decide(coordination, job, request, operators, requests, keys)
    return coordination


def collections(coordination: Coordination, requests: Mapping[str, DataRequest], keys: KeyIndex) -> list[Collection]:
    """The system-created collections the decisions need, by number."""
    members: dict[str, list[str]] = {}
    for job, request in requests.items():  # in configuration order
        assignment = coordination.assignments.get(job)
        if assignment is not None and assignment.job.startswith(SYSTEM_PREFIX):
            members.setdefault(assignment.job, []).append(job)
    found = []
    for collection_id in sorted(members, key=_number):
        collection = _collection(collection_id, [(job, requests[job]) for job in members[collection_id]], keys)
        assert collection is not None, "decisions keep only requests that fit their collection"
        found.append(collection)
    return found


def system_jobs(coordination: Coordination, config: BusConfig, keys: KeyIndex) -> list[ReportingJob]:
    """The system-created reporting jobs: one per collection, its id also its topic."""
    requests = _requests(config)
    return [ReportingJob(id=c.id, path=f"{config.path}/mbus:MessageBusDataReportingJob[mbus:id={xpath_literal(c.id)}]",
                         topic=c.id, data_type=PERFORMANCE, selector=c.selector.spec, period_cs=c.period_cs,
                         encoding=Encoding.JSON, unlocked=True, system_created=True)
            for c in collections(coordination, requests, keys)]


def served_topic(coordination: Coordination, config: BusConfig, job: PollingJob) -> str | None:
    """The topic that carries the data ``job`` asks for (None when it asks for none)."""
    assignment = coordination.assignments.get(job.id)
    if assignment is None:
        return None
    operator = next((r for r in config.reporting if r.id == assignment.job), None)
    return assignment.job if operator is None else operator.topic


# --- deciding ------------------------------------------------------------------------------------

def _decide(coordination: Coordination, job: str, request: DataRequest, operators: Mapping[str, ReportingJob],
            requests: Mapping[str, DataRequest], keys: KeyIndex) -> Coordination:
    mark = fingerprint(request)
    assigned = dict(coordination.assignments)
    for operator in operators.values():
        if _covers(operator, request, keys):
            assigned[job] = Assignment(operator.id, mark, ALREADY_COLLECTED)
            return replace(coordination, assignments=assigned)
    present = collections(coordination, requests, keys)
    wanted = selectors.read(request.selector)
    for collection in present:
        if (request.period_cs % collection.period_cs == 0 and selectors.contains(collection.selector, wanted)
                and _servable(collection.selector, wanted, keys)):
            assigned[job] = Assignment(collection.id, mark, ALREADY_COLLECTED)
            return replace(coordination, assignments=assigned)
    for collection in present:
        members = [(member, requests[member]) for member in collection.members] + [(job, request)]
        if _collection(collection.id, members, keys) is not None:
            assigned[job] = Assignment(collection.id, mark, PARTLY_COVERED)
            return replace(coordination, assignments=assigned)
    assigned[job] = Assignment(f"{SYSTEM_PREFIX}{coordination.next_number}", mark, NOT_COLLECTED)
    return Coordination(assigned, coordination.next_number + 1)


def _covers(operator: ReportingJob | None, request: DataRequest, keys: KeyIndex) -> bool:
    """Whether an operator's job serves ``request``: it collects it, and a worker can cut the
    request's share exactly (an operator's selector may change under the request)."""
    wanted = selectors.read(request.selector)
    return (operator is not None and request.period_cs % operator.period_cs == 0
            and selectors.contains(selectors.read(operator.selector), wanted) and selectors.cuttable(wanted, keys))


def _servable(collection: selectors.Selector, wanted: selectors.Selector, keys: KeyIndex) -> bool:
    """Whether a system-created collection of ``collection`` (containing ``wanted``) can serve
    it without giving more: a worker cuts its share exactly, or there is nothing to cut."""
    return selectors.cuttable(wanted, keys) or selectors.same(collection, wanted)


def _fitting(kept: Mapping[str, Assignment], requests: Mapping[str, DataRequest],
             keys: KeyIndex) -> dict[str, Assignment]:
    """``kept`` without the requests that no longer fit their system-created collection (they
    are decided again)."""
    fitting = dict(kept)
    by_collection: dict[str, list[str]] = {}
    for job in requests:
        if job in kept and kept[job].job.startswith(SYSTEM_PREFIX):
            by_collection.setdefault(kept[job].job, []).append(job)
    for collection_id, members in by_collection.items():
        fitted: list[tuple[str, DataRequest]] = []
        for job in members:
            if _collection(collection_id, fitted + [(job, requests[job])], keys) is None:
                del fitting[job]
            else:
                fitted.append((job, requests[job]))
    return fitting


def _collection(collection_id: str, members: Sequence[tuple[str, DataRequest]], keys: KeyIndex) -> Collection | None:
    """The collection serving ``members``, or None when they cannot share one: each period a
    multiple of the smallest, a union of the selectors, and each member's share of it one a
    worker can cut exactly (or the whole of it)."""
    periods = [request.period_cs for _, request in members]
    period = min(periods)
    if any(p % period for p in periods):
        return None
    selector = selectors.union_all(selectors.read(request.selector) for _, request in members)
    if selector is None or not all(_servable(selector, selectors.read(request.selector), keys)
                                   for _, request in members):
        return None
    return Collection(collection_id, tuple(job for job, _ in members), selector, period)


def _requests(config: BusConfig) -> dict[str, DataRequest]:
    return {job.id: job.request for job in config.polling if job.request is not None}


def _number(collection_id: str) -> int:
    return int(collection_id.removeprefix(SYSTEM_PREFIX))
