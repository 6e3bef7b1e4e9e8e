"""A reassembler of a scaled-out collector: it reads the partitions JetStream pins to it and
turns their pieces into records, as one collector process would (collector.pipeline), then
publishes them to ``mso.telemetry.<id>`` (and JSON lines when asked).

Ownership is JetStream's (names in mso.bus): each partition has a durable pull consumer in the
priority group ``reassembly`` with the pinned_client policy, every reassembler pulls from every
partition, and the server delivers a partition's pieces to the one client it pinned. Pulls carry
the pin id the server gave; a 423 says the pin went elsewhere. A reassembler pulls its own share
of the partitions at once (partition k is the share of index k mod count) and the others after
``STANDBY_DELAY``, so on a common start each gets its share, and each stands by for the rest: when
one stops pulling for the pin timeout, the server pins another, which also gets what the first
had not acknowledged (after its ack wait; a reassembler that loses a pin while running hands
its unacknowledged pieces back at once).

A piece is acknowledged once the reassembly has surely released it: its slot's deadline (or the
reorder window) has passed in the pipeline's own time, and ``ACK_MARGIN`` more for the record to
reach the broker. One held longer than a third of the ack wait is marked in progress. What the
reassembler knows of a subscription of a partition it owns it writes to the KV bucket
``mso-collector-subscriptions``; for the other partitions it follows that bucket, so it knows
their subscriptions the moment it takes them over.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

import nats
import orjson
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.kv import KV_DEL, KV_PURGE

from collector.decoding import Event, EventDecoder
from collector.knowledge import Knowledge
from collector.merge import Merger, list_keys
from collector.metrics import CollectorMetrics, serve_metrics
from collector.nats_output import NatsOutput, NatsOutputError
from collector.outputs import JsonLinesOutput, Outputs
from collector.pipeline import STATE_MODULE, Pipeline
from collector.piece_transport import (EVENT, FORGOTTEN, KNOWLEDGE, ensure_pieces_stream, subscription_from_wire,
                                       versions_to_wire)
from collector.reassembly import PUSH_UPDATE, Reassembly, Record
from collector.stats import Stats
from mso import bus
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.yang_json import YangJson

log = logging.getLogger("mso.collector")
PULL_BATCH = 256  # messages (each a batch of pieces) per pull request
PULL_EXPIRES = 0.5  # seconds a pull request waits for messages
STANDBY_DELAY = 1.0  # seconds before pulling the partitions of the others' shares
ACK_WAIT = 5.0  # seconds JetStream waits for an acknowledgement before handing a piece out again
ACK_MARGIN = 0.5  # seconds between a record's emission and the acknowledgement of its pieces
PIN_TIMEOUT = 5.0  # seconds a silent reassembler keeps its partitions (the default of --pin-timeout)
STATUS, PIN_ID = "Status", "Nats-Pin-Id"
TICK = 0.005  # seconds between deadline checks


@dataclass
class _Partition:
    number: int
    inbox: str
    pin: str | None = None  # the id the server pinned us with, while it holds
    caught_up: bool = False  # the last message said nothing was pending, or a pull ended empty
    received: int = 0  # messages of the current pull request
    request_done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(order=True)
class _Held:
    ack_at: float  # pipeline time from which the pieces are surely released
    order: int
    message: Msg = field(compare=False)
    partition: int = field(compare=False)
    touched: float = field(compare=False)  # when it was delivered or last marked in progress


class PieceConsumer:
    """Pulls every partition, feeds the pieces of pinned ones to ``pipeline``, acknowledges them."""

    def __init__(self, client: nats.NATS, pipeline: Pipeline, *, partitions: int, share: tuple[int, int],
                 pin_timeout: float = PIN_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        """``share`` is (index, count): this reassembler's place among those started together."""
        self._client = client
        self._pipeline = pipeline
        self._partitions = partitions
        self._index, self._count = share
        self._name = f"{self._index + 1}/{self._count}"  # in its logs
        self._pin_timeout = pin_timeout
        self._clock = clock
        self._held: list[_Held] = []
        self._order = count()
        self._states: dict[int, _Partition] = {}
        self._tasks: list[asyncio.Task] = []
        self._bucket = None
        self.errors = pipeline.stats.errors

    @property
    def owned(self) -> list[int]:
        return sorted(number for number, state in self._states.items() if state.pin is not None)

    async def start(self) -> None:
        """The stream, the consumers and the KV bucket (made if missing), what the bucket knows,
        then the pulls."""
        jetstream = self._client.jetstream()
        await ensure_pieces_stream(jetstream)
        for partition in range(self._partitions):
            await self._ensure_consumer(partition)
        try:
            self._bucket = await jetstream.key_value(bus.SUBSCRIPTIONS_BUCKET)
        except NatsError:
            self._bucket = await jetstream.create_key_value(bucket=bus.SUBSCRIPTIONS_BUCKET, history=1)
        watcher = await self._bucket.watchall()
        while (entry := await watcher.updates(10.0)) is not None:
            self._learn(entry)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._follow(watcher)))
        for partition in range(self._partitions):
            self._tasks.append(loop.create_task(self._pull(partition)))

    async def _ensure_consumer(self, partition: int) -> None:
        name = bus.reassembly_consumer(partition)
        config = {"durable_name": name, "name": name, "filter_subject": bus.pieces_subject(partition),
                  "ack_policy": "explicit", "ack_wait": _ns(ACK_WAIT), "max_ack_pending": -1, "max_deliver": -1,
                  "deliver_policy": "all", "priority_groups": [bus.REASSEMBLY_GROUP],
                  "priority_policy": "pinned_client", "priority_timeout": _ns(self._pin_timeout)}
        reply = await self._client.request(f"{bus.JS_API}.CONSUMER.CREATE.{bus.PIECES_STREAM}.{name}",
                                           orjson.dumps({"stream_name": bus.PIECES_STREAM, "config": config}),
                                           timeout=10)
        error = orjson.loads(reply.data).get("error")
        if error:
            raise NatsError(f"cannot make consumer {name}: {error.get('description', error)}")

    # --- pulling ----------------------------------------------------------------------------

    async def _pull(self, partition: int) -> None:
        state = self._states[partition] = _Partition(partition, self._client.new_inbox())
        subject = f"{bus.JS_API}.CONSUMER.MSG.NEXT.{bus.PIECES_STREAM}.{bus.reassembly_consumer(partition)}"
        await self._client.subscribe(state.inbox, cb=functools.partial(self._delivered, state))
        if partition % self._count != self._index:
            await asyncio.sleep(STANDBY_DELAY)  # our share first: the others are for standing by
        while True:
            state.request_done.clear()
            state.received = 0
            request = {"batch": PULL_BATCH, "expires": _ns(PULL_EXPIRES), "group": bus.REASSEMBLY_GROUP}
            if state.pin is not None:
                request["id"] = state.pin
            try:
                await self._client.publish(subject, orjson.dumps(request), reply=state.inbox)
                await asyncio.wait_for(state.request_done.wait(), PULL_EXPIRES + 1.0)
            except asyncio.TimeoutError:
                pass
            except NatsError as error:  # the connection is down: nats-py reconnects, we pull again
                log.warning("pull-failed", extra={"fields": {"partition": partition, "error": str(error)}})
                await asyncio.sleep(PULL_EXPIRES)

    async def _delivered(self, state: _Partition, message: Msg) -> None:
        headers = message.headers or {}
        status = headers.get(STATUS)
        if status is not None:
            if status == "423":  # the server pinned another reassembler
                self._lost(state)
            if status in ("404", "408"):
                state.caught_up = True
            if status != "100":  # 100 is a heartbeat; every other status ends the request
                state.request_done.set()
            return
        pin = headers.get(PIN_ID)
        if pin is not None and pin != state.pin:
            log.info("partition-pinned", extra={"fields": {"partition": state.number, "reassembler": self._name}})
            state.pin = pin
        state.received += 1
        if state.received >= PULL_BATCH:
            state.request_done.set()
        state.caught_up = message.metadata.num_pending == 0
        await self._take(state, message)

    def _lost(self, state: _Partition) -> None:
        """The partition's pin went to another reassembler: its pieces go back at once, and what
        this one held of its subscriptions is dropped (the new owner emits it)."""
        if state.pin is None:
            return
        log.info("partition-unpinned", extra={"fields": {"partition": state.number, "reassembler": self._name}})
        state.pin = None
        kept = []
        for held in self._held:
            if held.partition == state.number:
                self._tasks.append(asyncio.get_running_loop().create_task(held.message.nak()))
            else:
                kept.append(held)
        self._held = kept
        heapq.heapify(self._held)
        for subscription_id in list(self._pipeline.knowledge.subscriptions):
            if bus.partition_of(subscription_id, self._partitions) == state.number:
                self._pipeline.reassembly.end(subscription_id)  # discarded: not ours to emit any more

    # --- pieces -----------------------------------------------------------------------------

    async def _take(self, state: _Partition, message: Msg) -> None:
        pipeline = self._pipeline
        now = self._clock()
        try:
            items = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            self.errors["pieces-unreadable"] += 1
            await message.term()
            return
        records: list[Record] = []
        changed: set[int] = set()
        hold = 0.0
        for item in items:
            try:
                kind = item[0]
                if kind == EVENT:
                    _, generator, name, event_time, body = item
                    hold = max(hold, self._hold(name, body, event_time))
                    records += pipeline.event(Event(name, body, event_time, None), generator, now)
                    if name.startswith(STATE_MODULE):
                        changed.add(body["id"])
                elif kind == KNOWLEDGE:
                    _, subscription_id, versions = item
                    pipeline.knowledge.subscriptions[subscription_id] = subscription_from_wire(subscription_id,
                                                                                               versions)
                    records += pipeline.reassembly.regroup(subscription_id)
                    changed.add(subscription_id)
                elif kind == FORGOTTEN:
                    _, subscription_id = item
                    pipeline.knowledge.end(subscription_id)
                    records += pipeline.reassembly.end(subscription_id)
                    changed.add(subscription_id)
                else:
                    self.errors["pieces-unreadable"] += 1
            except (ValueError, TypeError, KeyError, IndexError):
                self.errors["pieces-unreadable"] += 1
        pipeline.emit(records)
        for subscription_id in changed:
            await self._share(subscription_id)
        heapq.heappush(self._held, _Held(now + hold + ACK_MARGIN, next(self._order), message, state.number, now))

    def _hold(self, name: str, body: dict, event_time: float) -> float:
        """How long the reassembly may keep this piece: a slot's deadline, or the reorder window."""
        subscription = self._pipeline.knowledge.subscriptions.get(body.get("id"))
        if subscription is None or name.startswith(STATE_MODULE):
            return 0.0
        reassembly = self._pipeline.reassembly
        policy = subscription.policy_at(event_time)
        if policy.period is not None and name == PUSH_UPDATE:
            return reassembly.deadline_factor * policy.period
        return reassembly.reorder_window

    def note_caught_up(self) -> None:
        """Tell the pipeline when every partition it owns is caught up: deadlines may pass."""
        states = [state for state in self._states.values() if state.pin is not None]
        if states and all(state.caught_up for state in states):
            self._pipeline.caught_up()

    def acknowledge(self) -> None:
        """Acknowledge the pieces the pipeline has released; mark the long-held ones in progress."""
        settled, now = self._pipeline.settled_until(), self._clock()
        held = self._held
        while held and held[0].ack_at <= settled:
            done = heapq.heappop(held)
            self._tasks.append(asyncio.get_running_loop().create_task(done.message.ack()))
        for entry in held:
            if now - entry.touched > ACK_WAIT / 3:  # a long period: tell JetStream it is still being worked on
                entry.touched = now
                self._tasks.append(asyncio.get_running_loop().create_task(entry.message.in_progress()))
        self._tasks = [task for task in self._tasks if not task.done()]

    # --- what is known of subscriptions --------------------------------------------------------

    async def _share(self, subscription_id: int) -> None:
        subscription = self._pipeline.knowledge.subscriptions.get(subscription_id)
        try:
            if subscription is None:
                await self._bucket.delete(str(subscription_id))
            else:
                await self._bucket.put(str(subscription_id), orjson.dumps(versions_to_wire(subscription)))
        except NatsError as error:
            log.warning("subscription-share-failed", extra={"fields": {"id": subscription_id, "error": str(error)}})

    async def _follow(self, watcher) -> None:
        async for entry in watcher:
            if entry is not None:
                self._learn(entry)

    def _learn(self, entry) -> None:
        """A subscription as another reassembler knows it, unless it is of a partition we own."""
        if not entry.key.isdigit():
            return
        subscription_id = int(entry.key)
        state = self._states.get(bus.partition_of(subscription_id, self._partitions))
        if state is not None and state.pin is not None:
            return
        knowledge = self._pipeline.knowledge
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            knowledge.end(subscription_id)
        else:
            knowledge.subscriptions[subscription_id] = subscription_from_wire(subscription_id,
                                                                              orjson.loads(entry.value))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


