"""The Resource-Location Table as filters are read against it: the *shape* (a trie of the
schema paths down to the table's lists, with each list's keys) and the *key skeleton* (the
device's data as far as the table knows it: those containers and every entry with its keys and
nothing else, as an XML tree).

The shape depends only on which lists the table holds, so a filter's reading of it is cached
across ownership changes; the skeleton follows every change (it is rebuilt lazily, only for
the few filters whose selection depends on which entries exist).

Pure module: no I/O, no asyncio.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from mso.filters import KeyIndex
from server.resource_location import Resource, ResourceLocationTable

ListPath = tuple[str, ...]
KeyValues = tuple[str, ...]
Shape = tuple[tuple[ListPath, tuple[str, ...] | None], ...]
"""The table's lists with their key leaves (None: keys unknown): all a filter's reading depends on."""


@dataclass(eq=False)
class ShapeNode:
    """A node on the paths from the root to the table's lists."""

    tag: str | None  # Clark name; None for the root
    parent: ShapeNode | None = None
    children: dict[str, ShapeNode] = field(default_factory=dict)
    list_path: ListPath | None = None  # set when this node is one of the table's lists
    key_tags: tuple[str, ...] = ()  # of that list
    lists_below: list[ListPath] = field(default_factory=list)  # including this node's own list

    @property
    def path(self) -> tuple[str, ...]:
        node, tags = self, []
        while node.tag is not None:
            tags.append(node.tag)
            assert node.parent is not None
            node = node.parent
        return tuple(reversed(tags))

    def ancestors(self) -> list[ShapeNode]:
        """Parent first, the root last."""
        found, node = [], self.parent
        while node is not None:
            found.append(node)
            node = node.parent
        return found

    def descendants(self) -> list[ShapeNode]:
        found = []
        for child in self.children.values():
            found.append(child)
            if child.list_path is None:
                found.extend(child.descendants())
        return found


@functools.lru_cache(maxsize=64)
def shape_trie(shape: Shape) -> ShapeNode:
    """The trie of a shape (shared by every table of that shape; never modified)."""
    root = ShapeNode(None)
    for list_path, key_tags in shape:
        node = root
        node.lists_below.append(list_path)
        for tag in list_path:
            child = node.children.get(tag)
            if child is None:
                child = node.children[tag] = ShapeNode(tag, node)
            node = child
            node.lists_below.append(list_path)
        node.list_path = list_path
        node.key_tags = key_tags or ()
    return root


@dataclass
class TableView:
    """What filters are read against, for one version of a table."""

    table: ResourceLocationTable
    version: int
    owners: dict[ListPath, frozenset[str]]  # the owners of each list's entries
    _skeletons: dict[Shape, etree._Element] = field(default_factory=dict)

    @classmethod
    def of(cls, table: ResourceLocationTable) -> TableView:
        list_paths = sorted(table.list_paths())
        owners = {list_path: frozenset(table.entries(list_path).values()) for list_path in list_paths}
        return cls(table, table.version, owners)

    def shape(self, keys: KeyIndex) -> Shape:
        return tuple((list_path, keys.get(list_path)) for list_path in self.owners)

    def trie(self, keys: KeyIndex) -> ShapeNode:
        return shape_trie(self.shape(keys))

    def skeleton(self, keys: KeyIndex) -> etree._Element:
        """The key skeleton: a ``<data>`` element standing for the root (see module doc)."""
        shape = self.shape(keys)
        skeleton = self._skeletons.get(shape)
        if skeleton is None:
            skeleton = self._skeletons[shape] = _build_skeleton(self.table, shape)
        return skeleton

    def owner(self, resource: Resource) -> str | None:
        return self.table.owner(resource)


_VIEWS: weakref.WeakKeyDictionary[ResourceLocationTable, TableView] = weakref.WeakKeyDictionary()


def table_view(table: ResourceLocationTable) -> TableView:
    """The table's view, rebuilt only when the table's version moved."""
    view = _VIEWS.get(table)
    if view is None or view.version != table.version:
        view = _VIEWS[table] = TableView.of(table)
    return view


def _build_skeleton(table: ResourceLocationTable, shape: Shape) -> etree._Element:
    root = etree.Element("data")
    containers: dict[tuple[str, ...], etree._Element] = {(): root}
    for list_path, key_tags in shape:
        parent = root
        for depth in range(1, len(list_path)):
            prefix = list_path[:depth]
            if prefix not in containers:
                containers[prefix] = etree.SubElement(parent, prefix[-1])
            parent = containers[prefix]
        for key_values in table.entries(list_path):
            entry = etree.SubElement(parent, list_path[-1])
            for tag, value in zip(key_tags or (), key_values):
                etree.SubElement(entry, tag).text = value
    return root


@dataclass(frozen=True)
class SkeletonNode:
    """What a node of the key skeleton is: a container on the trie, an entry, or an entry's key leaf."""

    path: tuple[str, ...]  # container: its schema path; entry or key leaf: the list's
    entry: KeyValues | None = None  # the entry's keys (entry and key leaf)
    key_tag: str | None = None  # the key leaf's tag


def skeleton_node(element: etree._Element, lists: Mapping[ListPath, tuple[str, ...]]) -> SkeletonNode:
    """Read a skeleton element back (``lists``: each table list's key tags)."""
    if element.getparent() is None:
        return SkeletonNode(())  # the root
    above = [ancestor.tag for ancestor in element.iterancestors()][:-1]  # up to, not with, the root
    path = (*reversed(above), element.tag)
    if path in lists:
        return SkeletonNode(path, _entry_keys(element, lists[path]))
    if path[:-1] in lists:
        entry = element.getparent()
        assert entry is not None
        return SkeletonNode(path[:-1], _entry_keys(entry, lists[path[:-1]]), element.tag)
    return SkeletonNode(path)


def _entry_keys(entry: etree._Element, key_tags: Iterable[str]) -> KeyValues:
    return tuple(entry.findtext(tag) or "" for tag in key_tags)
