"""The subscription runner every publisher shares: the Master runs its own subscriptions with
it and each line-card agent runs its component subscriptions with it.

A job samples a datastore through a ``Sampler``, builds the RFC 8641 notification and hands it to
an ``Emitter`` (a NETCONF session, UDP-notif receivers...). Periodic jobs fire at
``anchor + k·period`` computed from the wall clock each time, never by accumulating sleeps, so
they do not drift. On-change jobs diff what they last sent against the current sample when told
that data may have changed (or on their own poll), and respect the dampening period.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from typing import Protocol

from lxml import etree

from mso.filters import SharedEntries
from mso.instance_path import restconf_target
from mso.namespaces import DISTRIBUTED_NOTIF, YANG_PUSH, qn
from mso.sampling import Selection, selection_of, union_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec, OnChange, Periodic, SubscriptionSpec
from mso.tree_diff import Change, changed_paths

Clock = Callable[[], float]
log = logging.getLogger("mso.runner")


class Sampler(Protocol):
    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        """A fresh ``<data>`` element holding what the filter selects in the datastore."""


class Emitter(Protocol):
    def emit(self, event: etree._Element, event_time: float) -> None:
        """Deliver one notification event (push-update, push-change-update...)."""


Diff = Callable[[etree._Element, etree._Element], list[Change]]


class SourceReader(Protocol):
    """A data source that can read what several filters select in one go and cut each
    filter's share from that one reading (an agent's card)."""

    def read(self, datastore: str, selection: Selection) -> etree._Element:
        """A fresh ``<data>`` element with at least what ``selection`` can select, unfiltered."""

    def cut(self, data: etree._Element, selection: FilterSpec | None,
            shared: SharedEntries | None = None) -> etree._Element:
        """What the filter selects of ``data`` (a new element; ``data`` is left as it was);
        ``shared``: the entries of ``data`` that cuts before this one found."""

    def read_exact(self, datastore: str, selection: FilterSpec | None,
                   sampled: dict | None = None) -> etree._Element | None:
        """What the filter selects, rendered as such by the source (None: it cannot; then it
        is read and cut). ``sampled``: what the source took at this instant for the other
        filters rendered so, its own bookkeeping, for them all to share one sample."""


def _micros(seconds: float) -> int:
    return round(seconds * 1e6)


class SharedSampler:
    """Samples once per (datastore, filter, instant) however many subscriptions ask
    (TS 23.288 §5A: collect once at the source). Only the latest instant is kept.

    Periodic jobs say what they will ask for (``expect``), so that an instant's first request
    knows every filter due then; ``UnionSampler`` uses that to read them all at once, here it
    only counts. ``reads`` counts the readings of the source and ``instants`` the distinct
    instants that asked, so reads / instants is the samples taken per period."""

    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler
        self._instant: int | None = None  # microseconds, so ticks computed two ways still meet
        self._cache: dict[tuple[str, FilterSpec | None], etree._Element] = {}
        self._expected: dict[tuple[str, FilterSpec | None, int, int], int] = {}  # (ds, filter, period, anchor) us
        self.reads = 0
        self.instants = 0

    def expect(self, spec: SubscriptionSpec) -> None:
        key = _expectation(spec)
        self._expected[key] = self._expected.get(key, 0) + 1

    def forget(self, spec: SubscriptionSpec) -> None:
        key = _expectation(spec)
        left = self._expected.get(key, 0) - 1
        if left > 0:
            self._expected[key] = left
        else:
            self._expected.pop(key, None)

    def sample_at(self, instant: float, datastore: str, selection: FilterSpec | None) -> etree._Element:
        micros = _micros(instant)
        if micros != self._instant:
            self._instant, self._cache = micros, {}
            self._new_instant()
            self.instants += 1
        key = (datastore, selection)
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = self._take(micros, datastore, selection)
        return data

    def _new_instant(self) -> None:
        """A new instant begins: what was read for the one before is dropped."""

    def _take(self, micros: int, datastore: str, selection: FilterSpec | None) -> etree._Element:
        self.reads += 1
        return self._sampler.sample(datastore, selection)

    def _due(self, micros: int, datastore: str) -> list[FilterSpec | None]:
        """The expected filters of ``datastore`` whose period has a tick at ``micros``."""
        return [selection for (ds, selection, period, anchor) in self._expected
                if ds == datastore and (micros - anchor) % period == 0]


def _expectation(spec: SubscriptionSpec) -> tuple[str, FilterSpec | None, int, int]:
    trigger = spec.trigger
    assert isinstance(trigger, Periodic) and spec.datastore is not None
    return spec.datastore, spec.filter, trigger.period_cs * 10_000, _micros(trigger.anchor_seconds)


class UnionSampler(SharedSampler):
    """Sharing whatever the filters (issue 11, §5A.2 on the agents): when several expected
    filters are due at one instant, the source is sampled once for all of them and each
    filter's share is cut from that one sample; each subscription keeps its own id, receivers
    and encoding. The sample is the source's values at that instant where it renders a filter
    exactly (each share rendered from them), else a reading of the union of what the filters
    can select (each share cut from it). A filter nobody expected at that instant (an
    on-change poll, a resync) is read on its own, as ``SharedSampler`` does."""

    def __init__(self, source: SourceReader) -> None:
        super().__init__(SourceSampler(source))
        self._source = source
        self._due_now: dict[str, list[FilterSpec | None]] = {}  # by datastore, at the current instant
        self._readings: dict[str, tuple[etree._Element, SharedEntries]] = {}  # by datastore, at the current instant
        self._sampled: dict[str, dict] = {}  # by datastore: the source's values taken at the current instant

    def _new_instant(self) -> None:
        self._due_now, self._readings, self._sampled = {}, {}, {}

    def _take(self, micros: int, datastore: str, selection: FilterSpec | None) -> etree._Element:
        due = self._due_now.get(datastore)
        if due is None:
            due = self._due_now[datastore] = self._due(micros, datastore)
        if len(due) < 2 or selection not in due:
            return super()._take(micros, datastore, selection)
        first = datastore not in self._sampled
        exact = self._source.read_exact(datastore, selection, self._sampled.setdefault(datastore, {}))
        if exact is not None:
            if first:
                self.reads += 1
            return exact
        reading = self._readings.get(datastore)
        if reading is None:
            self.reads += 1
            data = self._source.read(datastore, union_of([selection_of(spec) for spec in due]))
            reading = self._readings[datastore] = (data, SharedEntries())
        data, shared = reading
        return self._source.cut(data, selection, shared)


class SourceSampler:
    """A ``SourceReader`` as a plain ``Sampler`` of one filter at a time: rendered exactly when
    the source can, else read for what the filter can select and cut."""

    def __init__(self, source: SourceReader) -> None:
        self._source = source

    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        exact = self._source.read_exact(datastore, selection)
        if exact is not None:
            return exact
        return self._source.cut(self._source.read(datastore, selection_of(selection)), selection)


View = Callable[[etree._Element], etree._Element]


class InstantSampler(Protocol):
    def sample_at(self, instant: float, datastore: str, selection: FilterSpec | None) -> etree._Element:
        """What the filter selects of the datastore at ``instant`` (shared by whoever asks for it)."""

    def expect(self, spec: SubscriptionSpec) -> None:
        """A periodic subscription will ask at each of its ticks."""

    def forget(self, spec: SubscriptionSpec) -> None:
        """It will not any more."""


class ViewedSampler:
    """A shared sampler seen through ``view`` (what one receiver may see of each sample), so a
    periodic push and an on-change diff are built from that view only."""

    def __init__(self, sampler: SharedSampler, view: View) -> None:
        self._sampler = sampler
        self._view = view
        self.expect, self.forget = sampler.expect, sampler.forget

    def sample_at(self, instant: float, datastore: str, selection: FilterSpec | None) -> etree._Element:
        return self._view(self._sampler.sample_at(instant, datastore, selection))


# --- notification builders --------------------------------------------------------------------

def _with_publisher(event: etree._Element, publisher_id: int | None) -> etree._Element:
    if publisher_id is not None:
        leaf = etree.SubElement(event, qn(DISTRIBUTED_NOTIF, "message-publisher-id"), nsmap={None: DISTRIBUTED_NOTIF})
        leaf.text = str(publisher_id)
    return event


def push_update(subscription_id: int, data: etree._Element, publisher_id: int | None = None) -> etree._Element:
    """RFC 8641 ``push-update`` with copies of ``data``'s children as datastore-contents."""
    event = etree.Element(qn(YANG_PUSH, "push-update"), nsmap={None: YANG_PUSH})
    etree.SubElement(event, qn(YANG_PUSH, "id")).text = str(subscription_id)
    contents = etree.SubElement(event, qn(YANG_PUSH, "datastore-contents"))
    contents.extend([node.__deepcopy__(None) for node in data])  # lxml's own copy, without copy.deepcopy's
    return _with_publisher(event, publisher_id)


