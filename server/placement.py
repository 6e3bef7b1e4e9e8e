"""The placement engine: who serves which part of each subscription, and keeping that true.

The Master runs its own share as generator ``1``; each agent whose data a ``ds:operational``
filter selects runs a component subscription with the same id, trigger and receivers
(draft-zhou-netconf-multi-stream-originators §5) and the filter the decomposer gives it, which
selects exactly its share on its own data (the same filter, or one rewritten for it). A filter
only the whole device answers is the Master's alone: its job samples the agents' data too
(:mod:`server.whole_device`); so is a dynamic subscription whose data moved onto line cards
after it was established without a receiver for them (the agents would have nowhere to push).
Placement decides the plan when a subscription is established or modified, starts and stops
the Master's job and the agents' components, re-decomposes when ownership changes, and suspends
and resumes:

- ``mso-dx:no-originator`` when nobody owns what the filter selects any more, resumed when
  an originator returns;
- ``sn:unsupportable-volume`` while the subscriber's session cannot take more (RFC 8639 §2.4.5).

Shares follow ownership while a subscription is suspended, so it resumes with today's
originators, and the subscriber hears ``subscription-modified`` whenever the generator list it
was told changes. A change of ownership announced ahead (a move, an agent joining) takes effect
at the instant the originators give: the notification says so (``mso-dx:effective-time``) and
every originator, the Master's own job included, switches then, so each slot is served by the
generators announced for it. A component an agent cannot run is taken out of the shares (and
the subscriber told), so a collector never waits for a piece that will not come.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace

from lxml import etree

from mso.filters import KeyIndex
from mso.generators import MASTER_GENERATOR, MASTER_PUBLISHER_ID
from mso.namespaces import DISTRIBUTED_NOTIF, qn
from mso.subscription_model import AgentReceiver, OnChange, Periodic, SubscriptionSpec
from mso.subscription_runner import Job, JobFactory, OnChangeJob
from server.authz import Gate
from server.datastore import Commit
from server.decompose import NOTHING, Decomposition, check_filter
from server.event_stream import compile_stream_filter
from server.originators import Originators
from server.subscription_requests import subscription_error
from server.subscription_state import state_notification
from server.subscription_table import Subscription, SubscriptionTable
from server.whole_device import WholeDevice

log = logging.getLogger("mso.subscriptions")
NO_ORIGINATOR = "mso-dx:no-originator"
UNSUPPORTABLE_VOLUME = "sn:unsupportable-volume"
NO_RECEIVER = ("line cards took part of its data after it was established without an agent-receiver: "
               "the Master gathers their data and serves it whole")
Clock = Callable[[], float]


class Placement:
    def __init__(self, originators: Originators, jobs: JobFactory, table: SubscriptionTable, gate: Gate,
                 keys: KeyIndex, whole: WholeDevice, whole_jobs: JobFactory, clock: Clock = time.time) -> None:
        self._originators = originators
        self._gate = gate
        self._jobs = jobs
        self._whole = whole
        self._whole_jobs = whole_jobs  # the Master's jobs that sample the whole device
        self._table = table
        self._keys = keys
        self._now = clock
        self._own_switches: dict[int, asyncio.TimerHandle] = {}  # the Master's own job, waiting to switch

    # --- deciding who serves ------------------------------------------------------------------

    def plan_for(self, spec: SubscriptionSpec, failed: Collection[str] = ()) -> Decomposition:
        """Who would serve ``spec``, each with what filter (``failed``: generators that could
        not). A filter that selects nothing anywhere is the Master's to answer, with empty
        updates. Raises FilterUnsupported for a filter that can be evaluated neither way."""
        check_filter(spec.filter)
        plan = self._decomposed(spec, failed)
        return plan if plan.filters else Decomposition({MASTER_GENERATOR: NOTHING})

    def _decomposed(self, spec: SubscriptionSpec, failed: Collection[str]) -> Decomposition:
        """The originators whose data ``spec`` selects; only operational data lives on agents."""
        if spec.datastore != "ds:operational":
            return Decomposition({MASTER_GENERATOR: spec.filter})
        plan = self._originators.shares(spec.filter)
        if not failed or plan.whole:
            return plan
        return Decomposition({g: selection for g, selection in plan.filters.items() if g not in failed})

    def _plan_now(self, subscription: Subscription) -> Decomposition:
        """The plan ownership calls for now: a dynamic subscription without an agent receiver
        is served whole once agents hold part of its data (they could push it nowhere)."""
        plan = self._decomposed(subscription.spec, subscription.failed)
        receiverless = subscription.dynamic and subscription.agent_receiver is None and not self._originators.centralized
        if receiverless and plan.whole is None and self._agents(plan.generators):
            return Decomposition({MASTER_GENERATOR: subscription.spec.filter}, NO_RECEIVER)
        return plan

    def check_dynamic(self, spec: SubscriptionSpec, plan: Decomposition, agent_receiver: AgentReceiver | None,
                      rpc: str) -> None:
        """Refuse, with ``rpc``'s error, a dynamic subscription its shares cannot serve: agents
        own data but have nowhere to push it, or cannot push at its period or on change."""
        agents = self._agents(plan.generators)
        if not agents:
            return
        if agent_receiver is None and not self._originators.centralized:
            identity = "no-agent-receiver" if rpc == "establish-subscription" else "no-agent-receiver-to-modify"
            raise subscription_error(rpc, identity,
                                     f"line cards {', '.join(agents)} own selected data: give "
                                     "mso-distributed-export:agent-receiver (or start the Master with --dynamic-receiver)",
                                     datastore=True)
        for generator in agents:
            capability = self._originators.capability(generator)
            if capability is None:
                continue
            trigger = spec.trigger
            if isinstance(trigger, Periodic) and trigger.period_cs < capability.minimum_period_cs:
                raise subscription_error(rpc, "period-unsupported",
                                         f"line card {generator} pushes at most every {capability.minimum_period_cs} cs",
                                         datastore=True, period_hint=capability.minimum_period_cs)
            if isinstance(trigger, OnChange) and not capability.on_change:
                raise subscription_error(rpc, "on-change-unsupported",
                                         f"line card {generator} does not support on-change", datastore=True)

    def assign(self, subscription: Subscription, plan: Decomposition) -> None:
        subscription.plan = plan
        subscription.generators = [MASTER_GENERATOR] if self._originators.centralized else list(plan.generators)

    # --- running ------------------------------------------------------------------------------

    def start(self, subscription: Subscription) -> None:
        if MASTER_GENERATOR in subscription.shares:
            self._start_own(subscription)
        for generator in self._agents(subscription.shares):
            self._originators.start_component(generator, self._component_spec(subscription, generator))

    def stop(self, subscription: Subscription) -> None:
        self._stop_own(subscription)
        for generator in self._agents(subscription.shares):
            self._originators.stop_component(generator, subscription.id)

    def reshape(self, subscription: Subscription, spec: SubscriptionSpec, plan: Decomposition, reason: str) -> None:
        """Apply new parameters and shares (modify-subscription, a configured change) and tell the
        subscriber before any push of the new kind: agents that keep a share get a component
        modify, the others a create or a delete."""
        before = subscription.plan
        running = not subscription.suspended
        if running:
            self._stop_own(subscription)
        subscription.spec = spec
        self.assign(subscription, plan)
        if subscription.suspension == NO_ORIGINATOR:  # its new filter is served by somebody
            subscription.suspension = None
            subscription.state(state_notification("subscription-resumed", spec.id), self._now())
            running = True
        self.notify_modified(subscription, reason)
        if running:
            self._move_shares(subscription, before, changed=True)

    def _move_shares(self, subscription: Subscription, before: Decomposition, *, changed: bool,
                     at: float | None = None) -> None:
        """Take the jobs from ``before``'s plan to the subscription's current one, from ``at``
        (None: now). Originators that keep a share with the same filter are left alone, or,
        when the subscription ``changed``, restarted (the Master) or sent a component modify
        (agents)."""
        after = subscription.plan
        had_own, has_own = MASTER_GENERATOR in before.filters, MASTER_GENERATOR in after.filters
        own_changed = changed or (before.filters.get(MASTER_GENERATOR), before.whole) != (
            after.filters.get(MASTER_GENERATOR), after.whole)
        if (had_own or has_own) and (own_changed or had_own != has_own):
            self._switch_own(subscription, at, has_own)
        for generator in self._agents(before.generators):
            if generator not in after.filters:
                self._originators.stop_component(generator, subscription.id, at)
        for generator in self._agents(after.generators):
            if generator not in before.filters:
                self._originators.start_component(generator, self._component_spec(subscription, generator), at)
            elif changed or before.filters[generator] != after.filters[generator]:
                self._originators.modify_component(generator, self._component_spec(subscription, generator), at)

    def _switch_own(self, subscription: Subscription, at: float | None, run: bool) -> None:
        """Stop the Master's own job and, if ``run``, start it as the plan now says, at ``at``."""
        waiting = self._own_switches.pop(subscription.id, None)
        if waiting is not None:
            waiting.cancel()

        def switch() -> None:
            self._own_switches.pop(subscription.id, None)
            self._stop_own(subscription)
            if run:
                self._start_own(subscription)

        delay = 0.0 if at is None else at - self._now()
        if delay <= 0:
            switch()
        else:
            self._own_switches[subscription.id] = asyncio.get_running_loop().call_later(delay, switch)

    def remove(self, subscription: Subscription, reason: str | None = None) -> None:
        self.stop(subscription)
        self._table.remove(subscription, reason)

    def notify_modified(self, subscription: Subscription, reason: str | None = None,
                        effective: float | None = None) -> None:
        """``subscription-modified`` with the current parameters and generator list (serving
        from ``effective``, when that is later than now)."""
        spec = subscription.spec
        subscription.state(state_notification("subscription-modified", spec.id, spec=spec,
                                              generators=subscription.generators, effective=effective), self._now())
        subscription.announced = list(subscription.generators)
        self._table.changed(subscription, reason)

    def _start_own(self, subscription: Subscription) -> None:
        """The Master's own share: a job on the runner (over the whole device's data for a
        subscription served whole, started once the agents' data is in), or a filter for an
        event stream."""
        spec = subscription.spec
        if spec.stream is not None:
            subscription.stream_filter = compile_stream_filter(spec.filter, self._keys)
            return
        view = self._gate.view(subscription.owner)
        if subscription.plan.whole:
            job = subscription.job = self._whole_jobs.job(spec, subscription, on_complete=self._completed, view=view)
            self._whole.serve(spec, job.start)
            return
        own = replace(spec, filter=subscription.plan.filters[MASTER_GENERATOR])
        subscription.job = self._jobs.job(own, subscription, on_complete=self._completed, view=view)
        subscription.job.start()

    def _stop_own(self, subscription: Subscription) -> None:
        waiting = self._own_switches.pop(subscription.id, None)
        if waiting is not None:
            waiting.cancel()
        self._whole.stop(subscription.id)
        if subscription.job is not None:
            subscription.job.stop()
            subscription.job = None

    def _component_spec(self, subscription: Subscription, generator: str) -> SubscriptionSpec:
        """What an agent runs: the subscription with the filter its share calls for, pushed to
        the agent receiver for a dynamic one."""
        spec = replace(subscription.spec, filter=subscription.plan.filters[generator])
        receiver: AgentReceiver | None = subscription.agent_receiver
        if not subscription.dynamic or receiver is None:
            return spec
        return replace(spec, receivers=(receiver.receiver,), encoding=receiver.encoding)

    def _completed(self, job: Job) -> None:
        subscription = self._table.get(job.spec.id)
        if subscription is None:
            return
        subscription.state(state_notification("subscription-completed", job.spec.id), self._now())
        self.remove(subscription, "stop-time reached")

    @staticmethod
    def _agents(shares: list[str]) -> list[str]:
        return [g for g in shares if g != MASTER_GENERATOR]

    # --- ownership changes --------------------------------------------------------------------

    def redecompose(self, at: float | None = None) -> None:
        """Ownership changed, from ``at`` on (None: now): re-decompose every operational
        subscription whose originators differ now, tell its subscriber, and suspend (resume) it
        when no originator is left (returns)."""
        for subscription in self._table:
            if subscription.spec.datastore != "ds:operational":
                continue
            plan = self._plan_now(subscription)
            if subscription.suspension == NO_ORIGINATOR:
                if plan.filters:
                    self.assign(subscription, plan)
                    self._resume(subscription)
            elif not plan.filters and self._agents(subscription.shares):
                self._orphaned(subscription)
            elif plan.filters and plan != subscription.plan:
                self._reassign(subscription, plan, at)

    def _reassign(self, subscription: Subscription, plan: Decomposition, at: float | None) -> None:
        before = subscription.plan
        self.assign(subscription, plan)
        if subscription.suspended:  # it resumes with these
            return
        self._move_shares(subscription, before, changed=False, at=at)
        log.info("redecomposed", extra={"fields": {"id": subscription.id, "generators": ",".join(plan.generators),
                                                   "served-whole": plan.whole or ""}})
        if subscription.generators != subscription.announced:
            self.notify_modified(subscription, "originators changed", at)

    def _orphaned(self, subscription: Subscription) -> None:
        if not subscription.suspended:
            self._suspend(subscription, NO_ORIGINATOR)
        subscription.plan = Decomposition()

    def component_failed(self, generator: str, subscription_id: int, reason: str) -> None:
        """An agent could not run its component: serve the subscription without that share
        until the agent registers again, and say so."""
        subscription = self._table.get(subscription_id)
        if subscription is None or generator not in subscription.shares:
            return
        log.warning("component-failed", extra={"fields": {"id": subscription_id, "generator": generator,
                                                          "reason": reason}})
        subscription.failed[generator] = reason
        self._originators.stop_component(generator, subscription_id)
        plan = subscription.plan
        remaining = Decomposition({g: f for g, f in plan.filters.items() if g != generator}, plan.whole)
        if not remaining.filters:
            self._orphaned(subscription)
            return
        self.assign(subscription, remaining)
        if not subscription.suspended and subscription.generators != subscription.announced:
            self.notify_modified(subscription, f"generator {generator} failed: {reason}")

    def agent_left(self, generator: str) -> None:
        """A new registration of that agent gets a new chance at the shares it failed."""
        for subscription in self._table:
            subscription.failed.pop(generator, None)

    def agent_report(self, subscription_id: int, event: etree._Element, event_time: float) -> None:
        """Centralized mode: an agent's event, pushed by the Master as its own."""
        subscription = self._table.get(subscription_id)
        if subscription is None or subscription.suspended:
            return
        publisher = event.find(qn(DISTRIBUTED_NOTIF, "message-publisher-id"))
        if publisher is not None:
            publisher.text = str(MASTER_PUBLISHER_ID)
        subscription.delivery.record(event, event_time)

    # --- suspension ---------------------------------------------------------------------------

    def _suspend(self, subscription: Subscription, reason: str) -> None:
        self.stop(subscription)
        subscription.suspension = reason
        subscription.state(state_notification("subscription-suspended", subscription.id, reason=reason), self._now())

    def _resume(self, subscription: Subscription) -> None:
        subscription.suspension = None
        subscription.state(state_notification("subscription-resumed", subscription.id), self._now())
        if subscription.generators != subscription.announced:
            self.notify_modified(subscription, "originators changed while suspended")
        self.start(subscription)

    def session_paused(self, session_id: int, paused: bool) -> None:
        """The session's send buffer is full (or drained again): suspend (resume) its subscriptions
        with reason unsupportable-volume rather than buffer without bound (RFC 8639 §2.4.5)."""
        for subscription in self._table.of_session(session_id):
            if paused and not subscription.suspended:
                self._suspend(subscription, UNSUPPORTABLE_VOLUME)
            elif not paused and subscription.suspension == UNSUPPORTABLE_VOLUME:
                if subscription.spec.datastore == "ds:operational" and not subscription.shares:
                    subscription.suspension = NO_ORIGINATOR
                    subscription.state(state_notification("subscription-suspended", subscription.id,
                                                          reason=NO_ORIGINATOR), self._now())
                else:
                    self._resume(subscription)

    # --- data ---------------------------------------------------------------------------------

    def running_committed(self, commit: Commit) -> None:
        """On-change subscriptions to running compare now rather than wait."""
        for subscription in self._table:
            job = subscription.job
            if isinstance(job, OnChangeJob) and subscription.spec.datastore == "ds:running":
                job.data_changed()

    def master_jobs(self) -> int:
        """Subscriptions the Master runs a share of itself."""
        return sum(1 for s in self._table if MASTER_GENERATOR in s.shares and not s.suspended)
