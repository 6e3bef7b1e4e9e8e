"""What the collector knows of each subscription: its trigger (period and anchor-time, or
on-change) and the message generators expected to serve it (draft-zhou-netconf-multi-stream-
originators §6), with the history of changes so a ``subscription-modified`` applies from the
next slot only.

Sources, all read as RFC 7951 JSON so there is one reader: subscription-started/-modified/
-terminated (UDP-notif from the Master for a configured subscription, or the NETCONF session for
a dynamic one), the establish/modify-subscription replies, and ``/sn:subscriptions`` from a
``get`` when the collector joins late. The generator list is accepted under the draft's
``message-generator-id`` and the successor drafts' ``message-publisher-id`` and
``message-publisher-ids`` names; a publisher id and a generator id are the same decimal string.
A ``subscription-modified`` applies from its ``mso-distributed-export:effective-time`` when it
carries one: the Master announces a change of originators before the slot it serves from, and
the collector takes it at its word, so a slot is expected from the generators promised for it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from collector.subscription_facts import SubscriptionFacts, facts_from_json, member
from mso.date_and_time import parse_epoch

GENERATOR_LEAVES = ("message-generator-id", "message-publisher-id", "message-publisher-ids")
EFFECTIVE_TIME = "effective-time"  # mso-distributed-export's, on subscription-modified
STARTED, MODIFIED = "subscription-started", "subscription-modified"
ENDED = ("subscription-terminated", "subscription-completed", "subscription-killed")
_KEEP_VERSIONS = 16  # enough history for slots still open when several changes come in a row


class KnowledgeError(ValueError):
    """A subscription description that cannot be read."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The parts of a subscription that reassembly depends on."""

    period: float | None = None  # seconds; None when not periodic
    anchor: float = 0.0  # epoch seconds; RFC 8641 leaves it to the publisher, ours use the epoch
    on_change: bool = False
    generators: frozenset[str] = frozenset()

    def slot_of(self, event_time: float) -> float:
        """The tick ``anchor + k·period`` nearest ``event_time``: a piece observed a little after
        (or, with clocks a little apart, before) its tick still lands in that tick's slot."""
        assert self.period is not None
        k = math.floor((event_time - self.anchor) / self.period + 0.5)
        return self.anchor + k * self.period


@dataclass(slots=True)
class Subscription:
    id: int
    # (effective after this event time, policy), oldest first; the first applies from -inf
    versions: list[tuple[float, Policy]] = field(default_factory=list)

    @property
    def current(self) -> Policy:
        return self.versions[-1][1]

    def policy_at(self, event_time: float) -> Policy:
        """The policy in force for data observed at ``event_time``."""
        versions = self.versions
        if len(versions) == 1:  # never modified: the common case, on every piece
            return versions[0][1]
        for since, policy in reversed(versions):
            if event_time > since:
                return policy
        return self.versions[0][1]


