"""How a scaled-out collector's processes hand each other the pieces of its subscriptions over
NATS JetStream (names in mso.bus): the receivers and the process holding the Master's session
publish, the reassemblers consume (collector.reassembler_process).

A NATS message on ``mso.pieces.<partition>`` is a JSON array of items, in the order they came:

- ``["e", generator, event name, event time, body]``: a decoded event (a push, a state change);
- ``["k", subscription id, versions]``: what the Master's session learned of a subscription
  (``versions`` as ``Subscription.versions``, the first ``since`` null for minus infinity);
- ``["f", subscription id]``: a subscription that ended without a word (its session was lost).

Items go out in batches, per partition, when ``BATCH_ITEMS`` are waiting or at the next flush
(``FLUSH_INTERVAL``): one JetStream publish carries many pieces.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Iterable

import orjson
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from collector.decoding import Event
from collector.intake import NO_RECORDS
from collector.knowledge import Policy, Subscription
from collector.reassembly import Record
from mso import bus

log = logging.getLogger("mso.collector")
EVENT, KNOWLEDGE, FORGOTTEN = "e", "k", "f"
BATCH_ITEMS = 64
FLUSH_INTERVAL = 0.002  # seconds: the most a piece waits in its receiver for others to share its publish
QUEUED_BATCHES = 4096  # batches waiting for the broker; past that they are dropped and counted
DROPS = "nats-pieces"  # the output_drops label of pieces the broker could not take
PIECES_MAX_AGE = 60.0  # seconds a piece stays in MSO_PIECES unacknowledged: past any slot's use


def policy_to_wire(policy: Policy) -> dict:
    return {"period": policy.period, "anchor": policy.anchor, "on-change": policy.on_change,
            "generators": sorted(policy.generators)}


def policy_from_wire(wire: dict) -> Policy:
    return Policy(period=wire["period"], anchor=wire["anchor"], on_change=wire["on-change"],
                  generators=frozenset(wire["generators"]))


def versions_to_wire(subscription: Subscription) -> list:
    return [[None if math.isinf(since) else since, policy_to_wire(policy)] for since, policy in subscription.versions]


def subscription_from_wire(subscription_id: int, versions: list) -> Subscription:
    return Subscription(subscription_id, [(-math.inf if since is None else since, policy_from_wire(policy))
                                          for since, policy in versions])


async def ensure_pieces_stream(jetstream: JetStreamContext) -> None:
    """MSO_PIECES, a work queue (a piece leaves once a reassembler acknowledges it), if missing."""
    try:
        await jetstream.stream_info(bus.PIECES_STREAM)
    except NatsError:
        await jetstream.add_stream(name=bus.PIECES_STREAM, subjects=[f"{bus.PIECES_PREFIX}.>"], retention="workqueue",
                                   max_age=PIECES_MAX_AGE)


class PieceForwarder:
    """Publishes items to their partitions, in batches, from a task of its own."""

    def __init__(self, jetstream: JetStreamContext, partitions: int, errors: Counter[str],
                 drops: Counter[str]) -> None:
        self._jetstream = jetstream
        self._partitions = partitions
        self._errors = errors  # an event without a subscription id counts as "no-subscription-id"
        self._drops = drops
        self._waiting: list[list[bytes]] = [[] for _ in range(partitions)]
        self._batches: asyncio.Queue[tuple[int, bytes, int]] = asyncio.Queue(QUEUED_BATCHES)  # partition, payload, items
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publish_loop()), loop.create_task(self._flush_loop())]

    def forward(self, event: Event, generator: str, arrived: float) -> list[Record]:
        """An event decoded here (collector.intake's ``deliver``): to its subscription's partition."""
        subscription_id = event.body.get("id")
        if subscription_id.__class__ is not int:
            self._errors["no-subscription-id"] += 1
            return NO_RECORDS
        self._add(subscription_id, orjson.dumps([EVENT, generator, event.name, event.event_time, event.body]))
        return NO_RECORDS

    def knowledge(self, subscriptions: Iterable[Subscription]) -> None:
        """What the Master's session learned of these subscriptions, to their reassemblers, at once."""
        for subscription in subscriptions:
            self._add(subscription.id, orjson.dumps([KNOWLEDGE, subscription.id, versions_to_wire(subscription)]))
        self.flush()

    def forgotten(self, subscription_ids: Iterable[int]) -> None:
        for subscription_id in subscription_ids:
            self._add(subscription_id, orjson.dumps([FORGOTTEN, subscription_id]))
        self.flush()

    def _add(self, subscription_id: int, item: bytes) -> None:
        partition = bus.partition_of(subscription_id, self._partitions)
        waiting = self._waiting[partition]
        waiting.append(item)
        if len(waiting) >= BATCH_ITEMS:
            self._hand_over(partition)

    def flush(self) -> None:
        for partition, waiting in enumerate(self._waiting):
            if waiting:
                self._hand_over(partition)

    def _hand_over(self, partition: int) -> None:
        waiting = self._waiting[partition]
        self._waiting[partition] = []
        try:
            self._batches.put_nowait((partition, b"[" + b",".join(waiting) + b"]", len(waiting)))
        except asyncio.QueueFull:
            self._drops[DROPS] += len(waiting)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()

    async def _publish_loop(self) -> None:
        while True:
            partition, payload, items = await self._batches.get()
            try:
                acknowledged = await self._jetstream.publish_async(bus.pieces_subject(partition), payload,
                                                                   wait_stall=5.0)
                acknowledged.add_done_callback(lambda future, count=items: self._acknowledged(future, count))
            except (NatsError, asyncio.TimeoutError):
                self._drops[DROPS] += items
            finally:
                self._batches.task_done()

    def _acknowledged(self, future: asyncio.Future, items: int) -> None:
        if future.cancelled() or future.exception() is not None:
            self._drops[DROPS] += items

    async def close(self) -> None:
        """Publish what is waiting, wait for the broker's acknowledgements, then stop."""
        self.flush()
        try:
            await asyncio.wait_for(self._batches.join(), 5.0)
            await asyncio.wait_for(self._jetstream.publish_async_completed(), 5.0)
        except asyncio.TimeoutError:
            log.warning("pieces-close-timeout", extra={"fields": {"queued": self._batches.qsize()}})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
