"""The wire form of what a scaled-out collector's processes pass each other (collector.piece_transport)."""

from __future__ import annotations

import math

import orjson

from collector.knowledge import Policy, Subscription
from collector.piece_transport import subscription_from_wire, versions_to_wire
from mso import bus


def test_a_subscription_s_history_crosses_the_wire_unchanged():
    subscription = Subscription(21, [
        (-math.inf, Policy(period=1.0, anchor=1_800_000_000.5, generators=frozenset({"1", "2", "10"}))),
        (1_800_000_100.25, Policy(on_change=True, generators=frozenset({"1"}))),
    ])
    wire = orjson.loads(orjson.dumps(versions_to_wire(subscription)))  # JSON has no infinity
    assert subscription_from_wire(21, wire) == subscription


def test_partitions_spread_subscriptions_and_keep_each_on_one():
    assert [bus.partition_of(i, 8) for i in (0, 7, 8, 21, 2147483648)] == [0, 7, 0, 5, 0]
    assert bus.pieces_subject(5) == "mso.pieces.5" and bus.reassembly_consumer(5) == "reassembly-5"
