"""Where a reporting job's records go: the routes the Master keeps in the bus (KV bucket
``mso.bus.ROUTES_BUCKET``: subscription id -> subject), watched so a change applies at once."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.js.errors import NotFoundError
from nats.js.kv import KV_DEL, KV_PURGE

from mso import bus

log = logging.getLogger("mso.collector")


class Routes:
    def __init__(self) -> None:
        self._subjects: dict[int, str] = {}
        self._task: asyncio.Task | None = None

    def subject(self, subscription_id: int) -> str | None:
        return self._subjects.get(subscription_id)

    async def start(self, jetstream: nats.js.JetStreamContext, timeout: float = 10.0) -> None:
        """Read the routes there are now (within ``timeout``), then follow their changes."""
        try:
            bucket = await jetstream.key_value(bus.ROUTES_BUCKET)
        except NotFoundError:  # this collector came first: the Master's routes will land here
            bucket = await jetstream.create_key_value(bucket=bus.ROUTES_BUCKET, history=1)
        watcher = await bucket.watchall()
        while (entry := await watcher.updates(timeout)) is not None:  # None marks the end of what exists
            self._apply(entry)
        self._task = asyncio.get_running_loop().create_task(self._follow(watcher))

    async def _follow(self, watcher: nats.js.kv.KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is not None:
                self._apply(entry)

    def _apply(self, entry: nats.js.kv.KeyValue.Entry) -> None:
        if not entry.key.isdigit():
            return
        subscription_id = int(entry.key)
        if entry.operation in (KV_DEL, KV_PURGE):
            self._subjects.pop(subscription_id, None)
        else:
            self._subjects[subscription_id] = (entry.value or b"").decode()
        log.info("bus-route", extra={"fields": {"id": subscription_id, "subject": self._subjects.get(subscription_id, "-")}})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
