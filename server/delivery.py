"""How a subscription's notifications leave the Master: past the gate as the subscription's
owner, to its receivers (its NETCONF session, or UDP-notif receivers), seen by the observers.

Event records (pushes, event-stream notifications) are counted as RFC 8639's
``sent-event-records``; state notifications are not event records and are not counted. Pushes
are summarised for the observers once per ``SUMMARY_SECONDS`` instead of one event each, so
observing costs the push path a counter increment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from lxml import etree

from mso.date_and_time import format_epoch
from mso.notification_encoding import xml_notification
from mso.subscription_runner import Emitter
from server.authz import PUSH_CHANGE_UPDATE, PUSH_UPDATE, Gate, Principal
from server.observation import NotificationSent, Observers, PushesSent

SUMMARY_SECONDS = 1.0
_PUSHES = (PUSH_UPDATE, PUSH_CHANGE_UPDATE)


class NotificationSink(Protocol):
    def send_notification(self, message: bytes) -> None:
        """Queue one complete ``<notification>`` document."""


class SessionEmitter:
    """Pushes to the subscriber's own NETCONF session (RFC 8640)."""

    def __init__(self, session: NotificationSink) -> None:
        self._session = session

    def emit(self, event: etree._Element, event_time: float) -> None:
        self._session.send_notification(xml_notification(event, format_epoch(event_time)))


class Delivery:
    def __init__(self, subscription_id: int, emitter: Emitter, owner: Principal, receivers: tuple[str, ...],
                 gate: Gate, observers: Observers) -> None:
        self.subscription_id = subscription_id
        self.emitter = emitter
        self.owner = owner
        self.receivers = receivers
        self._gate = gate
        self._observers = observers
        self.sent = 0  # event records that left
        self.excluded = 0  # event records its filter or the gate kept back
        self._pushes: dict[str, int] = {}
        self._since = time.time()

    def record(self, event: etree._Element, event_time: float, viewed: bool = False) -> None:
        """One event record: a push, or an event-stream notification (``viewed``: built from
        samples already seen as the owner)."""
        passed = self._gate.notification(self.owner, event, viewed, self.subscription_id)
        if passed is None:
            self.excluded += 1
            return
        self.emitter.emit(passed, event_time)
        self.sent += 1
        tag = passed.tag
        if tag in _PUSHES:
            self._pushes[tag] = self._pushes.get(tag, 0) + 1
        else:
            self._observe(tag, event_time)

    def state(self, event: etree._Element, event_time: float) -> None:
        """A state notification (RFC 8639 §2.7): always delivered, generator ids as the gate allows."""
        passed = self._gate.notification(self.owner, event)
        if passed is None:
            return
        self.emitter.emit(passed, event_time)
        self._observe(passed.tag, event_time)

    def _observe(self, tag: str, event_time: float) -> None:
        for receiver in self.receivers:
            self._observers.notification(NotificationSent(tag, self.subscription_id, receiver, self.owner, event_time))

    def summarise(self) -> None:
        """Tell the observers what was pushed since the last summary, if anything."""
        now = time.time()
        if self._pushes:
            counts, self._pushes = self._pushes, {}
            self._observers.pushes(PushesSent(self.subscription_id, self.receivers, self.owner, counts,
                                              self._since, now))
        self._since = now


class PushSummaries:
    """Summarises every subscription's pushes once per ``SUMMARY_SECONDS``."""

    def __init__(self, deliveries: Callable[[], Iterable[Delivery]], interval: float = SUMMARY_SECONDS) -> None:
        self._deliveries = deliveries
        self._interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._summarise_all()

    def _summarise_all(self) -> None:
        """A function of its own, so no delivery stays referenced from the loop while it sleeps
        (its subscription, and its session, would outlive their end by an interval)."""
        for delivery in list(self._deliveries()):
            delivery.summarise()
