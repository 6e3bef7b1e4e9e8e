"""The running configuration datastore: an lxml tree, persisted atomically in the state dir.

The tree is replaced, never edited in place: an edit builds a new tree, validates it and then
commits it, so readers always see a complete, valid configuration and a failed edit changes
nothing. Persistence is write-to-temp + fsync + rename + fsync(dir): a crash at any instant
leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lxml import etree

from mso.atomic_file import write_atomically
from mso.namespaces import NETCONF_BASE, qn
from mso.xml_parsing import MalformedXML, parse_xml

RUNNING_FILE = "running.xml"
CommitListener = Callable[[etree._Element, etree._Element], None]


class DatastoreError(Exception):
    """The stored configuration cannot be loaded."""


def empty_data() -> etree._Element:
    return etree.Element(qn(NETCONF_BASE, "data"), nsmap={None: NETCONF_BASE})


class RunningDatastore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RUNNING_FILE
        self.root = self._load()
        self.lock_owner: int | None = None
        self.lock_time: datetime | None = None
        self.listeners: list[CommitListener] = []

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

    def commit(self, new_root: etree._Element) -> None:
        """Persist and install an already validated tree, then tell the listeners."""
        write_atomically(self.path, etree.tostring(new_root, xml_declaration=True, encoding="UTF-8"))
        old, self.root = self.root, new_root
        for listener in self.listeners:
            listener(old, new_root)
