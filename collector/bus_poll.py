"""Reading a message-bus polling job's topics, as its consumer: the consumer side of the 3GPP
message-bus data polling MnS.

The consumer asks the Master what its job lets it read (``mso.bus.job_subject``), then pulls
from the job's durable consumer on each topic's stream (or, for a job with formatting and
processing instructions, on the stream of its own deliveries), acknowledging each record once
it is handed on, so the next reader resumes where this one stopped. ``--from-start``/``--since``
read again through the job's replay consumer instead, which leaves the durable position alone.
A consTrigNotif job's deliveries are fetched from the bus worker that buffers them
(``fetch_buffered``). The broker refuses anything else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import nats
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from mso import bus

BATCH = 100
IDLE_WAIT = 1.0  # seconds a fetch waits for records before the topic counts as drained
Sink = Callable[[bytes], Awaitable[None] | None]


class PollError(Exception):
    """The job cannot be read (refused, unknown, unreachable); one line."""


@dataclass(frozen=True)
class JobAccess:
    job: str
    durable: str
    replay: str
    topics: tuple[str, ...]
    streams: tuple[str, ...]
    subjects: tuple[str, ...]  # what each stream holds: a topic's records, or the job's own deliveries
    fetch: bool = False  # its deliveries wait to be fetched (consTrigNotif)


@dataclass(frozen=True)
class Start:
    """Where reading begins: the durable position (None), the start, or a time."""

    from_start: bool = False
    since: datetime | None = None

    @property
    def replays(self) -> bool:
        return self.from_start or self.since is not None


async def describe_job(client: nats.NATS, consumer: str, job_id: str) -> JobAccess:
    try:
        reply = await client.request(bus.job_subject(consumer, job_id), b"", timeout=5)
    except (NatsError, asyncio.TimeoutError) as error:
        raise PollError(f"the Master does not answer for job {job_id!r}: {_reason(error)} "
                        "(is it a polling job of this consumer?)") from None
    answer = json.loads(reply.data)
    if "error" in answer:
        raise PollError(answer["error"])
    return JobAccess(answer["job"], answer["durable"], answer["replay"], tuple(answer["topics"]),
                     tuple(answer["streams"]), tuple(answer["subjects"]), bool(answer.get("fetch", False)))


async def poll(client: nats.NATS, access: JobAccess, start: Start, sink: Sink, *, follow: bool,
               limit: int | None = None) -> int:
    """Hand each record of the job's topics to ``sink`` (acknowledged after), until the topics
    are drained (or for ever with ``follow``, or ``limit`` records). Returns how many."""
    jetstream = client.jetstream()
    subscriptions = [await _subscription(jetstream, access, subject, stream, start)
                     for subject, stream in zip(access.subjects, access.streams)]
    handed = 0
    while limit is None or handed < limit:
        drained = True
        for subscription in subscriptions:
            for message in await _fetch(subscription, BATCH if limit is None else min(BATCH, limit - handed)):
                outcome = sink(message.data)
                if outcome is not None:
                    await outcome
                await message.ack()
                handed += 1
                drained = False
        if drained and not follow:
            return handed
    return handed


async def _subscription(jetstream: nats.js.JetStreamContext, access: JobAccess, subject: str, stream: str,
                        start: Start) -> nats.js.JetStreamContext.PullSubscription:
    """The durable (or a replay consumer) on ``stream``, which holds ``subject``: a topic's
    records, or the job's own deliveries."""
    try:
        if not start.replays:
            return await jetstream.pull_subscribe_bind(access.durable, stream=stream)
        try:
            await jetstream.delete_consumer(stream, access.replay)
        except NotFoundError:
            pass
        since = start.since.astimezone(timezone.utc).isoformat() if start.since else None
        config = ConsumerConfig(name=access.replay, filter_subject=subject,
                                deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
                                opt_start_time=since, ack_policy=AckPolicy.EXPLICIT, inactive_threshold=300.0)
        await jetstream.add_consumer(stream, config)
        return await jetstream.pull_subscribe_bind(access.replay, stream=stream)
    except (NatsError, asyncio.TimeoutError) as error:
        raise PollError(f"cannot read {subject}: {_reason(error)}") from None


async def _fetch(subscription: nats.js.JetStreamContext.PullSubscription, batch: int) -> list[nats.aio.msg.Msg]:
    try:
        return await subscription.fetch(batch, timeout=IDLE_WAIT)
    except (NatsTimeout, asyncio.TimeoutError):
        return []
    except NatsError as error:
        raise PollError(f"the broker stopped the reading: {_reason(error)}") from None


@dataclass(frozen=True)
class FetchOutcome:
    fetched: int
    expired: int  # dropped unfetched since the previous fetch
    expired_total: int | None  # since the worker began buffering for the job (None: no worker buffers)


async def fetch_buffered(client: nats.NATS, consumer: str, access: JobAccess, sink: Sink) -> FetchOutcome:
    """Hand every delivery a consTrigNotif job buffered to ``sink``, oldest first."""
    if not access.fetch:
        raise PollError(f"job {access.job!r} does not buffer its deliveries for fetching (its formatInstruct has "
                        "no consTrigNotif true)")
    fetched = expired = 0
    while True:
        try:
            reply = await client.request(bus.fetch_subject(consumer, access.job), b"", timeout=5)
        except NoRespondersError:  # no worker holds the job's topic: none buffers anything for it
            return FetchOutcome(fetched, expired, None)
        except (NatsError, asyncio.TimeoutError) as error:
            raise PollError(f"the bus worker did not answer the fetch: {_reason(error)}") from None
        answer = json.loads(reply.data)
        for delivery in answer["deliveries"]:
            outcome = sink(json.dumps(delivery).encode())
            if outcome is not None:
                await outcome
            fetched += 1
        expired += answer["expired"]
        if not answer["more"]:
            return FetchOutcome(fetched, expired, answer["expiredTotal"])


def _reason(error: BaseException) -> str:
    return (str(error) or type(error).__name__).removeprefix("nats: ")
