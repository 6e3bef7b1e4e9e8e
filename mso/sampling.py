"""Sampling a publisher's own data for a read or a subscription, shared by the Master and the
line-card agents: what a filter can select (so data sources render only that) and the filter
applied to what they produced.

A ``Selection`` is a hint, not the filter: a source that ignores it is slower, never wrong,
because the filter still runs on the result.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from mso.device_sim import DeviceSimulator, EntryShape
from mso.filters import (
    FilterError,
    KeyIndex,
    SharedEntries,
    selected_keys,
    shapes_entries_by_keys,
    subtree_filter,
    xpath_filter,
)
from mso.namespaces import HARDWARE, INTERFACES, qn
from mso.subscription_model import FilterSpec
from mso.xml_parsing import MalformedXML, parse_xml

HARDWARE_TOP = qn(HARDWARE, "hardware")
INTERFACES_TOP = qn(INTERFACES, "interfaces")
COMPONENT_LIST = (HARDWARE_TOP, qn(HARDWARE, "component"))
INTERFACE_LIST = (INTERFACES_TOP, qn(INTERFACES, "interface"))


@dataclass(frozen=True)
class Selection:
    """What a read can select: top-level nodes (None: all) and, from a subtree filter, entries."""

    tags: Collection[str] | None = None
    subtree: Sequence[etree._Element] | None = None

    @classmethod
    def of_subtree(cls, subtree: Sequence[etree._Element]) -> "Selection":
        tags = {node.tag for node in subtree}
        wildcard = any(etree.QName(tag).namespace is None for tag in tags)
        return cls(None if wildcard else tags, subtree)

    def keys_in(self, list_path: tuple[str, ...], key_tags: Sequence[str]) -> frozenset[tuple[str, ...]] | None:
        """Key values of the selectable entries of a list (None: any entry)."""
        if self.subtree is None:
            return None
        return _selected_keys(tuple(self.subtree), list_path, tuple(key_tags))

    def entry_names(self, list_path: tuple[str, ...], keys: KeyIndex) -> set[str] | None:
        """The single-key names of the selectable entries of a list (None: any entry)."""
        selected = self.keys_in(list_path, keys[list_path])
        return None if selected is None else {key[0] for key in selected}


EVERYTHING = Selection()


@dataclass(frozen=True)
class UnionSelection(Selection):
    """What any of several selections can select: one reading serves them all."""

    members: tuple[Selection, ...] = ()

    def keys_in(self, list_path: tuple[str, ...], key_tags: Sequence[str]) -> frozenset[tuple[str, ...]] | None:
        union: set[tuple[str, ...]] = set()
        for member in self.members:
            keys = member.keys_in(list_path, key_tags)
            if keys is None:
                return None
            union |= keys
        return frozenset(union)


def union_of(selections: Sequence[Selection]) -> Selection:
    if len(selections) == 1:
        return selections[0]
    if any(selection.tags is None for selection in selections):
        tags = None
    else:
        tags = frozenset(tag for selection in selections for tag in selection.tags or ())
    return UnionSelection(tags, None, tuple(selections))


@lru_cache(maxsize=1024)
def _selected_keys(subtree: tuple[etree._Element, ...], list_path: tuple[str, ...],
                   key_tags: tuple[str, ...]) -> frozenset[tuple[str, ...]] | None:
    """``selected_keys``, once per filter: a subscription's filter elements are the same every tick."""
    return selected_keys(subtree, list_path, key_tags)


@lru_cache(maxsize=256)
def subtree_children(subtree_xml: bytes) -> tuple[etree._Element, ...]:
    """The filter nodes of a subtree ``FilterSpec`` (parsed once per distinct filter)."""
    try:
        return tuple(parse_xml(b"<filter>" + subtree_xml + b"</filter>"))
    except MalformedXML as error:
        raise FilterError(f"subtree filter is not well-formed XML: {error}") from error


def selection_of(spec: FilterSpec | None) -> Selection:
    if spec is None:
        return EVERYTHING
    if spec.kind == "subtree":
        return Selection.of_subtree(subtree_children(spec.subtree_xml))
    return Selection(xpath_top_level(spec.xpath, dict(spec.namespaces)))


_TOP_STEP = re.compile(r"\s*/\s*(?P<prefix>[A-Za-z_][\w.-]*):(?P<name>[A-Za-z_][\w.-]*)\s*(?:$|[/\[])")


@lru_cache(maxsize=256)
def _branches(expression: str) -> tuple[str, ...]:
    """The expression cut at each ``|`` outside predicates, parentheses and string literals."""
    branches, depth, quote, start = [], 0, "", 0
    for position, char in enumerate(expression):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(expression[start:position])
            start = position + 1
    return (*branches, expression[start:])


