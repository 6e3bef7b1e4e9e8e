"""The observation point: one registry of observers that see everything the server does on
behalf of a user, without any handler, session or subscription knowing who listens.

Observers see four kinds of event:

- ``RpcEvent``: every RPC, those refused before dispatch included (unparsable XML, no
  message-id, several operations), with who, what, which datastore, the outcome and the data
  nodes it read (``nodes_read``) or wrote;
- ``NotificationSent``: every state notification and event-stream notification, with the
  subscription and receiver it went to;
- ``PushesSent``: push-updates and push-change-updates summarised per subscription and
  interval (counts only, never payloads);
- ``SubscriptionChange``: a subscription's measurement settings when it starts, changes or ends.

The structured log is one observer; the 3GPP Logging NRM and NACM accounting are others. An
observer that raises is logged and skipped: it never breaks the RPC or push it watched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from mso.rpc_error import RpcError
from mso.subscription_model import SubscriptionSpec
from server.authz import DataWrite, Principal

log = logging.getLogger("mso.observation")

NodePaths = Callable[[etree._Element], list["DataNode"]]


@dataclass(frozen=True)
class DataNode:
    """One data node an operation read, as an instance path with the prefixes it uses."""

    path: str
    namespaces: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RpcEvent:
    principal: Principal
    operation: str | None  # Clark name; None when the message held no single readable operation
    message_id: str | None
    datastore: str | None  # "running", "operational", or None for an operation on none
    error: RpcError | None
    seconds: float
    read: etree._Element | None = field(default=None, repr=False)  # the data the reply carried
    writes: tuple[DataWrite, ...] = ()
    _paths: NodePaths | None = field(default=None, repr=False, compare=False)

    @property
    def outcome(self) -> str:
        """"ok", or the error-tag of the rpc-error it was answered with."""
        return "ok" if self.error is None else self.error.tag

    def nodes_read(self) -> list[DataNode]:
        """The list entries, and the leaves outside any list entry, that the reply carried
        (computed only when an observer asks)."""
        if self.read is None or self._paths is None:
            return []
        return self._paths(self.read)


@dataclass(frozen=True)
class NotificationSent:
    name: str  # Clark name of the event: subscription-started, netconf-config-change...
    subscription_id: int | None
    receiver: str  # "session-5" or a configured receiver's name
    owner: Principal
    event_time: float


@dataclass(frozen=True)
class PushesSent:
    subscription_id: int
    receivers: tuple[str, ...]
    owner: Principal
    counts: Mapping[str, int]  # Clark name of the notification -> how many went out
    since: float  # wall-clock bounds of the interval summarised
    until: float


@dataclass(frozen=True)
class SubscriptionChange:
    change: str  # "started" | "modified" | "ended"
    spec: SubscriptionSpec  # filter, trigger (period or dampening), encoding, receivers, stop-time
    owner: Principal
    receivers: tuple[str, ...]
    generators: tuple[str, ...]
    reason: str | None = None  # why it ended or was modified, when the server knows


class Observer:
    """Override what you watch; the rest does nothing."""

    def rpc(self, event: RpcEvent) -> None:
        return None

    def notification(self, event: NotificationSent) -> None:
        return None

    def pushes(self, event: PushesSent) -> None:
        return None

    def subscription(self, event: SubscriptionChange) -> None:
        return None


class Observers:
    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self._observers = list(observers)

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def rpc(self, event: RpcEvent) -> None:
        for observer in self._observers:
            self._safely(observer.rpc, event)

    def notification(self, event: NotificationSent) -> None:
        for observer in self._observers:
            self._safely(observer.notification, event)

    def pushes(self, event: PushesSent) -> None:
        for observer in self._observers:
            self._safely(observer.pushes, event)

    def subscription(self, event: SubscriptionChange) -> None:
        for observer in self._observers:
            self._safely(observer.subscription, event)

    @staticmethod
    def _safely(call: Callable[[object], None], event: object) -> None:
        try:
            call(event)
        except Exception:
            log.exception("observer-failed", extra={"fields": {"observer": type(getattr(call, "__self__", call)).__name__,
                                                               "event": type(event).__name__}})
