"""Where records go. The receiver hands each record to every output with ``offer``, which never
waits: each output has a bounded queue and a record that does not fit is dropped and counted,
so a slow disk, pipe or broker never stalls the receive path.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

import orjson

from collector.reassembly import STATE, Record

log = logging.getLogger("mso.collector")
DEFAULT_QUEUE = 10_000
NEWLINE = orjson.OPT_APPEND_NEWLINE


class Output(Protocol):
    name: str
    takes_state: bool  # whether state notifications (records of kind STATE) go to it too

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
        self.publish_all([record])

    def publish_all(self, records: list[Record]) -> None:
        """Each record, in order, to every output that takes its kind."""
        drops = self._drops
        for output in self.outputs:
            offer, takes_state = output.offer, output.takes_state
            for record in records:
                if (takes_state or record.kind != STATE) and not offer(record):
                    drops[output.name] += 1

    async def close(self) -> None:
        for output in self.outputs:
            await output.close()


class JsonLinesOutput:
    """One JSON object per line, written by a thread of its own.

    Serialising and writing happen in that thread, so a reader that stops reading a pipe only
    fills this queue. The hand-off is a deque: an append is atomic and takes no lock. The
    thread is never woken per record (a wake-up per record costs more than the record: a lock,
    a context switch and a GIL hand-over); it drains the deque in batches and, when it finds it
    empty, flushes and looks again ``POLL`` seconds later.
    """

    name = "jsonl"
    takes_state = False
    BATCH = 512
    POLL = 0.005

    def __init__(self, target: str, capacity: int = DEFAULT_QUEUE,
                 render: Callable[[Record], dict] = Record.to_json) -> None:
        self._render = render  # the record's shape on the line (collector.record_formats)
        self._stream: BinaryIO = sys.stdout.buffer if target == "-" else open(Path(target), "ab")
        self._owned = target != "-"
        self._capacity = capacity
        self._records: deque[Record] = deque()
        self._stopping = False
        self._failed = False
        self._thread = threading.Thread(target=self._write_loop, name="jsonl-output", daemon=True)
        self._thread.start()

    def offer(self, record: Record) -> bool:
        records = self._records
        if self._failed or len(records) >= self._capacity:
            return False
        records.append(record)
        return True

    def _write_loop(self) -> None:
        records, dumps, write, render = self._records, orjson.dumps, self._stream.write, self._render
        while True:
            batch = [records.popleft() for _ in range(min(len(records), self.BATCH))]
            if batch:
                try:
                    write(b"".join([dumps(render(record), option=NEWLINE) for record in batch]))
                    if not records:
                        self._stream.flush()
                except (OSError, ValueError) as error:  # a closed pipe, a full disk: refuse from now on
                    log.warning("jsonl-output-failed", extra={"fields": {"error": str(error)}})
                    self._failed = True
                    return
            elif self._stopping:
                return
            else:
                time.sleep(self.POLL)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._stopping = True
        self._thread.join(timeout=10)
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass
        if self._owned:
            self._stream.close()