class Knowledge:
    """Every subscription the collector has heard of, by id."""

    def __init__(self) -> None:
        self.subscriptions: dict[int, Subscription] = {}
        self.facts: dict[int, SubscriptionFacts] = {}  # target, filter, trigger... for telemetry messages

    def get(self, subscription_id: int) -> Subscription | None:
        return self.subscriptions.get(subscription_id)

    def start(self, subscription_id: int, policy: Policy) -> None:
        """A subscription begins (again): its history starts over."""
        self.subscriptions[subscription_id] = Subscription(subscription_id, [(-math.inf, policy)])

    def modify(self, subscription_id: int, policy: Policy, at: float) -> None:
        """From the next slot after event time ``at`` on, ``policy`` applies (also when a later
        change was heard of first: the versions stay in the order they apply)."""
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            self.start(subscription_id, policy)
            return
        bisect.insort(subscription.versions, (at, policy), key=lambda version: version[0])
        del subscription.versions[:-_KEEP_VERSIONS]

    def end(self, subscription_id: int) -> Subscription | None:
        self.facts.pop(subscription_id, None)
        return self.subscriptions.pop(subscription_id, None)

    def describe(self, subscription_id: int, body: Mapping) -> None:
        """Take what an entry or state notification says of the subscription's parameters."""
        self.facts[subscription_id] = facts_from_json(body, self.facts.get(subscription_id, SubscriptionFacts()))

    def apply_state_change(self, event: str, body: Mapping, event_time: float) -> str | None:
        """A subscription state notification as RFC 7951 JSON (``event`` is its qualified
        name). Returns what it did to the subscription: "started", "modified", "ended", or None
        for a state change that leaves the expected pieces as they are (suspended, resumed).
        """
        local = event.rpartition(":")[2]
        subscription_id = body.get("id")
        if not isinstance(subscription_id, int) or isinstance(subscription_id, bool):
            raise KnowledgeError(f"{local} without a numeric id")
        if local == STARTED:
            self.start(subscription_id, policy_from_json(body))
            self.facts.pop(subscription_id, None)
            self.describe(subscription_id, body)
            return "started"
        if local == MODIFIED:
            known = self.subscriptions.get(subscription_id)
            base = known.current if known is not None else Policy()
            self.modify(subscription_id, policy_from_json(body, base), _effective_time(body, event_time))
            self.describe(subscription_id, body)
            return "modified"
        if local in ENDED:
            self.end(subscription_id)
            return "ended"
        return None

    def learn_subscriptions(self, subscriptions: Mapping) -> list[int]:
        """``/sn:subscriptions`` as RFC 7951 JSON (the value of
        ``ietf-subscribed-notifications:subscriptions``): every listed subscription becomes
        known with what the Master says now. Returns the ids learned."""
        entries = subscriptions.get("subscription", [])
        if not isinstance(entries, list):
            raise KnowledgeError("subscriptions/subscription is not a list")
        learned = []
        for entry in entries:
            subscription_id = entry.get("id") if isinstance(entry, Mapping) else None
            if not isinstance(subscription_id, int) or isinstance(subscription_id, bool):
                raise KnowledgeError("a subscription entry without a numeric id")
            known = self.subscriptions.get(subscription_id)
            policy = policy_from_json(entry)
            if known is None or known.current != policy:
                self.start(subscription_id, policy)
            if not self.facts.get(subscription_id, SubscriptionFacts()).dynamic:  # ours: our request says it
                self.describe(subscription_id, entry)
            learned.append(subscription_id)
        return learned


def _effective_time(body: Mapping, event_time: float) -> float:
    """When a subscription-modified's generators take over: mso-distributed-export's
    ``effective-time`` (the Master announces a change of originators ahead of the slots it
    serves), else the notification's event time."""
    effective = member(body, EFFECTIVE_TIME)
    return parse_time(effective) if isinstance(effective, str) else event_time


def generators_from_json(body: Mapping) -> frozenset[str] | None:
    """The generator ids under any of the accepted names, or None when none is present."""
    found: set[str] | None = None
    for key, value in body.items():
        if key.rpartition(":")[2] not in GENERATOR_LEAVES:
            continue
        found = found or set()
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise KnowledgeError(f"{key} holds {item!r}, not an id")
            found.add(str(item))
    return None if found is None else frozenset(found)


def policy_from_json(body: Mapping, base: Policy = Policy()) -> Policy:
    """Trigger and generators of a subscription entry or state notification; what it does not
    say (a modified without generators, say) is taken from ``base``."""
    generators = generators_from_json(body)
    policy = base if generators is None else replace(base, generators=generators)
    periodic = member(body, "periodic")
    if isinstance(periodic, Mapping):
        return replace(policy, period=_period(periodic), anchor=_anchor(periodic), on_change=False)
    if isinstance(member(body, "on-change"), Mapping):
        return replace(policy, period=None, anchor=0.0, on_change=True)
    return policy


def _period(periodic: Mapping) -> float:
    period = periodic.get("period")
    if isinstance(period, str) and period.isdigit():  # uint32 is a number in RFC 7951, be lenient
        period = int(period)
    if not isinstance(period, int) or isinstance(period, bool) or period <= 0:
        raise KnowledgeError(f"period {period!r} is not a positive number of centiseconds")
    return period / 100


def _anchor(periodic: Mapping) -> float:
    anchor = periodic.get("anchor-time")
    if anchor is None:
        return 0.0
    if not isinstance(anchor, str):
        raise KnowledgeError(f"anchor-time {anchor!r} is not a date-and-time")
    return parse_time(anchor)


def parse_time(text: str) -> float:
    """RFC 3339 date-and-time -> epoch seconds; KnowledgeError when it is not one."""
    try:
        return parse_epoch(text)
    except ValueError:
        raise KnowledgeError(f"{text!r} is not a date-and-time with a time zone") from None


def generator_list(generators: Iterable[str]) -> list[str]:
    """Generator ids in a stable, human order: numerically when they are numbers."""
    return sorted(generators, key=lambda g: (0, int(g), "") if g.isdigit() else (1, 0, g))
