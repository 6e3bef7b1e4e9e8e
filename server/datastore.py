"""The running configuration datastore: an lxml tree, persisted atomically in the state dir, and
its global lock (RFC 6241 §7.5).

The tree is replaced, never edited in place: an edit builds a new tree, validates it and then
commits it, so readers always see a complete, valid configuration and a failed edit changes
nothing. Persistence is ``mso.atomic_file``: a crash at any instant leaves either the old or the
new file, never a torn one. Each commit is told to the listeners as a ``Commit``: who made it
and what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from mso.atomic_file import write_atomically
from mso.namespaces import NETCONF_BASE, qn
from mso.tree_diff import Change
from mso.xml_parsing import MalformedXML, parse_xml
from server.authz import Principal

RUNNING_FILE = "running.xml"


class DatastoreError(Exception):
    """The stored configuration cannot be loaded."""


class StorageError(Exception):
    """A commit could not be stored (the state dir is full or unwritable): nothing changed."""


@dataclass(frozen=True)
class Lock:
    session_id: int
    since: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class LockError(Exception):
    """The lock is not this session's to take or give back; ``holder`` has it (or nobody)."""

    def __init__(self, holder: Lock | None) -> None:
        super().__init__("running is locked" if holder else "running is not locked")
        self.holder = holder


@dataclass(frozen=True)
class Commit:
    before: etree._Element
    after: etree._Element
    who: Principal
    changes: Sequence[Change]


CommitListener = Callable[[Commit], None]


def empty_data() -> etree._Element:
    return etree.Element(qn(NETCONF_BASE, "data"), nsmap={None: NETCONF_BASE})


class RunningDatastore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RUNNING_FILE
        self.root = self._load()
        self.listeners: list[CommitListener] = []
        # store what a commit needs beside running, before running itself; may raise OSError
        self.preparers: list[CommitListener] = []
        self._lock: Lock | None = None

    def _load(self) -> etree._Element:
        if not self.path.exists():
            return empty_data()
        try:
            root = parse_xml(self.path.read_bytes())
        except MalformedXML as error:
            raise DatastoreError(f"{self.path}: {error}") from None
        if root.tag != qn(NETCONF_BASE, "data"):
            raise DatastoreError(f"{self.path}: root element is not <data>")
        return root

    def commit(self, after: etree._Element, who: Principal, changes: Sequence[Change]) -> None:
        """Persist and install an already validated tree, then tell the listeners. Raises
        ``StorageError``, with nothing installed and the stored file as it was, if it cannot
        be stored."""
        commit = Commit(self.root, after, who, changes)
        try:
            for prepare in self.preparers:
                prepare(commit)
            write_atomically(self.path, etree.tostring(after, xml_declaration=True, encoding="UTF-8"))
        except OSError as error:
            raise StorageError(f"the configuration could not be stored in {self.path.parent}: "
                               f"{error.strerror or error}") from None
        self.root = after
        for listener in self.listeners:
            listener(commit)

    # --- the global lock ------------------------------------------------------------------------

    @property
    def lock_holder(self) -> Lock | None:
        """Who holds the lock and since when; None when running is not locked."""
        return self._lock

    def held_by_other(self, session_id: int) -> Lock | None:
        """The lock when another session holds it (edits from ``session_id`` are refused then)."""
        return self._lock if self._lock is not None and self._lock.session_id != session_id else None

    def lock(self, session_id: int) -> None:
        if self._lock is not None:
            raise LockError(self._lock)
        self._lock = Lock(session_id)

    def unlock(self, session_id: int) -> None:
        if self._lock is None or self._lock.session_id != session_id:
            raise LockError(self._lock)
        self._lock = None

    def release(self, session_id: int) -> None:
        """The session ended (closed, dropped or killed): whatever it held is let go."""
        if self._lock is not None and self._lock.session_id == session_id:
            self._lock = None