def push_change_update(
    subscription_id: int, patch_id: str, changes: Sequence[Change], module_of: Mapping[str, str],
    publisher_id: int | None = None,
) -> etree._Element:
    """RFC 8641 ``push-change-update`` carrying an RFC 8072 yang-patch with one edit per change."""
    event = etree.Element(qn(YANG_PUSH, "push-change-update"), nsmap={None: YANG_PUSH})
    etree.SubElement(event, qn(YANG_PUSH, "id")).text = str(subscription_id)
    # datastore-changes "uses ypatch:yang-patch": a grouping's nodes take the namespace of the
    # module that uses it, so the whole patch is in ietf-yang-push's (RFC 8641 §4.2 examples)
    patch = etree.SubElement(etree.SubElement(event, qn(YANG_PUSH, "datastore-changes")), qn(YANG_PUSH, "yang-patch"))
    etree.SubElement(patch, qn(YANG_PUSH, "patch-id")).text = patch_id
    for number, change in enumerate(changes, 1):
        edit = etree.SubElement(patch, qn(YANG_PUSH, "edit"))
        etree.SubElement(edit, qn(YANG_PUSH, "edit-id")).text = f"edit-{number}"
        etree.SubElement(edit, qn(YANG_PUSH, "operation")).text = change.operation
        etree.SubElement(edit, qn(YANG_PUSH, "target")).text = restconf_target(change.path, change.namespaces, module_of)
        if change.value is not None:
            etree.SubElement(edit, qn(YANG_PUSH, "value")).append(copy.deepcopy(change.value))
    return _with_publisher(event, publisher_id)


