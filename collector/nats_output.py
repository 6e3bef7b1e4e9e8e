"""Records to NATS JetStream: one subject per subscription, ``mso.telemetry.<subscription-id>``
(nmop yang-message-broker-integration: one topic per subscription), in a stream that is created
when no stream covers those subjects yet.

Publishing is pipelined (``publish_async``: many records in flight, acknowledged as they are
stored) from a task of its own that drains a bounded queue; a record the queue cannot take, or
that the server does not acknowledge, is counted as a drop of this output.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import nats
import orjson
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from collector.outputs import DEFAULT_QUEUE
from collector.reassembly import Record

log = logging.getLogger("mso.collector")
SUBJECT_PREFIX = "mso.telemetry"
STREAM = "MSO_TELEMETRY"
_CLOSE_TIMEOUT = 5.0


class NatsOutputError(Exception):
    """The broker cannot be reached or the stream cannot be created; one line."""


class NatsOutput:
    name = "nats"

    def __init__(self, client: nats.NATS, drops: Counter[str], capacity: int = DEFAULT_QUEUE) -> None:
        self._client = client
        self._jetstream = client.jetstream()
        self._drops = drops
        self._queue: asyncio.Queue[Record] = asyncio.Queue(capacity)
        self._task = asyncio.get_running_loop().create_task(self._publish_loop())

    @classmethod
    async def connect(cls, url: str, drops: Counter[str]) -> NatsOutput:
        """Connect and make sure a stream stores ``mso.telemetry.>``."""
        try:
            # nats-py retries a first connection as often as it would reconnect (with -1: forever),
            # so a short-lived probe tells an unreachable broker first
            probe = await nats.connect(url, connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=1,
                                       reconnect_time_wait=0.1, error_cb=_quiet)
            await probe.close()
            client = await asyncio.wait_for(nats.connect(url, connect_timeout=5, allow_reconnect=True,
                                                         max_reconnect_attempts=-1, error_cb=_logged), 10)
        except (OSError, NatsError, asyncio.TimeoutError) as error:
            raise NatsOutputError(f"cannot connect to NATS at {url}: {error or type(error).__name__}") from None
        try:
            await _ensure_stream(client.jetstream())
        except (NatsError, asyncio.TimeoutError) as error:
            await client.close()
            raise NatsOutputError(f"cannot create the JetStream stream at {url}: {error}") from None
        return cls(client, drops)

    def offer(self, record: Record) -> bool:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            return False
        return True

    async def _publish_loop(self) -> None:
        while True:
            record = await self._queue.get()
            subject = f"{SUBJECT_PREFIX}.{record.subscription_id}"
            try:
                acknowledged = await self._jetstream.publish_async(subject, orjson.dumps(record.to_json()),
                                                                   wait_stall=_CLOSE_TIMEOUT)
                acknowledged.add_done_callback(self._acknowledged)
            except (NatsError, asyncio.TimeoutError):
                self._drops[self.name] += 1
            finally:
                self._queue.task_done()

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
        await self._client.close()


async def _ensure_stream(jetstream: nats.js.JetStreamContext) -> None:
    try:
        await jetstream.find_stream_name_by_subject(f"{SUBJECT_PREFIX}.>")
    except NotFoundError:
        await jetstream.add_stream(name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"])
        log.info("nats-stream-created", extra={"fields": {"stream": STREAM}})


async def _quiet(error: Exception) -> None:
    """The probe's errors: the exception that follows says it all."""


async def _logged(error: Exception) -> None:
    log.debug("nats-error", extra={"fields": {"error": str(error) or type(error).__name__}})
