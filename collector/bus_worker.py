"""``mso bus worker``: the formatting and processing stage beside the broker (TS 23.288 §5A.3.2,
the messaging framework's adaptor), the I/O around ``collector.bus_stage``.

It reads the polling jobs' instructions from the KV bucket the Master keeps
(``mso.bus.INSTRUCTIONS_BUCKET``) and every topic that the jobs it serves read, once, whatever
the number of jobs: through the topic's durable consumer ``bus-worker``, in the priority group
``bus-workers`` with the pinned_client policy (names in ``mso.bus``). Every worker pulls every
such topic; the server delivers a topic's records to the one worker it pinned, and when that
worker stops pulling for the consumer's priority timeout, to another. So workers scale out by
topic, and a topic's consumers are served by one of them at a time, which is what their
summaries and clubbing need. A pull carries the pin id the server gave; a 423 says the pin
went to another worker, whose stages start afresh (what this one held of the topic's current
intervals and clubs is lost, as when a worker dies).

Each record is handed to the stages of the topic's jobs (each cutting it to its job's share
when the job asked for data: ``modules``, the namespace -> module name mapping of the schema
the worker loads, names the members) and acknowledged; a clock tick drives
the timed deliveries and the ends of intervals of the topics this worker holds. What a stage
gives is published with JetStream to the job's own subject, in order. A consTrigNotif job's
buffer lives in the worker that holds its topic, which alone answers its fetch requests
(``mso.bus.fetch_subject``): with no worker holding the topic there is no buffer, and the
requester hears that nobody answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import nats
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError
from nats.js.kv import KV_DEL, KV_PURGE

from collector.bus_stage import ConsumerStage
from collector.bus_summaries import ListKeys
from mso import bus
from mso.bus_instructions import JobInstructions

log = logging.getLogger("mso.bus.worker")
PULL_BATCH = 64
PULL_EXPIRES = 1.0  # seconds a pull request waits for records
TICK = 0.1  # seconds between the timed deliveries' checks
FETCH_LIMIT = 100  # deliveries per fetch answer (the requester asks again while there are more)
STATUS, PIN_ID = "Status", "Nats-Pin-Id"
NANOSECONDS = 1_000_000_000


class PinnedReader:
    """Pulls one durable consumer in a priority group with the pinned_client policy, handing
    each record to ``take``; ``held`` says whether the server pinned this reader, ``on_pinned``
    and ``on_lost`` tell when that changes."""

    def __init__(self, client: nats.NATS, stream: str, durable: str, group: str, take: Callable[[Msg], Awaitable[None]],
                 on_pinned: Callable[[], None], on_lost: Callable[[], None]) -> None:
        self._client = client
        self._subject = f"{bus.JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._group = group
        self._take = take
        self._on_pinned = on_pinned
        self._on_lost = on_lost
        self._pin: str | None = None
        self._received = 0
        self._request_done = asyncio.Event()
        self._pause = 0.0  # after an error status, before the next pull

    @property
    def held(self) -> bool:
        return self._pin is not None

    async def run(self) -> None:
        inbox = self._client.new_inbox()
        subscription = await self._client.subscribe(inbox, cb=self._delivered)
        try:
            while True:
                self._request_done.clear()
                self._received = 0
                request = {"batch": PULL_BATCH, "expires": int(PULL_EXPIRES * NANOSECONDS), "group": self._group}
                if self._pin is not None:
                    request["id"] = self._pin
                try:
                    await self._client.publish(self._subject, json.dumps(request).encode(), reply=inbox)
                    await asyncio.wait_for(self._request_done.wait(), PULL_EXPIRES + 1.0)
                except asyncio.TimeoutError:
                    pass
                except NatsError as error:  # the connection is down: nats-py reconnects, we pull again
                    log.warning("bus-worker-pull-failed", extra={"fields": {"subject": self._subject, "error": str(error)}})
                    self._pause = PULL_EXPIRES
                if self._pause:
                    await asyncio.sleep(self._pause)
                    self._pause = 0.0
        finally:
            await subscription.unsubscribe()

    async def _delivered(self, message: Msg) -> None:
        headers = message.headers or {}
        status = headers.get(STATUS)
        if status is not None:
            if status == "423" and self._pin is not None:  # the server pinned another worker
                self._pin = None
                self._on_lost()
            if status not in ("100", "404", "408", "423"):  # e.g. the consumer is not there (yet)
                self._pause = PULL_EXPIRES
            if status != "100":  # 100 is a heartbeat; every other status ends the request
                self._request_done.set()
            return
        pin = headers.get(PIN_ID)
        if pin is not None and pin != self._pin:
            gained = self._pin is None
            self._pin = pin
            if gained:
                self._on_pinned()
        self._received += 1
        if self._received >= PULL_BATCH:
            self._request_done.set()
        await self._take(message)


class BusWorker:
    def __init__(self, client: nats.NATS, keys: ListKeys, modules: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._jetstream = client.jetstream()
        self._keys = keys
        self._modules = modules
        self._clock = clock
        self._wire: dict[str, dict] = {}  # job -> its instructions as the bucket holds them
        self._stages: dict[str, ConsumerStage] = {}
        self._readers: dict[str, tuple[PinnedReader, asyncio.Task]] = {}  # by topic
        self._fetches: dict[str, Subscription | None] = {}  # by job while its topic is held (None: subscribing)
        self._sending = asyncio.Lock()  # one publisher at a time, so messages leave in the order made
        self._tasks: set[asyncio.Task] = set()
        self.failed = asyncio.Event()  # a task the worker cannot go on without ended: see ``failure``
        self.failure = ""

    async def start(self, timeout: float = 10.0) -> None:
        """Read the instructions there are (the bucket is the Master's: waited for), then follow
        them, read the topics and tick."""
        bucket = None
        while bucket is None:
            try:
                bucket = await self._jetstream.key_value(bus.INSTRUCTIONS_BUCKET)
            except NotFoundError:
                await asyncio.sleep(0.5)
        watcher = await bucket.watchall()
        while (entry := await watcher.updates(timeout)) is not None:
            self._learn(entry)
        self._spawn(self._follow(watcher), "following the instructions")
        self._spawn(self._tick_forever(), "the timed deliveries")

    async def close(self) -> None:
        tasks = [task for _, task in self._readers.values()] + list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, work: Awaitable[None], what: str, *, vital: bool = True) -> asyncio.Task:
        """Run ``work`` beside the rest; if it fails, say so, and when it is ``vital`` the
        worker stops (``failed``), so that whoever runs it starts it again rather than keep a
        worker that no longer does its job."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)

        def ended(task: asyncio.Task) -> None:
            self._tasks.discard(task)
            if task.cancelled() or task.exception() is None:
                return
            error = task.exception()
            log.error("bus-worker-task-failed", extra={"fields": {"task": what, "error": repr(error)}})
            if vital and not self.failed.is_set():
                self.failure = f"{what} failed: {error!r}"
                self.failed.set()

        task.add_done_callback(ended)
        return task

    # --- instructions --------------------------------------------------------------------------

    async def _follow(self, watcher) -> None:
        async for entry in watcher:
            if entry is not None:
                self._learn(entry)

    def _learn(self, entry) -> None:
        job = entry.key
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            self._wire.pop(job, None)
            self._stages.pop(job, None)
        else:
            try:
                wire = json.loads(entry.value)
                if self._wire.get(job) != wire:  # changed instructions start afresh
                    self._stages[job] = ConsumerStage(JobInstructions.from_wire(wire), self._keys, self._modules)
                    self._wire[job] = wire
            except (ValueError, KeyError, TypeError) as error:
                # not served at all rather than by instructions that are no longer the job's
                log.warning("bus-worker-instructions-unreadable", extra={"fields": {"job": job, "error": str(error)}})
                self._wire.pop(job, None)
                self._stages.pop(job, None)
        log.info("bus-worker-instructions", extra={"fields": {"job": job, "present": job in self._stages}})
        self._read_topics()
        self._answer_fetches()

    def _read_topics(self) -> None:
        wanted = {stage.instructions.topic for stage in self._stages.values()}
        for topic in set(self._readers) - wanted:
            _, task = self._readers.pop(topic)
            task.cancel()
        for topic in wanted - set(self._readers):
            reader = PinnedReader(self._client, bus.topic_stream(topic), bus.WORKER_DURABLE, bus.WORKER_GROUP,
                                  take=lambda message, topic=topic: self._take(topic, message),
                                  on_pinned=self._answer_fetches, on_lost=lambda topic=topic: self._lost(topic))
            self._readers[topic] = (reader, self._spawn(reader.run(), f"reading topic {topic!r}"))

    def _lost(self, topic: str) -> None:
        """Another worker serves ``topic`` now: what this one held of its jobs is dropped."""
        log.info("bus-worker-topic-unpinned", extra={"fields": {"topic": topic}})
        for job, stage in list(self._stages.items()):
            if stage.instructions.topic == topic:
                self._stages[job] = ConsumerStage(stage.instructions, self._keys, self._modules)
        self._answer_fetches()

    def _answer_fetches(self) -> None:
        """Listen for the fetches of the consTrigNotif jobs whose topic this worker holds, only."""
        wanted = {job: stage for job, stage in self._stages.items() if stage.fetched and self._holds(stage)}
        for job in set(self._fetches) - set(wanted):
            subscription = self._fetches.pop(job)
            if subscription is not None:
                self._spawn(subscription.unsubscribe(), f"ending the fetches of job {job!r}")
        for job in set(wanted) - set(self._fetches):
            self._fetches[job] = None
            self._spawn(self._listen(job, wanted[job].instructions.consumer), f"answering the fetches of job {job!r}")

    async def _listen(self, job: str, consumer: str) -> None:
        async def fetch(message: Msg) -> None:  # nats-py takes only a coroutine function
            await self._fetch(job, message)

        subscription = await self._client.subscribe(bus.fetch_subject(consumer, job), cb=fetch)
        if job in self._fetches and self._fetches[job] is None:
            self._fetches[job] = subscription
        else:  # no longer wanted meanwhile
            await subscription.unsubscribe()

    async def _fetch(self, job: str, message: Msg) -> None:
        stage = self._stages.get(job)
        if stage is None or not message.reply:
            return
        await message.respond(json.dumps(stage.fetch(self._clock(), FETCH_LIMIT)).encode())

    def _holds(self, stage: ConsumerStage) -> bool:
        reader = self._readers.get(stage.instructions.topic)
        return reader is not None and reader[0].held

    def _on(self, topic: str) -> list[ConsumerStage]:
        return [stage for stage in self._stages.values() if stage.instructions.topic == topic]

    # --- records and ticks ----------------------------------------------------------------------

    async def _take(self, topic: str, message: Msg) -> None:
        try:
            record = json.loads(message.data)
        except ValueError:
            log.warning("bus-worker-record-unreadable", extra={"fields": {"topic": topic}})
            await message.term()
            return
        now = self._clock()
        for stage in self._on(topic):
            await self._send(stage, stage.record(record, now))
        await message.ack()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = self._clock()
            for topic, (reader, _) in list(self._readers.items()):
                if reader.held:
                    for stage in self._on(topic):
                        await self._send(stage, stage.tick(now))

    async def _send(self, stage: ConsumerStage, messages: list[dict]) -> None:
        job = stage.instructions.job
        async with self._sending:
            for message in messages:
                try:
                    await self._jetstream.publish(bus.delivery_subject(job), json.dumps(message).encode(), timeout=5)
                except (NatsError, asyncio.TimeoutError) as error:
                    log.warning("bus-worker-delivery-failed", extra={"fields": {"job": job, "error": str(error)}})