# --- jobs -------------------------------------------------------------------------------------

class Job:
    """One running subscription (or component subscription) on one publisher."""

    skipped_ticks = 0  # periodic jobs count the ticks overload made them pass over

    def __init__(self, spec: SubscriptionSpec, sampler: InstantSampler, emitter: Emitter, *,
                 clock: Clock = time.time, publisher_id: int | None = None,
                 on_complete: Callable[["Job"], None] | None = None) -> None:
        self.spec = spec
        self._sampler = sampler
        self._emitter = emitter
        self._clock = clock
        self._publisher_id = publisher_id
        self._on_complete = on_complete
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def resync(self) -> None:
        """Send the full current selection now (RFC 8641 resync-subscription)."""
        now = self._clock()
        self._emit(push_update(self.spec.id, self._sample(now), self._publisher_id), now)

    def _sample(self, instant: float) -> etree._Element:
        assert self.spec.datastore is not None
        return self._sampler.sample_at(instant, self.spec.datastore, self.spec.filter)

    def _emit(self, event: etree._Element, event_time: float) -> None:
        self._emitter.emit(event, event_time)

    def _past_stop_time(self, instant: float) -> bool:
        stop = self.spec.stop_time
        return stop is not None and instant > stop.timestamp()

    def _complete(self) -> None:
        self.stop()
        if self._on_complete is not None:
            self._on_complete(self)

    def _call_at(self, instant: float, callback: Callable[..., None], *args: object) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(0.0, instant - self._clock()), callback, *args)


class PeriodicJob(Job):
    def __init__(self, spec: SubscriptionSpec, sampler: InstantSampler, emitter: Emitter, *, clock: Clock = time.time,
                 publisher_id: int | None = None, on_complete: Callable[[Job], None] | None = None) -> None:
        super().__init__(spec, sampler, emitter, clock=clock, publisher_id=publisher_id, on_complete=on_complete)
        trigger = spec.trigger
        assert isinstance(trigger, Periodic)
        self._period = trigger.period_cs / 100
        # no anchor-time: multiples of the period since the epoch (the Master fills one in for
        # the subscriptions it accepts, see subscription_model.anchored)
        self._anchor = trigger.anchor_seconds
        self._last_tick: float | None = None
        self.skipped_ticks = 0  # ticks passed over because the one before fired a period late or more
        self._expected = False  # whether the sampler was told this job samples at its ticks

    def start(self) -> None:
        if not self._expected:
            self._expected = True
            self._sampler.expect(self.spec)
        self._schedule()

    def stop(self) -> None:
        super().stop()
        if self._expected:
            self._expected = False
            self._sampler.forget(self.spec)

    def next_tick(self, now: float) -> float:
        """The first ``anchor + k·period`` at or after ``now`` that has not fired yet."""
        k = math.ceil((now - self._anchor) / self._period - 1e-9)
        tick = self._anchor + k * self._period
        if self._last_tick is not None and tick <= self._last_tick + 1e-9:
            tick = self._last_tick + self._period
        return tick

    def _schedule(self) -> None:
        tick = self.next_tick(self._clock())
        if self._last_tick is not None:
            self._count_skipped(round((tick - self._last_tick) / self._period) - 1)
        if self._past_stop_time(tick):
            self._complete()
            return
        self._call_at(tick, self._fire, tick)

    def _count_skipped(self, ticks: int) -> None:
        """Overload made this job late by ``ticks`` periods: they are counted (operational
        state reports them) and said, at the first skip and whenever the count doubles."""
        if ticks <= 0:
            return
        before, self.skipped_ticks = self.skipped_ticks, self.skipped_ticks + ticks
        if before == 0 or self.skipped_ticks.bit_length() > before.bit_length():
            log.warning("ticks-skipped", extra={"fields": {"id": self.spec.id, "skipped": self.skipped_ticks,
                                                           "period-s": self._period}})

    def _fire(self, tick: float) -> None:
        self._last_tick = tick
        self._emit(push_update(self.spec.id, self._sample(tick), self._publisher_id), tick)
        self._schedule()


