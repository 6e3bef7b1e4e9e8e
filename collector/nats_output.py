"""Records to NATS JetStream: one subject per subscription, ``mso.telemetry.<subscription-id>``
(nmop yang-message-broker-integration: one topic per subscription), in a stream that is created
when no stream covers those subjects yet.

With routes (``--bus-routes``: the Master's collector for its message-bus reporting jobs), a
subscription's records go to the subject its route names instead, along with its state changes
(a consumer of the topic sees ``subscription-modified``), and records without a route are
dropped and counted: the topics' streams are the Master's, not this output's.

Publishing is pipelined (``publish_async``: many records in flight, acknowledged as they are
stored) from a task of its own that drains a bounded queue; a record the queue cannot take, or
that the server does not acknowledge, is counted as a drop of this output.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

import nats
import orjson
from nats.errors import Error as NatsError
from nats.js.api import Header
from nats.js.errors import NotFoundError

from collector.bus_routes import Routes
from collector.outputs import DEFAULT_QUEUE
from collector.reassembly import PERIODIC, Record
from mso import bus

log = logging.getLogger("mso.collector")
_CLOSE_TIMEOUT = 5.0
UNROUTED = "nats-unrouted"


def slot_id(record: Record) -> str:
    """One periodic slot's message id: its subscription and its tick."""
    return f"{record.subscription_id}@{record.time!r}"


class NatsOutputError(Exception):
    """The broker cannot be reached or the stream cannot be created; one line."""


class NatsOutput:
    name = "nats"

    def __init__(self, client: nats.NATS, drops: Counter[str], routes: Routes | None = None,
                 capacity: int = DEFAULT_QUEUE, render: Callable[[Record], dict] = Record.to_json,
                 deduplicate: bool = False) -> None:
        self._render = render  # the record's shape in the message (collector.record_formats)
        # a scaled-out collector's reassembler that took over a partition may emit a slot again:
        # JetStream drops a message whose Nats-Msg-Id it stored within its duplicate window
        self._deduplicate = deduplicate
        self._client = client
        self._jetstream = client.jetstream()
        self._drops = drops
        self._routes = routes
        self.takes_state = routes is not None
        self._queue: asyncio.Queue[Record] = asyncio.Queue(capacity)
        self._task = asyncio.get_running_loop().create_task(self._publish_loop())

    @classmethod
    async def connect(cls, url: str, drops: Counter[str], *, user: str | None = None, password: str | None = None,
                      routed: bool = False, render: Callable[[Record], dict] = Record.to_json,
                      deduplicate: bool = False) -> NatsOutput:
        """Connect, then follow the routes (``routed``) or make sure a stream stores
        ``mso.telemetry.>``."""
        try:
            client = await bus.connect(url, user=user, password=password, name="mso-collector",
                                       inbox=bus.inbox_prefix(user) if user else None)
        except bus.BusError as error:
            raise NatsOutputError(str(error)) from None
        routes = Routes() if routed else None
        try:
            if routes is not None:
                await routes.start(client.jetstream())
            else:
                await _ensure_stream(client.jetstream())
        except (NatsError, asyncio.TimeoutError) as error:
            await client.close()
            what = "read the routes" if routed else "create the JetStream stream"
            raise NatsOutputError(f"cannot {what} at {url}: {error or type(error).__name__}") from None
        return cls(client, drops, routes, render=render, deduplicate=deduplicate)

    def offer(self, record: Record) -> bool:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            return False
        return True

    async def _publish_loop(self) -> None:
        while True:
            record = await self._queue.get()
            subject = self._subject(record)
            if subject is None:
                self._drops[UNROUTED] += 1
                self._queue.task_done()
                continue
            try:
                headers = {Header.MSG_ID: slot_id(record)} if self._deduplicate and record.kind == PERIODIC else None
                acknowledged = await self._jetstream.publish_async(subject, orjson.dumps(self._render(record)),
                                                                   wait_stall=_CLOSE_TIMEOUT, headers=headers)
                acknowledged.add_done_callback(self._acknowledged)
            except (NatsError, asyncio.TimeoutError):
                self._drops[self.name] += 1
            finally:
                self._queue.task_done()

    def _subject(self, record: Record) -> str | None:
        if self._routes is None:
            return bus.telemetry_subject(record.subscription_id)
        return self._routes.subject(record.subscription_id)

    def _acknowledged(self, acknowledgement: asyncio.Future) -> None:
        if acknowledgement.cancelled() or acknowledgement.exception() is not None:
            self._drops[self.name] += 1

    async def close(self) -> None:
        """Publish what is queued, wait for the acknowledgements, then disconnect."""
        try:
            await asyncio.wait_for(self._queue.join(), _CLOSE_TIMEOUT)
            await asyncio.wait_for(self._jetstream.publish_async_completed(), _CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("nats-close-timeout", extra={"fields": {"queued": self._queue.qsize()}})
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self._routes is not None:
            await self._routes.close()
        await self._client.close()


async def _ensure_stream(jetstream: nats.js.JetStreamContext) -> None:
    try:
        await jetstream.find_stream_name_by_subject(f"{bus.TELEMETRY_PREFIX}.>")
    except NotFoundError:
        await jetstream.add_stream(name=bus.TELEMETRY_STREAM, subjects=[f"{bus.TELEMETRY_PREFIX}.>"])
        log.info("nats-stream-created", extra={"fields": {"stream": bus.TELEMETRY_STREAM}})
