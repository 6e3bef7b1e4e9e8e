"""A polling job's share of a collection's records (TS 23.288 §5A.3: the consumer receives the
data it asked for, though the collection it is attached to carries more): each record's data
cut to the job's dataSelector, read as a ``DataSelection`` by the Master. Pure: records in,
records out.

A record's data is RFC 7951 JSON, the merged push-update keyed by member names: a top-level
node's name is qualified by its module (``ietf-interfaces:interfaces``), a child's only when
its module differs from its parent's. The selection names nodes by namespace, so the cut is
given the namespace -> module name mapping of the schema it reads records by, and the key
member names of every list (``collector.merge.list_keys``).

What the cut keeps is what the job's own subscription would have pushed: the last step's nodes
whole, and their ancestors, each list entry on the way with its keys and the one child the
path goes on with. A step's tests keep a list entry (or a container) whose child leaf has one
of the values, compared as XPath compares a node with a string literal: by its text (a JSON
string as it is, a number in decimal, a boolean as ``true``/``false``, an ``empty`` as the
empty string; a leaf-list passes when one of its values does). A node, entry or path that is
not in the record is not in the cut; an entry that keeps nothing below it is left out. The
Master gives a selection only for a selector whose tests can be evaluated on every record it
serves the job (``server.nrm.selectors.cuttable``): tests on list keys above the last step
(an entry there carries only its keys) and on any leaf of the last step's nodes (whole).

Only a ``periodic`` record's data is datastore contents; other records (the collection's
subscription state changes) pass as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collector.bus_summaries import ListKeys
from mso.bus_instructions import DataSelection

CUT_KIND = "periodic"


@dataclass(frozen=True)
class _Step:
    member: str  # the RFC 7951 member name, in its parent
    path: tuple[str, ...]  # member names from the top, this one included (ListKeys' keys)
    tests: tuple[tuple[str, frozenset[str]], ...]  # child leaf member name -> allowed texts


class SelectionCut:
    """``selection`` resolved to member names; ValueError when a namespace is not one of
    ``modules``' (the worker and the Master read different schemas)."""

    def __init__(self, selection: DataSelection, modules: Mapping[str, str], keys: ListKeys) -> None:
        self.selection = selection
        self._keys = keys
        steps: list[_Step] = []
        parent_module = ""
        path: tuple[str, ...] = ()
        for step in selection.steps:
            module = _module(modules, step.namespace, step.name)
            member = step.name if module == parent_module else f"{module}:{step.name}"
            path = (*path, member)
            tests = tuple((test.name if _module(modules, test.namespace, test.name) == module
                           else f"{_module(modules, test.namespace, test.name)}:{test.name}", test.values)
                          for test in step.tests)
            steps.append(_Step(member, path, tests))
            parent_module = module
        self._steps = tuple(steps)

    def record(self, record: dict) -> dict:
        """``record`` with its data cut (a new record; the given one is not changed)."""
        if record.get("kind") != CUT_KIND or not isinstance(record.get("data"), dict):
            return record
        return {**record, "data": self.cut(record["data"])}

    def cut(self, data: Mapping) -> dict:
        """The share of ``data`` (a datastore's top-level members) the selection selects."""
        first = self._steps[0]
        kept = self._member(data, 0)
        return {} if kept is _MISSING else {first.member: kept}

    def _member(self, parent: Mapping, index: int) -> object:
        step = self._steps[index]
        if step.member not in parent:
            return _MISSING
        value = parent[step.member]
        if isinstance(value, list):
            if index == len(self._steps) - 1 and not step.tests:
                return value  # a leaf-list, or a list's entries, whole
            entries = [kept for entry in value if (kept := self._entry(entry, index)) is not _MISSING]
            return entries if entries else _MISSING
        return self._entry(value, index)

    def _entry(self, node: object, index: int) -> object:
        """A container or list entry at step ``index`` as the cut keeps it (a leaf only when it
        is the last step and untested)."""
        step = self._steps[index]
        last = index == len(self._steps) - 1
        if not isinstance(node, dict):
            return node if last and not step.tests else _MISSING
        if not all(leaf in node and _passes(node[leaf], values) for leaf, values in step.tests):
            return _MISSING
        if last:
            return node
        below = self._member(node, index + 1)
        if below is _MISSING:
            return _MISSING
        kept = {key: node[key] for key in self._keys.get(step.path, ()) if key in node}
        kept[self._steps[index + 1].member] = below
        return kept


_MISSING = object()


def _module(modules: Mapping[str, str], namespace: str, name: str) -> str:
    module = modules.get(namespace)
    if module is None:
        raise ValueError(f"no module of namespace {namespace!r} (of {name!r}) is known here")
    return module


def _passes(value: object, allowed: frozenset[str]) -> bool:
    if isinstance(value, list):
        return any(_passes(item, allowed) for item in value)
    text = _text(value)
    return text is not None and text in allowed


def _text(value: object) -> str | None:
    """A leaf's value as its XPath string value, or None for what is no leaf's (an object)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if value is None:  # RFC 7951 writes an empty leaf as [null]: the list is gone through above
        return ""
    return None
