"""Slot reassembly with a synthetic three-generator publisher and an injected clock."""

from __future__ import annotations

import pytest

from collector.knowledge import Knowledge, KnowledgeError, Policy, policy_from_json
from collector.merge import Merger, list_keys
from collector.reassembly import ON_CHANGE, PERIODIC, UNKNOWN, Piece, Reassembly
from mso.schema import Schema

PERIOD = 1.0
T0 = 1_800_000_000.0  # a tick of the epoch grid for a 1 s period


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def merger() -> Merger:
    return Merger(list_keys(Schema.load()))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def knowledge() -> Knowledge:
    known = Knowledge()
    known.start(7, Policy(period=PERIOD, generators=frozenset({"1", "2", "3"})))
    return known


@pytest.fixture
def reassembly(knowledge: Knowledge, merger: Merger, clock: Clock) -> Reassembly:
    return Reassembly(knowledge, merger, deadline_factor=1.5, reorder_window=0.1, clock=clock)


def interfaces(*names: str) -> dict:
    return {"ietf-interfaces:interfaces": {"interface": [{"name": n, "enabled": True} for n in names]}}


def push(generator: str, event_time: float, clock: Clock, *names: str, sub: int = 7) -> Piece:
    body = {"id": sub, "datastore-contents": interfaces(*(names or (f"{generator}/0/1",)))}
    return Piece(sub, generator, "ietf-yang-push:push-update", event_time, body, clock.now)


def names(data: dict) -> list[str]:
    return [entry["name"] for entry in data["ietf-interfaces:interfaces"]["interface"]]


def test_complete_slot_is_one_merged_record_as_soon_as_the_last_piece_arrives(reassembly, clock):
    assert reassembly.add(push("3", T0 + 0.002, clock)) == []
    assert reassembly.add(push("1", T0, clock)) == []
    clock.now += 0.3
    (record,) = reassembly.add(push("2", T0 - 0.001, clock))  # a clock a little behind: same slot
    assert record.kind == PERIODIC and record.complete and record.time == T0
    assert record.present == record.expected == ("1", "2", "3")
    assert names(record.data) == ["1/0/1", "2/0/1", "3/0/1"]
    assert record.last_arrival == record.emitted == clock.now
    clock.now += 10
    assert reassembly.due() == []


def test_silent_generator_gives_an_incomplete_record_naming_it_after_the_deadline(reassembly, clock):
    for slot in range(3):
        reassembly.add(push("1", T0 + slot, clock))
        reassembly.add(push("3", T0 + slot, clock))
        clock.now += 1.0
    records = reassembly.due()
    assert [r.time for r in records] == [T0, T0 + 1]  # the third waits for its own deadline
    assert all(r.missing == ("2",) and not r.complete and r.present == ("1", "3") for r in records)
    clock.now += 0.5
    (last,) = reassembly.due()
    assert last.time == T0 + 2 and last.missing == ("2",)


def test_deadline_waits_while_the_receiver_is_behind(reassembly, clock):
    """A missing piece may be unread in the socket: no deadline passes beyond the last time the
    receiver found its socket empty."""
    reassembly.add(push("1", T0, clock))
    caught_up = clock.now
    clock.now += 5
    assert reassembly.due(read_up_to=caught_up) == []
    reassembly.add(push("2", T0, clock))
    (record,) = reassembly.add(push("3", T0, clock))
    assert record.complete


def test_late_piece_after_emission_is_counted_and_dropped(reassembly, clock):
    reassembly.add(push("1", T0, clock))
    clock.now += 2
    (record,) = reassembly.due()
    assert record.missing == ("2", "3")
    assert reassembly.add(push("2", T0, clock)) == []
    assert reassembly.late["2"] == 1 and reassembly.open_slots == 0


def test_duplicate_piece_in_an_open_slot_is_dropped(reassembly, clock):
    reassembly.add(push("1", T0, clock))
    assert reassembly.add(push("1", T0, clock, "other")) == []
    assert reassembly.duplicates["1"] == 1


def test_modified_generator_set_applies_from_the_next_slot(reassembly, knowledge, clock):
    knowledge.modify(7, Policy(period=PERIOD, generators=frozenset({"1", "2"})), at=T0 + 0.4)
    reassembly.add(push("1", T0, clock))
    reassembly.add(push("2", T0, clock))
    assert reassembly.open_slots == 1  # the slot at T0 still expects generator 3
    reassembly.add(push("1", T0 + 1, clock))
    (record,) = reassembly.add(push("2", T0 + 1, clock))
    assert record.time == T0 + 1 and record.complete and record.expected == ("1", "2")
    clock.now += 2
    (old,) = reassembly.due()
    assert old.time == T0 and old.missing == ("3",)


def test_modification_learned_after_the_pieces_regroups_open_slots(reassembly, knowledge, clock):
    reassembly.add(push("1", T0 + 1, clock))
    reassembly.add(push("2", T0 + 1, clock))
    knowledge.modify(7, Policy(period=PERIOD, generators=frozenset({"1", "2"})), at=T0 + 0.5)
    (record,) = reassembly.regroup(7)
    assert record.complete and record.time == T0 + 1


