"""Subscriptions the Master serves whole: those whose filter only the whole device's data
answers (see :mod:`server.decompose`), and those whose line cards have nowhere to push.

The Master's job for such a subscription is an ordinary job of the shared runner; only its
sampler differs. Each sample is the Master's own data merged with the agents' data, gathered
from the agents the way a ``get`` gathers it (a get-request over the control channel), and the
filter applied to the whole. The runner samples synchronously at each tick, so the gathering
runs ahead of it: an asyncio task per subscription asks the agents ``lead`` seconds before each
tick (for on-change, before each poll) and keeps the latest answer, which the tick's sample
merges. A tick thus pushes on time, with the line cards' data at most ``lead`` seconds older
than the Master's; an agent that does not answer in time is left out, as from a get. The job
starts once the first answer is in, so its first push (or on-change sync) holds every card.

Agents are asked for all their data under the top-level nodes the filter can read (filtering
it on a card would be wrong, which is why the Master serves it), so a subscription served
whole costs the Master a gather of that much data per period.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lxml import etree

from mso.filters import KeyIndex
from mso.subscription_model import FilterSpec, Periodic, SubscriptionSpec
from server.operational import OperationalDatastore, with_agents

log = logging.getLogger("mso.whole-device")
Gather = Callable[[FilterSpec | None], Awaitable[list[etree._Element]]]
Clock = Callable[[], float]
LEAD_SECONDS = 0.2  # how long before a tick the agents are asked (at most half the period)


@dataclass
class _Gathered:
    parts: list[etree._Element]
    users: int  # subscriptions that read it


class WholeDevice:
    """The sampler of subscriptions served whole, and the gathering ahead of their samples."""

    def __init__(self, operational: OperationalDatastore, gather: Gather, keys: KeyIndex, *,
                 poll_seconds: float, clock: Clock = time.time, lead: float = LEAD_SECONDS) -> None:
        self._operational = operational
        self._gather = gather
        self._keys = keys
        self._poll = poll_seconds
        self._now = clock
        self._lead = lead
        self._gathered: dict[FilterSpec | None, _Gathered] = {}
        self._tasks: dict[int, tuple[asyncio.Task[None], FilterSpec | None]] = {}

    # --- the runner's sampler -----------------------------------------------------------------

    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        gathered = self._gathered.get(selection)
        return with_agents(self._operational, gathered.parts if gathered is not None else (), selection, self._keys)

    # --- gathering ahead of the samples -------------------------------------------------------

    def serve(self, spec: SubscriptionSpec, ready: Callable[[], None]) -> None:
        """Gather for ``spec`` ahead of each of its samples; ``ready`` once the first is in."""
        self.stop(spec.id)
        gathered = self._gathered.setdefault(spec.filter, _Gathered([], 0))
        gathered.users += 1
        task = asyncio.get_running_loop().create_task(self._ahead_of_samples(spec, ready))
        self._tasks[spec.id] = (task, spec.filter)

    def stop(self, subscription_id: int) -> None:
        entry = self._tasks.pop(subscription_id, None)
        if entry is None:
            return
        task, selection = entry
        task.cancel()
        gathered = self._gathered[selection]
        gathered.users -= 1
        if not gathered.users:
            del self._gathered[selection]

    async def _ahead_of_samples(self, spec: SubscriptionSpec, ready: Callable[[], None]) -> None:
        first = True
        while True:
            try:
                parts = await self._gather(spec.filter)
            except Exception:  # a gather is best effort, as for a get; the next one may do
                log.exception("gather-failed", extra={"fields": {"id": spec.id}})
                parts = []
            self._gathered[spec.filter].parts = parts
            if first:
                first = False
                ready()
            await asyncio.sleep(self._until_next(spec))

    def _until_next(self, spec: SubscriptionSpec) -> float:
        """Seconds until the next gathering: ``lead`` (at most half the period) before the next
        tick ``anchor + k·period`` still ahead of that, or one poll later for on-change."""
        trigger = spec.trigger
        if not isinstance(trigger, Periodic):
            return self._poll
        period = trigger.period_cs / 100
        lead = min(self._lead, period / 2)
        anchor = trigger.anchor_seconds
        now = self._now()
        tick = anchor + math.floor((now + lead - anchor) / period + 1) * period
        return max(0.0, tick - lead - now)
