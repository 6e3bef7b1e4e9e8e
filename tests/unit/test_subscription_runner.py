"""The shared runner: tick arithmetic, sample-once, on-change dampening, yang-patch targets."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from lxml import etree

from mso.namespaces import INTERFACES, YANG_PUSH
from mso.subscription_model import OnChange, Periodic, SubscriptionSpec
from mso.instance_path import restconf_target
from mso.subscription_runner import OnChangeJob, PeriodicJob, SharedSampler, push_change_update
from mso.tree_diff import changed_paths

IF_MODULE = {INTERFACES: "ietf-interfaces", "urn:example:other": "example-other"}
IF_LIST = (f"{{{INTERFACES}}}interfaces", f"{{{INTERFACES}}}interface")
KEYS = {IF_LIST: (f"{{{INTERFACES}}}name",)}


@pytest.mark.parametrize(
    "path, namespaces, target",
    [
        ("/if:interfaces", {"if": INTERFACES}, "/ietf-interfaces:interfaces"),
        ("/if:interfaces/if:interface[if:name='1/0/1']/if:mtu", {"if": INTERFACES},
         "/ietf-interfaces:interfaces/interface=1%2F0%2F1/mtu"),
        ("/if:interfaces/if:interface[if:name=\"it's\"]", {"if": INTERFACES}, "/ietf-interfaces:interfaces/interface=it's"),
        ("/if:interfaces/if:interface[if:name=concat('a', \"'\", 'b,c')]", {"if": INTERFACES},
         "/ietf-interfaces:interfaces/interface=a'b%2Cc"),
        ("/if:interfaces/x:extra/x:tag[.='blue']", {"if": INTERFACES, "x": "urn:example:other"},
         "/ietf-interfaces:interfaces/example-other:extra/tag=blue"),
    ],
)
def test_restconf_target(path, namespaces, target):
    assert restconf_target(path, namespaces, IF_MODULE) == target


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_next_tick_is_aligned_to_the_anchor():
    anchor = datetime(2020, 1, 1, tzinfo=timezone.utc)
    clock = FakeClock(anchor.timestamp() + 1000.123)
    spec = SubscriptionSpec(id=1, datastore="ds:operational", trigger=Periodic(10, anchor))
    job = PeriodicJob(spec, SharedSampler(Counting()), Recorder(), clock=clock)
    assert job.next_tick(clock()) == pytest.approx(anchor.timestamp() + 1000.2)
    assert job.next_tick(anchor.timestamp() + 1000.2) == pytest.approx(anchor.timestamp() + 1000.2)


def test_fired_ticks_never_repeat_and_late_wake_ups_skip_rather_than_bunch():
    async def scenario() -> list[float]:
        clock = FakeClock(1_000.0)
        recorder = Recorder()
        job = PeriodicJob(SubscriptionSpec(id=1, datastore="ds:operational", trigger=Periodic(10)),
                          SharedSampler(Counting()), recorder, clock=clock)
        job.start()  # without anchor-time the first push is at once, at the start instant
        await asyncio.sleep(0.01)
        job.stop()
        assert [t for _, t in recorder.events] == [1_000.0]
        repeat = job.next_tick(1_000.0)  # the fired instant does not fire again
        clock.now = 1_000.35  # woke up late: the next tick is 1000.4, not 1000.1, .2 and .3 at once
        return [repeat, job.next_tick(clock.now)]

    assert asyncio.run(scenario()) == [pytest.approx(1_000.1), pytest.approx(1_000.4)]


def test_ticks_passed_over_by_a_late_job_are_counted() -> None:
    async def scenario() -> tuple[int, int, list[float]]:
        clock = FakeClock(1_000.0)
        recorder = Recorder()
        job = PeriodicJob(SubscriptionSpec(id=1, datastore="ds:operational", trigger=Periodic(10)),
                          SharedSampler(Counting()), recorder, clock=clock)
        job.start()
        await asyncio.sleep(0.01)  # fired 1000.0 at once; the next is due at 1000.1
        job.stop()
        clock.now = 1_000.1
        job._fire(1_000.1)  # on time: the next is due at 1000.2
        on_time = job.skipped_ticks
        job.stop()
        clock.now = 1_000.45  # a busy card: 1000.2 fires this late, and 1000.3 and 1000.4 are passed over
        job._fire(1_000.2)
        job.stop()
        return on_time, job.skipped_ticks, [t for _, t in recorder.events]

    on_time, skipped, fired = asyncio.run(scenario())
    assert (on_time, skipped) == (0, 2)
    assert fired == [pytest.approx(1_000.0), pytest.approx(1_000.1), pytest.approx(1_000.2)]


class Counting:
    """A sampler that counts its calls and returns a tree whose content the test controls."""

    def __init__(self) -> None:
        self.calls = 0
        self.description = "a"

    def sample(self, datastore: str, selection: object) -> etree._Element:
        self.calls += 1
        return etree.fromstring(
            f'<data><interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name>'
            f"<description>{self.description}</description></interface></interfaces></data>"
        )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[etree._Element, float]] = []

    def emit(self, event: etree._Element, event_time: float) -> None:
        self.events.append((event, event_time))


def test_shared_sampler_samples_once_per_instant_and_filter():
    counting = Counting()
    shared = SharedSampler(counting)
    for _ in range(5):
        shared.sample_at(10.0, "ds:operational", None)
    shared.sample_at(10.0, "ds:running", None)
    shared.sample_at(10.1, "ds:operational", None)
    assert counting.calls == 3


def test_periodic_job_pushes_each_tick_with_the_tick_as_event_time():
    async def scenario() -> list[float]:
        recorder = Recorder()
        job = PeriodicJob(SubscriptionSpec(id=9, datastore="ds:operational", trigger=Periodic(2)),
                          SharedSampler(Counting()), recorder, publisher_id=3)
        job.start()
        while len(recorder.events) < 5:
            await asyncio.sleep(0.01)
        job.stop()
        event = recorder.events[0][0]
        assert event.tag == f"{{{YANG_PUSH}}}push-update"
        assert event.findtext(".//{urn:ietf:params:xml:ns:yang:ietf-distributed-notif}message-publisher-id") == "3"
        return [t for _, t in recorder.events]

    times = asyncio.run(scenario())
    gaps = {round(b - a, 6) for a, b in zip(times, times[1:])}
    assert gaps == {0.02}


def test_on_change_dampening_coalesces_changes_into_one_update():
    async def scenario() -> Recorder:
        counting, recorder = Counting(), Recorder()
        diff = lambda a, b: changed_paths(a, b, KEYS, frozenset())  # noqa: E731
        spec = SubscriptionSpec(id=4, datastore="ds:running", trigger=OnChange(dampening_cs=20))
        job = OnChangeJob(spec, SharedSampler(counting), recorder, diff=diff, module_of=IF_MODULE)
        job.start()
        for text in ("b", "c", "d"):
            counting.description = text
            job.data_changed()
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.35)
        job.stop()
        return recorder

    recorder = asyncio.run(scenario())
    kinds = [etree.QName(e).localname for e, _ in recorder.events]
    assert kinds == ["push-update", "push-change-update", "push-change-update"]  # sync, first change, the rest
    last = recorder.events[-1][0]
    assert last.findtext(f".//{{{INTERFACES}}}description") == "d"
    assert [t.text for t in last.iter(f"{{{YANG_PUSH}}}target")] == [
        "/ietf-interfaces:interfaces/interface=1%2F0%2F1/description"]


def test_excluded_changes_are_not_sent():
    async def scenario() -> Recorder:
        counting, recorder = Counting(), Recorder()
        diff = lambda a, b: changed_paths(a, b, KEYS, frozenset())  # noqa: E731
        spec = SubscriptionSpec(id=5, datastore="ds:running",
                                trigger=OnChange(sync_on_start=False, excluded_changes=("replace",)))
        job = OnChangeJob(spec, SharedSampler(counting), recorder, diff=diff, module_of=IF_MODULE)
        job.start()
        counting.description = "changed"
        job.data_changed()
        await asyncio.sleep(0.05)
        job.stop()
        return recorder

    assert asyncio.run(scenario()).events == []


def test_push_change_update_numbers_edits():
    before = etree.fromstring(f'<data><interfaces xmlns="{INTERFACES}"/></data>')
    after = etree.fromstring(f'<data><interfaces xmlns="{INTERFACES}"><interface><name>a</name></interface>'
                             "<interface><name>b</name></interface></interfaces></data>")
    changes = changed_paths(before, after, KEYS, frozenset(), prefix_of=lambda ns: "if")
    event = push_change_update(3, "patch-7", changes, IF_MODULE)
    assert event.findtext(f".//{{{YANG_PUSH}}}patch-id") == "patch-7"
    assert [e.text for e in event.iter(f"{{{YANG_PUSH}}}edit-id")] == ["edit-1", "edit-2"]
    assert [e.text for e in event.iter(f"{{{YANG_PUSH}}}operation")] == ["create", "create"]


def test_push_change_update_is_valid_yang_push_in_every_encoding():
    """The yang-patch of datastore-changes is in ietf-yang-push's namespace (a used grouping), so
    the schema-aware JSON/CBOR encoders accept it and the collector can read it back."""
    from mso.notification_encoding import EnvelopeCodec
    from mso.schema import Schema
    from mso.subscription_model import Encoding

    before = etree.fromstring(f'<data><interfaces xmlns="{INTERFACES}"/></data>')
    after = etree.fromstring(f'<data><interfaces xmlns="{INTERFACES}"><interface><name>a</name>'
                             "<description>up</description></interface></interfaces></data>")
    changes = changed_paths(before, after, KEYS, frozenset(), prefix_of=lambda ns: "if")
    event = push_change_update(3, "patch-1", changes, IF_MODULE)
    codec = EnvelopeCodec(Schema.load(), hostname="test")

    for encoding in Encoding:
        payload = codec.encode(event, event_time="2026-11-22T00:00:00Z", sequence_number=1, encoding=encoding)
        decoded = codec.decode(payload, encoding)
        edit = decoded.body["datastore-changes"]["yang-patch"]["edit"][0]
        assert (decoded.event, edit["operation"], edit["target"]) == (
            "ietf-yang-push:push-change-update", "create", "/ietf-interfaces:interfaces/interface=a")