@dataclass(frozen=True)
class ReassemblerConfig:
    nats: str
    partitions: int = bus.DEFAULT_PARTITIONS
    share: tuple[int, int] = (0, 1)  # (index, count) among the reassemblers started together
    pin_timeout: float = PIN_TIMEOUT
    nats_user: str | None = None
    nats_password: str | None = None
    jsonl: str | None = None
    metrics: tuple[str, int] | None = None
    deadline_factor: float = 1.5
    reorder_window: float = 0.1


class ReassemblerError(Exception):
    """The reassembler cannot start (the broker, an output); the message is one line."""


class ReassemblerService:
    """One reassembler process: a pipeline fed by a PieceConsumer, its outputs, its metrics."""

    def __init__(self, config: ReassemblerConfig) -> None:
        self.config = config
        schema = Schema.load()
        self.stats = Stats()
        knowledge = Knowledge()
        self.pipeline = Pipeline(
            EventDecoder(EnvelopeCodec(schema), YangJson(schema)), knowledge,
            Reassembly(knowledge, Merger(list_keys(schema)), deadline_factor=config.deadline_factor,
                       reorder_window=config.reorder_window),
            Outputs([], self.stats.output_drops), self.stats)
        self._client: nats.NATS | None = None
        self._consumer: PieceConsumer | None = None
        self._metrics_server: object | None = None
        self._tasks: list[asyncio.Task] = []
        self._asked: dict[int, float] = {}  # subscription id -> when the front was last asked about it

    async def start(self) -> None:
        config = self.config
        outputs = self.pipeline.outputs.outputs
        try:
            if config.jsonl is not None:
                outputs.append(JsonLinesOutput(config.jsonl))
            outputs.append(await NatsOutput.connect(config.nats, self.stats.output_drops, user=config.nats_user,
                                                    password=config.nats_password, deduplicate=True))
            self._client = await bus.connect(config.nats, user=config.nats_user, password=config.nats_password,
                                             name="mso-collector-reassembler")
            self._consumer = PieceConsumer(self._client, self.pipeline, partitions=config.partitions,
                                           share=config.share, pin_timeout=config.pin_timeout)
            await self._consumer.start()
        except OSError as error:
            raise ReassemblerError(f"cannot write {config.jsonl}: {error.strerror or error}") from None
        except (NatsOutputError, bus.BusError) as error:
            raise ReassemblerError(str(error)) from None
        except (NatsError, asyncio.TimeoutError) as error:
            raise ReassemblerError(f"cannot set up the pieces' stream and consumers at {config.nats}: "
                                   f"{error or type(error).__name__}") from None
        self.pipeline.on_unknown = self._ask_about
        if config.metrics is not None:
            pipeline = self.pipeline
            metrics = CollectorMetrics(self.stats, pipeline.reassembly, refusals=pipeline.refusals,
                                       segments_pending=lambda: pipeline.segments_pending, receive_buffer=None)
            self._metrics_server, port = serve_metrics(metrics, *config.metrics)
            log.info("metrics-listening", extra={"fields": {
                "role": "reassembler", "reassembler": f"{config.share[0] + 1}/{config.share[1]}",
                "address": f"{config.metrics[0]}:{port}"}})
        self._tasks.append(asyncio.get_running_loop().create_task(self._tick()))
        log.info("reassembler-started", extra={"fields": {"index": config.share[0], "of": config.share[1],
                                                          "partitions": config.partitions}})

    def _ask_about(self, subscription_id: int) -> None:
        """A piece of a subscription nobody told us of: the front re-reads the Master's (once a second)."""
        now = time.monotonic()
        if now - self._asked.get(subscription_id, float("-inf")) < 1.0 or self._client is None:
            return
        self._asked[subscription_id] = now
        self._tasks.append(asyncio.get_running_loop().create_task(
            self._client.publish(bus.UNKNOWN_SUBSCRIPTION_SUBJECT, str(subscription_id).encode())))

    async def _tick(self) -> None:
        assert self._consumer is not None
        while True:
            self._consumer.note_caught_up()
            self.pipeline.tick()
            self._consumer.acknowledge()
            self._tasks = [task for task in self._tasks if not task.done()]
            await asyncio.sleep(TICK)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.close()
        self.pipeline.flush()
        await self.pipeline.outputs.close()
        if self._client is not None:
            await self._client.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