class OnChangeJob(Job):
    """On-change with dampening (RFC 8641 §3.3): the first change after a quiet period is sent at
    once; changes within ``dampening-period`` of the last push wait for its end and go out as one."""

    def __init__(self, spec: SubscriptionSpec, sampler: InstantSampler, emitter: Emitter, *, diff: Diff,
                 module_of: Mapping[str, str], poll_interval: float | None = None, clock: Clock = time.time,
                 publisher_id: int | None = None, on_complete: Callable[[Job], None] | None = None) -> None:
        super().__init__(spec, sampler, emitter, clock=clock, publisher_id=publisher_id, on_complete=on_complete)
        self._diff = diff
        self._module_of = module_of
        self._poll_interval = poll_interval
        self._patches = count(1)
        self._next_allowed = 0.0
        self._last: etree._Element | None = None
        self._poll: asyncio.TimerHandle | None = None

    def start(self) -> None:
        trigger = self.spec.trigger
        assert isinstance(trigger, OnChange)
        self._dampening = trigger.dampening_cs / 100
        now = self._clock()
        self._last = self._sample(now)
        if trigger.sync_on_start:
            self._emit(push_update(self.spec.id, self._last, self._publisher_id), now)
        self._schedule_poll()

    def stop(self) -> None:
        super().stop()
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None

    def data_changed(self) -> None:
        """The source says its data may have changed: evaluate now or when dampening allows."""
        if self._handle is not None:
            return  # an evaluation is already pending and will see this change too
        self._call_at(max(self._clock(), self._next_allowed), self._evaluate)

    def resync(self) -> None:
        super().resync()
        self._last = self._sample(self._clock())

    def _schedule_poll(self) -> None:
        if self._poll_interval is not None:
            loop = asyncio.get_running_loop()
            self._poll = loop.call_later(self._poll_interval, self._polled)

    def _polled(self) -> None:
        self.data_changed()
        self._schedule_poll()

    def _evaluate(self) -> None:
        self._handle = None
        now = self._clock()
        if self._past_stop_time(now):
            self._complete()
            return
        current = self._sample(now)
        assert self._last is not None
        excluded = set(self.spec.trigger.excluded_changes) if isinstance(self.spec.trigger, OnChange) else set()
        changes = [c for c in self._diff(self._last, current) if c.operation not in excluded]
        self._last = current
        if changes:
            event = push_change_update(self.spec.id, f"patch-{next(self._patches)}", changes, self._module_of,
                                       self._publisher_id)
            self._emit(event, now)
            self._next_allowed = now + self._dampening


class JobFactory:
    """Turns a subscription (or component subscription) into its job, the same way on every
    publisher: the Master and each agent hold one, with their own sampler and publisher id."""

    def __init__(self, schema: Schema, sampler: SharedSampler, *, publisher_id: int, clock: Clock = time.time,
                 operational_poll: float = 1.0) -> None:
        self._schema = schema
        self._sampler = sampler
        self._publisher_id = publisher_id
        self._clock = clock
        self._operational_poll = operational_poll
        self.module_of = {m.namespace: m.name for m in schema.modules}

    def job(self, spec: SubscriptionSpec, emitter: Emitter, on_complete: Callable[[Job], None] | None = None,
            view: View | None = None) -> Job:
        """``view``: what the job's receiver may see of each sample (the Master's access control)."""
        common = dict(clock=self._clock, on_complete=on_complete, publisher_id=self._publisher_id)
        sampler = self._sampler if view is None else ViewedSampler(self._sampler, view)
        if isinstance(spec.trigger, Periodic):
            return PeriodicJob(spec, sampler, emitter, **common)
        # operational data has no commit to announce a change, so on-change compares on a poll
        poll = self._operational_poll if spec.datastore == "ds:operational" else None
        return OnChangeJob(spec, sampler, emitter, diff=self.diff, module_of=self.module_of,
                           poll_interval=poll, **common)

    def diff(self, before: etree._Element, after: etree._Element) -> list[Change]:
        schema = self._schema
        return changed_paths(before, after, schema.key_index, schema.leaf_lists,
                             prefix_of=lambda ns: self.module_of.get(ns, "ns"))
