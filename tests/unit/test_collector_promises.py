"""The collector takes the Master at its word: a slot is expected from the generators promised
for it. A change of originators announced ahead (``mso-distributed-export:effective-time`` on
subscription-modified) applies from then, not from when it was heard, and changes heard out of
order apply in the order of their instants."""

from __future__ import annotations

import pytest

from collector.knowledge import Knowledge, Policy
from collector.merge import Merger, list_keys
from collector.reassembly import Piece, Reassembly
from mso.date_and_time import format_epoch
from mso.schema import Schema

PERIOD = 1.0
T0 = 1_800_000_000.0  # a tick of the epoch grid for a 1 s period
MODIFIED = "ietf-subscribed-notifications:subscription-modified"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def merger() -> Merger:
    return Merger(list_keys(Schema.load()))


def piece(generator: str, tick: float, clock: Clock, port: str) -> Piece:
    body = {"id": 7, "datastore-contents": {"ietf-interfaces:interfaces": {"interface": [{"name": port}]}}}
    return Piece(7, generator, "ietf-yang-push:push-update", tick, body, clock.now)


def modified(generators: list[int], effective: float | None) -> dict:
    body: dict = {"id": 7, "ietf-yang-push:periodic": {"period": 100},
                  "ietf-multiple-stream-originators:message-generator-id": [str(g) for g in generators]}
    if effective is not None:
        body["mso-distributed-export:effective-time"] = format_epoch(effective)
    return body


def test_a_move_between_two_slots_is_reported_as_promised_on_each_side(merger: Merger) -> None:
    """Port 1/0/2 moves from card 2 to card 3: announced half-way between two ticks, taking
    effect just before the second. The ticks between the announcement and the instant are still
    card 2's; neither slot waits for a generator that will not send, nor names one as unexpected."""
    clock, knowledge = Clock(), Knowledge()
    knowledge.start(7, Policy(period=PERIOD, generators=frozenset({"1", "2"})))
    reassembly = Reassembly(knowledge, merger, clock=clock)
    heard = T0 + 0.5
    assert knowledge.apply_state_change(MODIFIED, modified([1, 3], effective=T0 + 1.1), heard) == "modified"
    assert reassembly.regroup(7) == []
    records = []
    for tick, card in ((T0 + 1, "2"), (T0 + 2, "3")):  # card 2 serves until the instant, card 3 after
        records += reassembly.add(piece("1", tick, clock, "mgmt0"))
        records += reassembly.add(piece(card, tick, clock, "1/0/2"))
    assert [(r.time, r.expected, r.present, r.missing, r.unexpected) for r in records] == [
        (T0 + 1, ("1", "2"), ("1", "2"), (), ()),
        (T0 + 2, ("1", "3"), ("1", "3"), (), ()),
    ]


def test_without_an_effective_time_a_change_applies_from_the_notification(merger: Merger) -> None:
    knowledge = Knowledge()
    knowledge.start(7, Policy(period=PERIOD, generators=frozenset({"1", "2"})))
    knowledge.apply_state_change(MODIFIED, modified([1, 3], effective=None), T0 + 0.5)
    subscription = knowledge.get(7)
    assert subscription is not None
    assert subscription.policy_at(T0).generators == {"1", "2"}
    assert subscription.policy_at(T0 + 1).generators == {"1", "3"}


def test_changes_heard_out_of_order_apply_in_the_order_of_their_instants() -> None:
    knowledge = Knowledge()
    knowledge.start(7, Policy(period=PERIOD, generators=frozenset({"1"})))
    knowledge.modify(7, Policy(period=PERIOD, generators=frozenset({"1", "2", "3"})), at=T0 + 2.5)
    knowledge.modify(7, Policy(period=PERIOD, generators=frozenset({"1", "2"})), at=T0 + 1.5)
    subscription = knowledge.get(7)
    assert subscription is not None
    assert [sorted(subscription.policy_at(T0 + k).generators) for k in (1, 2, 3)] == [
        ["1"], ["1", "2"], ["1", "2", "3"]]
    assert subscription.current.generators == {"1", "2", "3"}