_LEAVES_SUBTREE = re.compile(r"\.\.|::|(?:^|[\[(,=<>!|+*-]|\b(?:and|or|div|mod))\s*/")


def _may_leave_its_subtree(branch: str) -> bool:
    """``..``, an axis, or an absolute path inside a predicate (``[/hw:hardware...]``) can look
    at other top-level nodes. String literals are blanked first so their text never counts."""
    body = re.sub(r"'[^']*'|\"[^\"]*\"", "''", branch.strip())
    return bool(_LEAVES_SUBTREE.search(body, 1))


def xpath_top_level(expression: str, namespaces: Mapping[str, str]) -> frozenset[str] | None:
    """The top-level nodes an XPath filter can select when every branch is an absolute path
    starting with a named child of the root (``/if:interfaces/...``); None when it may reach
    anything (``//``, ``*``, functions, relative paths)."""
    tags = set()
    for branch in _branches(expression):
        step = _TOP_STEP.match(branch)
        if (step is None or branch.lstrip().startswith("//") or step["prefix"] not in namespaces
                or _may_leave_its_subtree(branch)):
            return None
        tags.add(qn(namespaces[step["prefix"]], step["name"]))
    return frozenset(tags)


def apply_filter(data: etree._Element, spec: FilterSpec | None, keys: KeyIndex,
                 shared: SharedEntries | None = None) -> etree._Element:
    """``spec`` applied to ``data``; ``shared``: what other filters cut from ``data`` found."""
    if spec is None:
        return data
    if spec.kind == "subtree":
        return subtree_filter(data, subtree_children(spec.subtree_xml), keys, shared)
    return xpath_filter(data, spec.xpath, dict(spec.namespaces), keys)


MAX_SHAPES = 1024  # filters whose shapes a reader keeps (the subscriptions it runs, and some)


class Shapes:
    """The shape of each filter a reader is asked for (``interface_shape``; None for those it
    cannot shape), found once per filter: a subscription asks with the same filter every tick."""

    def __init__(self, keys: KeyIndex) -> None:
        self._keys = keys
        self._found: dict[FilterSpec | None, EntryShape | None] = {}

    def of(self, spec: FilterSpec | None) -> EntryShape | None:
        if spec not in self._found:
            if len(self._found) >= MAX_SHAPES:
                self._found.clear()
            self._found[spec] = interface_shape(spec, self._keys)
        return self._found[spec]


def interface_shape(spec: FilterSpec | None, keys: KeyIndex) -> EntryShape | None:
    """What a subtree filter keeps of one interface entry, for a source to cut its templates
    with (``DeviceSimulator.shaped_interfaces``): None unless the filter reads only
    ``/interfaces/interface`` and decides by keys and structure alone
    (``filters.shapes_entries_by_keys``). The shape applies the filter itself to the marked
    entry, so what a shaped source renders is what the filter would keep of its full reading."""
    if spec is None or spec.kind != "subtree":
        return None
    children = subtree_children(spec.subtree_xml)
    if not shapes_entries_by_keys(children, INTERFACE_LIST, keys):
        return None
    entry_path = f"{INTERFACES_TOP}/{INTERFACE_LIST[1]}"

    def shape(marked_entry: str) -> str | None:
        data = parse_xml(f'<data><interfaces xmlns="{INTERFACES}">{marked_entry}</interfaces></data>'.encode())
        kept = subtree_filter(data, children, keys).find(entry_path)
        if kept is None:
            return None
        return etree.tostring(kept).decode().replace(f' xmlns="{INTERFACES}"', "", 1)

    return shape


def device_nodes(device: DeviceSimulator, selection: Selection, keys: KeyIndex, at: float | None = None,
                 owned_interfaces: Collection[str] | None = None) -> list[etree._Element]:
    """The top-level ietf-hardware and ietf-interfaces nodes of ``device`` that ``selection``
    can select, rendering only the selectable entries (and of the interfaces, only
    ``owned_interfaces`` when given)."""
    nodes = []
    if selection.tags is None or HARDWARE_TOP in selection.tags:
        nodes.append(device.hardware(at, names=selection.entry_names(COMPONENT_LIST, keys)))
    if selection.tags is None or INTERFACES_TOP in selection.tags:
        names = selection.entry_names(INTERFACE_LIST, keys)
        if owned_interfaces is not None:
            names = set(owned_interfaces) if names is None else names & set(owned_interfaces)
        nodes.append(device.interfaces(at, names=names))
    return nodes
