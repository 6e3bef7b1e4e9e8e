"""Where the Logging NRM's records live: SQLite in WAL mode in the state dir, so they survive a
restart, and a second process (``mso logs``) can read while the server writes.

A record is a JSON object; its size is its JSON's length in bytes, which is what ``maxSize``
and ``currentSize`` count. Writes come in batches (one transaction each, synced), so a crash
loses at most the batch in flight.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOG_FILE = "logs.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    log TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time REAL NOT NULL,
    user TEXT NOT NULL,
    size INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (log, seq)
);
CREATE INDEX IF NOT EXISTS entry_time ON entry (log, time);
"""


@dataclass(frozen=True)
class StoredRecord:
    log: str
    seq: int
    time: float
    user: str
    record: dict

    @property
    def size(self) -> int:
        return record_size(self.record)


def record_size(record: dict) -> int:
    return len(encode(record))


def encode(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


class LogStore:
    def __init__(self, state_dir: Path, *, read_only: bool = False) -> None:
        self.path = state_dir / LOG_FILE
        if read_only:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def sizes(self) -> dict[str, list[tuple[int, int]]]:
        """Every log's (seq, size) in order: what the recorder needs to account for overflow."""
        found: dict[str, list[tuple[int, int]]] = {}
        with self._lock:
            for log, seq, size in self._db.execute("SELECT log, seq, size FROM entry ORDER BY log, seq"):
                found.setdefault(log, []).append((seq, size))
        return found

    def write(self, added: Iterable[StoredRecord], removed: Iterable[tuple[str, int]], dropped_logs: Iterable[str]) -> None:
        """One synced transaction: new records in, evicted records and removed logs out."""
        with self._lock, self._db:
            self._db.executemany("DELETE FROM entry WHERE log = ?", [(log,) for log in dropped_logs])
            self._db.executemany("DELETE FROM entry WHERE log = ? AND seq = ?", list(removed))
            self._db.executemany("INSERT OR REPLACE INTO entry (log, seq, time, user, size, record) VALUES (?, ?, ?, ?, ?, ?)",
                                 [(r.log, r.seq, r.time, r.user, r.size, encode(r.record)) for r in added])

    def read(self, log: str, *, since: float | None = None, user: str | None = None,
             after_seq: int = 0) -> Iterator[StoredRecord]:
        query = "SELECT log, seq, time, user, record FROM entry WHERE log = ? AND seq > ?"
        arguments: list[object] = [log, after_seq]
        if since is not None:
            query += " AND time >= ?"
            arguments.append(since)
        if user is not None:
            query += " AND user = ?"
            arguments.append(user)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", arguments).fetchall()
        for log_id, seq, time, user_name, record in rows:
            yield StoredRecord(log_id, seq, time, user_name, json.loads(record))

    def logs(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT log FROM entry ORDER BY log")]

    def close(self) -> None:
        with self._lock:
            self._db.close()