def test_unexpected_generator_is_merged_and_named(reassembly, clock):
    for generator in ("1", "2", "9"):
        reassembly.add(push(generator, T0, clock))
    (record,) = reassembly.add(push("3", T0, clock))
    assert record.unexpected == ("9",) and record.complete
    assert names(record.data) == ["1/0/1", "2/0/1", "3/0/1", "9/0/1"]


def test_unknown_subscription_passes_through_at_once(reassembly, clock):
    (record,) = reassembly.add(push("2", T0, clock, sub=99))
    assert record.kind == UNKNOWN and record.present == ("2",)
    assert record.to_json()["generator"] == "2"


def test_on_change_updates_leave_in_event_time_order_within_the_window(knowledge, merger, clock):
    knowledge.start(8, Policy(on_change=True, generators=frozenset({"1", "2"})))
    reassembly = Reassembly(knowledge, merger, reorder_window=0.1, clock=clock)

    def change(generator: str, event_time: float) -> Piece:
        return Piece(8, generator, "ietf-yang-push:push-change-update", event_time, {"id": 8}, clock.now)

    reassembly.add(change("2", T0 + 0.02))
    clock.now += 0.05
    reassembly.add(change("1", T0 + 0.01))  # observed first, arrived second
    assert reassembly.due() == []
    clock.now += 0.06  # the first arrival's window is over, but an older event holds it back
    assert reassembly.due() == []
    clock.now += 0.05
    first, second = reassembly.due()
    assert (first.time, second.time) == (T0 + 0.01, T0 + 0.02)
    assert first.kind == ON_CHANGE and first.to_json()["generator"] == "1"
    reassembly.add(change("1", T0))  # older than what already left: still delivered, counted
    clock.now += 0.2
    (late,) = reassembly.due()
    assert late.time == T0 and reassembly.out_of_order == 1


def test_end_flushes_open_slots(reassembly, clock):
    reassembly.add(push("1", T0, clock))
    (record,) = reassembly.end(7)
    assert record.missing == ("2", "3") and reassembly.open_slots == 0


def test_merge_joins_list_entries_by_key_and_counts_clashes(merger):
    master = {"ietf-interfaces:interfaces": {"interface": [{"name": "1/0/1", "enabled": True}]}}
    agent = {"ietf-interfaces:interfaces": {"interface": [
        {"name": "1/0/1", "statistics": {"in-octets": "5"}}, {"name": "1/0/2", "enabled": False}]}}
    clash = {"ietf-interfaces:interfaces": {"interface": [{"name": "1/0/2", "enabled": True}]}}
    merged, clashes = merger.merge([master, agent, clash])
    assert merged["ietf-interfaces:interfaces"]["interface"] == [
        {"name": "1/0/1", "enabled": True, "statistics": {"in-octets": "5"}},
        {"name": "1/0/2", "enabled": False},
    ]
    assert clashes == 1


def test_policy_from_state_notification_json_in_every_spelling():
    started = {"id": 7, "ietf-yang-push:periodic": {"period": 250, "anchor-time": "2026-01-01T00:00:00.5Z"},
               "ietf-multiple-stream-originators:message-generator-id": ["1", "2"],
               "ietf-distributed-notif:message-publisher-id": [1, 3]}
    policy = policy_from_json(started)
    assert policy.period == 2.5 and policy.generators == {"1", "2", "3"}
    assert policy.anchor == 1767225600.5
    assert policy_from_json({"id": 1, "x:message-publisher-ids": [4]}).generators == {"4"}
    assert policy_from_json({"id": 1, "ietf-yang-push:on-change": {}}).on_change
    with pytest.raises(KnowledgeError):
        policy_from_json({"id": 1, "ietf-yang-push:periodic": {"period": 0}})


def test_state_changes_start_modify_and_end(knowledge):
    body = {"id": 9, "ietf-yang-push:periodic": {"period": 100},
            "ietf-multiple-stream-originators:message-generator-id": ["1"]}
    assert knowledge.apply_state_change("ietf-subscribed-notifications:subscription-started", body, T0) == "started"
    modified = {"id": 9, "ietf-distributed-notif:message-publisher-id": [1, 2]}
    assert knowledge.apply_state_change("ietf-subscribed-notifications:subscription-modified", modified, T0 + 5) \
        == "modified"
    subscription = knowledge.get(9)
    assert subscription.policy_at(T0 + 5).generators == {"1"}
    assert subscription.policy_at(T0 + 6).generators == {"1", "2"} and subscription.current.period == 1.0
    assert knowledge.apply_state_change("ietf-subscribed-notifications:subscription-terminated", {"id": 9}, T0) \
        == "ended"
    assert knowledge.get(9) is None


def test_learn_subscriptions_from_get():
    knowledge = Knowledge()
    learned = knowledge.learn_subscriptions({"subscription": [
        {"id": 40, "ietf-yang-push:periodic": {"period": 10},
         "ietf-multiple-stream-originators:message-generator-id": ["1", "2", "3"]}]})
    assert learned == [40]
    assert knowledge.get(40).current == Policy(period=0.1, generators=frozenset({"1", "2", "3"}))
