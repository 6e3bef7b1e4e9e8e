"""Where records go. The receiver hands each record to every output with ``offer``, which never
waits: each output has a bounded queue and a record that does not fit is dropped and counted,
so a slow disk, pipe or broker never stalls the receive path.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import BinaryIO, Protocol

import orjson

from collector.reassembly import Record

log = logging.getLogger("mso.collector")
DEFAULT_QUEUE = 10_000


class Output(Protocol):
    name: str

    def offer(self, record: Record) -> bool:
        """Queue the record; False when the queue is full (the record is dropped)."""

    async def close(self) -> None:
        """Deliver what is queued, then stop."""


class Outputs:
    """Fan-out to every output, counting drops by output name."""

    def __init__(self, outputs: list[Output], drops: Counter[str]) -> None:
        self.outputs = outputs
        self._drops = drops

    def publish(self, record: Record) -> None:
        for output in self.outputs:
            if not output.offer(record):
                self._drops[output.name] += 1

    async def close(self) -> None:
        for output in self.outputs:
            await output.close()


class JsonLinesOutput:
    """One JSON object per line, written by a thread of its own.

    Serialising and writing happen in that thread, so a reader that stops reading a pipe only
    fills this queue. The file is flushed whenever the queue runs empty.
    """

    name = "jsonl"

    def __init__(self, target: str, capacity: int = DEFAULT_QUEUE) -> None:
        self._stream: BinaryIO = sys.stdout.buffer if target == "-" else open(Path(target), "ab")
        self._owned = target != "-"
        self._queue: queue.Queue[Record | None] = queue.Queue(capacity)
        self._failed = False
        self._thread = threading.Thread(target=self._write_loop, name="jsonl-output", daemon=True)
        self._thread.start()

    def offer(self, record: Record) -> bool:
        if self._failed:
            return False
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            return False
        return True

    def _write_loop(self) -> None:
        stream, records = self._stream, self._queue
        while True:
            record = records.get()
            if record is None:
                break
            try:
                stream.write(orjson.dumps(record.to_json()) + b"\n")
                if records.empty():
                    stream.flush()
            except (OSError, ValueError) as error:  # a closed pipe, a full disk: refuse from now on
                log.warning("jsonl-output-failed", extra={"fields": {"error": str(error)}})
                self._failed = True
                return

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass
        if self._owned:
            self._stream.close()
