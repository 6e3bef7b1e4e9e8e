"""The running configuration datastore: an lxml tree, persisted atomically in the state dir.

The tree is replaced, never edited in place: an edit builds a new tree, validates it and then
commits it, so readers always see a complete, valid configuration and a failed edit changes
nothing. Persistence is write-to-temp + fsync + rename + fsync(dir): a crash at any instant
leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lxml import etree

from mso.namespaces import NETCONF_BASE, qn
from mso.xml_parsing import MalformedXML, parse_xml

RUNNING_FILE = "running.xml"
CommitListener = Callable[[etree._Element, etree._Element], None]


class DatastoreError(Exception):
    """The stored configuration cannot be loaded."""


def empty_data() -> etree._Element:
    return etree.Element(qn(NETCONF_BASE, "data"), nsmap={None: NETCONF_BASE})


def write_atomically(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
