"""Every subscription the Master serves, dynamic and configured, by id, and what each one is:
its parameters, its owner, where it is delivered, and who serves it.

The table tells the observers when a subscription starts, changes or ends, with its
measurement settings, so no other part has to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count

from lxml import etree

from mso.subscription_model import AgentReceiver, SubscriptionSpec
from mso.subscription_runner import Job
from server.authz import Principal
from server.decompose import Decomposition
from server.delivery import Delivery
from server.observation import Observers, SubscriptionChange

StreamFilter = Callable[[etree._Element], etree._Element | None]


@dataclass(eq=False)
class Subscription:
    """One global subscription. The Master's job emits through it (``emit``); other event records
    (stream events, centralized agents' reports) go to ``delivery.record`` directly."""

    spec: SubscriptionSpec
    delivery: Delivery
    owner: Principal
    session_id: int | None  # the establishing session; None for a configured subscription
    plan: Decomposition = field(default_factory=Decomposition)  # who produces its data, each with what filter
    generators: list[str] = field(default_factory=list)  # announced for those shares ("1" when centralized)
    announced: list[str] = field(default_factory=list)  # the generator list the subscriber last heard
    agent_receiver: AgentReceiver | None = None  # where agents push a dynamic subscription's share
    failed: dict[str, str] = field(default_factory=dict)  # generator -> why its component failed
    job: Job | None = None  # the Master's own share
    stream_filter: StreamFilter | None = field(default=None, repr=False)
    suspension: str | None = None  # the subscription-suspended reason while suspended

    @property
    def id(self) -> int:
        return self.spec.id

    @property
    def shares(self) -> list[str]:
        """The originators that produce its data."""
        return self.plan.generators

    @property
    def dynamic(self) -> bool:
        return self.session_id is not None

    @property
    def suspended(self) -> bool:
        return self.suspension is not None

    def emit(self, event: etree._Element, event_time: float) -> None:
        """What the Master's own job pushes (its samples already seen as the owner)."""
        self.delivery.record(event, event_time, viewed=True)

    def state(self, event: etree._Element, event_time: float) -> None:
        self.delivery.state(event, event_time)


class SubscriptionTable:
    def __init__(self, observers: Observers) -> None:
        self._observers = observers
        self._subscriptions: dict[int, Subscription] = {}
        self._ids = count(1)

    def next_id(self) -> int:
        """A free id for a dynamic subscription (configured ones bring their own)."""
        while True:
            candidate = next(self._ids)
            if candidate not in self._subscriptions:
                return candidate

    def get(self, subscription_id: int) -> Subscription | None:
        return self._subscriptions.get(subscription_id)

    def add(self, subscription: Subscription) -> None:
        self._subscriptions[subscription.id] = subscription
        self._tell("started", subscription)

    def changed(self, subscription: Subscription, reason: str | None = None) -> None:
        self._tell("modified", subscription, reason)

    def remove(self, subscription: Subscription, reason: str | None = None) -> None:
        if self._subscriptions.pop(subscription.id, None) is subscription:
            subscription.delivery.summarise()
            self._tell("ended", subscription, reason)

    def of_session(self, session_id: int) -> list[Subscription]:
        return [s for s in self._subscriptions.values() if s.session_id == session_id]

    def configured(self) -> list[Subscription]:
        return [s for s in self._subscriptions.values() if not s.dynamic]

    def deliveries(self) -> Iterator[Delivery]:
        return (s.delivery for s in self._subscriptions.values())

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._subscriptions.values()))

    def __len__(self) -> int:
        return len(self._subscriptions)

    def _tell(self, change: str, subscription: Subscription, reason: str | None = None) -> None:
        self._observers.subscription(SubscriptionChange(change, subscription.spec, subscription.owner,
                                                        subscription.delivery.receivers,
                                                        tuple(subscription.generators), reason))
