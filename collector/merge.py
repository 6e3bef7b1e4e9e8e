"""Merging the pieces of one slot into one RFC 7951 JSON tree.

Component subscriptions partition the data (draft §5: they MUST NOT overlap and together cover
the global subscription), so merging is a union: objects merge member by member, YANG list
entries with the same key values merge into one entry (a line card may own part of an entry the
Master holds the rest of), other entries and leaf-list values are appended. Two pieces giving
one leaf different values break the partition; the first value is kept and the clash counted.
List keys come from the schema, indexed once by the JSON member path of each list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import libyang

from mso.schema import Schema

_DATA_KINDS = (
    libyang.SNode.CONTAINER,
    libyang.SNode.LIST,
    libyang.SNode.LEAF,
    libyang.SNode.LEAFLIST,
    libyang.SNode.ANYDATA,
    libyang.SNode.ANYXML,
)
Path = tuple[str, ...]


def list_keys(schema: Schema) -> dict[Path, tuple[str, ...]]:
    """JSON member path of every YANG list (``("ietf-interfaces:interfaces", "interface")``)
    -> the member names of its keys."""
    keys: dict[Path, tuple[str, ...]] = {}
    for module in schema.ctx:
        if module.implemented():
            for node in module.children(types=_DATA_KINDS):
                _index(node, (), "", keys)
    return keys


def _index(node: libyang.SNode, parent: Path, parent_module: str, keys: dict[Path, tuple[str, ...]]) -> None:
    module = node.module().name()
    name = node.name() if module == parent_module else f"{module}:{node.name()}"
    path = (*parent, name)
    kind = node.nodetype()
    if kind == libyang.SNode.LIST:
        keys[path] = tuple(key.name() for key in node.keys())
    if kind in (libyang.SNode.CONTAINER, libyang.SNode.LIST):
        for child in node.children(types=_DATA_KINDS):
            _index(child, path, module, keys)


class Merger:
    """Merges trees of RFC 7951 JSON in place into the first one."""

    def __init__(self, keys: dict[Path, tuple[str, ...]]) -> None:
        self._keys = keys
        # during one merge: id of a held list of entries -> its entries by key, built once per
        # list however many trees add to it (each list lives as long as the merge: ids stay unique)
        self._indexes: dict[int, dict[tuple, dict]] = {}

    def merge(self, trees: Iterable[dict]) -> tuple[dict, int]:
        """The union of ``trees`` (the first is reused) and the number of clashing leaves."""
        merged: dict | None = None
        clashes = 0
        try:
            for tree in trees:
                if merged is None:
                    merged = tree
                else:
                    clashes += self._object(merged, tree, ())
        finally:
            self._indexes.clear()
        return merged or {}, clashes

    def _object(self, into: dict, other: dict, path: Path) -> int:
        clashes = 0
        for name, value in other.items():
            held = into.get(name)
            if held is None:
                into[name] = value
            else:
                clashes += self._value(into, name, held, value, (*path, name))
        return clashes

    def _value(self, into: dict, name: str, held: Any, value: Any, path: Path) -> int:
        if isinstance(held, dict) and isinstance(value, dict):
            return self._object(held, value, path)
        if isinstance(held, list) and isinstance(value, list):
            keys = self._keys.get(path)
            if keys:
                return self._entries(held, value, keys, path)
            held.extend(item for item in value if item not in held)
            return 0
        return 0 if held == value else 1

    def _entries(self, held: list, value: list, keys: tuple[str, ...], path: Path) -> int:
        index = self._indexes.get(id(held))
        if index is None:
            index = self._indexes[id(held)] = {}
            for entry in held:
                key = _key(entry, keys) if isinstance(entry, dict) else None
                if key is not None:
                    index[key] = entry  # the last of equal keys, as merging into it always was
        clashes = 0
        for entry in value:
            key = _key(entry, keys) if isinstance(entry, dict) else None
            same = index.get(key) if key is not None else None
            if same is None:
                held.append(entry)
                if key is not None:
                    index[key] = entry
            else:
                clashes += self._object(same, entry, path)
        return clashes


def _key(entry: dict, keys: tuple[str, ...]) -> tuple | None:
    """The entry's key values, or None when one is missing or not a scalar."""
    if len(keys) == 1:  # most lists have one key
        value = entry.get(keys[0])
        return None if value is None or isinstance(value, (list, dict)) else (value,)
    values = tuple(entry.get(name) for name in keys)
    if any(v is None or isinstance(v, (list, dict)) for v in values):
        return None
    return values
