"""Configured subscriptions (RFC 8639 §2.5) kept in line with running: started, modified and
terminated as commits add, change and remove them, each pushed over UDP-notif to its
receivers and announced to them with state notifications. They survive a restart because
running does. A configured subscription runs as the user whose commit configured it, also
after a restart: who configured which is kept in the state dir.

Besides ``/sn:subscriptions``, parts of the Master may derive configured subscriptions from
running (a message-bus reporting job is one): ``derived`` returns them for a ``<data>`` tree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from lxml import etree

from mso.atomic_file import write_atomically
from mso.namespaces import SUBSCRIBED_NOTIFICATIONS
from mso.rpc_error import RpcError
from mso.subscription_model import SubscriptionSpec, anchored
from mso.udp_notif_sender import ReceiversEmitter, UdpNotifPublisher
from server.authz import SERVER, Gate, Principal
from server.configured_subscriptions import ConfigError, configured_subscriptions, diff
from server.datastore import Commit
from server.decompose import FilterUnsupported, check_filter
from server.delivery import Delivery
from server.observation import Observers
from server.placement import Placement
from server.subscription_state import state_notification
from server.subscription_table import Subscription, SubscriptionTable

SN = SUBSCRIBED_NOTIFICATIONS
OWNERS_FILE = "configured-owners.json"
Clock = Callable[[], float]
Derived = Callable[[etree._Element], list[SubscriptionSpec]]


class ConfiguredReconciler:
    def __init__(self, table: SubscriptionTable, placement: Placement, gate: Gate, observers: Observers,
                 prefix_namespaces: Mapping[str, str], *, state_dir: Path, derived: Derived = lambda data: [],
                 max_subscriptions: int = 100_000, clock: Clock = time.time) -> None:
        self._max_subscriptions = max_subscriptions
        self._owners_path = state_dir / OWNERS_FILE
        self._owners: dict[str, str] = json.loads(self._owners_path.read_text()) if self._owners_path.exists() else {}
        self._table = table
        self._derived = derived
        self._placement = placement
        self._gate = gate
        self._observers = observers
        self._prefix_namespaces = prefix_namespaces
        self._now = clock
        self._udp: UdpNotifPublisher | None = None

    def start(self, udp: UdpNotifPublisher, running: etree._Element) -> None:
        """Serve what running holds from the start (the server itself configured those)."""
        self._udp = udp
        self.reconcile(running, SERVER)

    def check(self, data: etree._Element) -> None:
        """Refuse a running datastore whose configured subscriptions cannot be run."""
        try:
            specs = configured_subscriptions(data)
        except ConfigError as error:
            raise RpcError(error.error_tag, error.error_message, app_tag=error.error_app_tag, path=error.error_path,
                           path_namespaces=self._prefix_namespaces) from None
        dynamic = sum(1 for s in self._table if s.dynamic)
        if dynamic + len(specs) > self._max_subscriptions:
            raise RpcError("resource-denied", f"this publisher serves at most {self._max_subscriptions} subscriptions "
                           f"({dynamic} dynamic ones are open)", path="/sn:subscriptions", path_namespaces={"sn": SN})
        for spec in specs:
            self._check_filter(spec)
            existing = self._table.get(spec.id)
            if existing is not None and existing.dynamic:
                raise RpcError("invalid-value", f"subscription id {spec.id} is in use by a dynamic subscription",
                               path=f"/sn:subscriptions/sn:subscription[sn:id='{spec.id}']",
                               path_namespaces={"sn": SN})

    def _check_filter(self, spec: SubscriptionSpec) -> None:
        try:
            check_filter(spec.filter)
        except FilterUnsupported as error:
            raise RpcError("invalid-value", f"{error.error_message} ({error.hint})",
                           app_tag="ietf-subscribed-notifications:filter-unsupported",
                           path=f"/sn:subscriptions/sn:subscription[sn:id='{spec.id}']",
                           path_namespaces={"sn": SN}) from None

    def running_committed(self, commit: Commit) -> None:
        self.reconcile(commit.after, commit.who)

    def reconcile(self, data: etree._Element, who: Principal) -> None:
        """Bring the running configured subscriptions in line with ``data`` (before ``start``
        there are none to bring: ``start`` does the first reconciliation)."""
        if self._udp is None:
            return
        current = [s.spec for s in self._table.configured()]
        added, removed, modified = diff(current, self._wanted(data))
        for spec in removed:
            self._terminate(self._table.get(spec.id))
        for spec in modified:
            self._modify(self._table.get(spec.id), spec)
        for spec in added:
            self._add(spec, who)

    def announce(self, subscription_ids: list[int]) -> None:
        """Tell the receivers again what these configured subscriptions are, as RFC 8639's
        receiver reset does (a receiver that restarted knows nothing of them)."""
        for subscription_id in subscription_ids:
            subscription = self._table.get(subscription_id)
            if subscription is not None and not subscription.dynamic:
                subscription.state(state_notification("subscription-started", subscription_id, spec=subscription.spec,
                                                      generators=subscription.generators), self._now())

    def _emitter(self, spec: SubscriptionSpec) -> ReceiversEmitter:
        assert self._udp is not None, "start() first"
        return ReceiversEmitter(self._udp, spec.receivers, spec.encoding)

    def prepare_commit(self, commit: Commit) -> None:
        """Remember who configures each new subscription before running is stored: if this
        cannot be stored (``OSError``), neither is running, so no subscription is left whose
        owner a restart would forget (and run as the server)."""
        if commit.who == SERVER:
            return
        before = {spec.id for spec in self._wanted(commit.before)}
        added = {str(spec.id) for spec in self._wanted(commit.after) if spec.id not in before}
        owners = {**self._owners, **{key: commit.who.user for key in added}}
        if owners != self._owners:
            write_atomically(self._owners_path, json.dumps(owners).encode())
            self._owners = owners

    def _wanted(self, data: etree._Element) -> list[SubscriptionSpec]:
        """The configured subscriptions ``data`` asks for, the bus jobs' included, anchored."""
        return [anchored(spec) for spec in configured_subscriptions(data) + self._derived(data)]

    def _owner(self, spec: SubscriptionSpec, who: Principal) -> Principal:
        """Who a configured subscription runs as: the committing user; at start-up (the server
        reconciling), whoever configured it before."""
        if who == SERVER:
            user = self._owners.get(str(spec.id))
            return SERVER if user is None else Principal(user, 0)
        return Principal(who.user, 0, who.source)

    def _add(self, spec: SubscriptionSpec, who: Principal) -> None:
        who = self._owner(spec, who)
        receivers = tuple(receiver.name for receiver in spec.receivers)
        delivery = Delivery(spec.id, self._emitter(spec), who, receivers, self._gate, self._observers)
        subscription = Subscription(spec, delivery, who, None)
        self._placement.assign(subscription, self._placement.plan_for(spec))
        subscription.announced = list(subscription.generators)
        self._table.add(subscription)
        subscription.state(state_notification("subscription-started", spec.id, spec=spec,
                                              generators=subscription.generators), self._now())
        self._placement.start(subscription)

    def _modify(self, subscription: Subscription | None, spec: SubscriptionSpec) -> None:
        assert subscription is not None
        delivery = subscription.delivery
        delivery.emitter = self._emitter(spec)
        delivery.receivers = tuple(receiver.name for receiver in spec.receivers)
        self._placement.reshape(subscription, spec, self._placement.plan_for(spec, subscription.failed),
                                "configuration changed")

    def _terminate(self, subscription: Subscription | None) -> None:
        assert subscription is not None
        subscription.state(state_notification("subscription-terminated", subscription.id,
                                              reason="sn:no-such-subscription"), self._now())
        self._placement.remove(subscription, "configuration removed")
