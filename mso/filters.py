"""NETCONF subtree filters (RFC 6241 §6) and XPath filters (RFC 6241 §8.9) on lxml data trees.

Instance data is an element (``<data>`` or similar) whose children are the top-level YANG
data nodes. Filtering never modifies its input: every result is a new element with the same
tag as the data element, holding deep copies of what was selected.

Schema knowledge is limited to list keys (a :data:`KeyIndex`), which is enough to include
the keys of every list entry in a result and to merge trees entry by entry.

Pure module: no I/O, no imports from the programs that use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lxml import etree

KeyIndex = Mapping[tuple[str, ...], tuple[str, ...]]
"""Schema path of a list (Clark names from the top-level node down to the list itself) to
the Clark names of its key leaves, in key order. A keyless list maps to ``()``."""


class FilterError(ValueError):
    """A filter the server cannot apply.

    ``error_tag`` is the NETCONF error-tag to report (``invalid-value`` for a malformed
    filter, ``operation-failed`` when evaluation itself fails), ``error_message`` the
    human-readable text for ``<error-message>``.
    """

    def __init__(self, error_message: str, error_tag: str = "invalid-value") -> None:
        super().__init__(error_message)
        self.error_tag = error_tag
        self.error_message = error_message


# --------------------------------------------------------------------------------------
# Selections: which data nodes a filter picked, built first and copied out once at the end.
# --------------------------------------------------------------------------------------


@dataclass
class _Pick:
    """A data node in the result: either its whole subtree, or only the picked children."""

    whole: bool = False
    children: dict[etree._Element, _Pick] = field(default_factory=dict)

    def absorb(self, other: _Pick) -> None:
        """Union ``other`` (a pick of the same data node) into this one."""
        if self.whole:
            return
        if other.whole:
            self.whole = True
            self.children.clear()
            return
        for node, pick in other.children.items():
            self.children.setdefault(node, _Pick()).absorb(pick)


_Picks = dict[etree._Element, _Pick]


def _pick_whole(picks: _Picks, node: etree._Element) -> None:
    pick = picks.get(node)
    if pick is None:
        picks[node] = _Pick(whole=True)
    elif not pick.whole:
        pick.whole = True
        pick.children.clear()


def _pick_children(picks: _Picks, node: etree._Element, children: _Picks) -> None:
    """Pick ``node`` with ``children`` (a fresh dict, kept as it is when ``node`` is new)."""
    pick = picks.get(node)
    if pick is None:
        picks[node] = _Pick(children=children)
    else:
        pick.absorb(_Pick(children=children))


def _render(data: etree._Element, picks: _Picks) -> etree._Element:
    """A new element with ``data``'s tag holding copies of the picked nodes, in data order."""
    result = etree.Element(data.tag, nsmap=data.nsmap)
    _render_children(result, data, picks)
    return result


def _render_children(out: etree._Element, data_parent: etree._Element, picks: _Picks) -> None:
    for node in data_parent:
        pick = picks.get(node)
        if pick is None:
            continue
        if pick.whole:
            out.append(_detached_copy(node))
        else:
            partial = etree.SubElement(
                out, node.tag, attrib=dict(node.attrib), nsmap=_declared_here(node)
            )
            _render_children(partial, node, pick.children)


def _detached_copy(node: etree._Element) -> etree._Element:
    duplicate = node.__deepcopy__(None)  # lxml's own, without copy.deepcopy's bookkeeping
    duplicate.tail = None
    return duplicate


def _declared_here(node: etree._Element, nsmap: Mapping[str | None, str] | None = None,
                   inherited: Mapping[str | None, str] | None = None) -> dict[str | None, str]:
    """The namespace declarations ``node`` adds to its parent's, so copies keep the prefixes
    (``nsmap`` and ``inherited``: the node's and its parent's, when already read)."""
    if inherited is None:
        parent = node.getparent()
        inherited = parent.nsmap if parent is not None else {}
    return {prefix: uri for prefix, uri in (node.nsmap if nsmap is None else nsmap).items()
            if inherited.get(prefix) != uri}


def _element_children(node: etree._Element) -> Iterator[etree._Element]:
    """Child elements, skipping comments and processing instructions."""
    return (child for child in node if isinstance(child.tag, str))


def _pick_keys(picks: _Picks, entry: etree._Element, key_tags: Iterable[str]) -> None:
    """Add the key leaves of list entry ``entry`` to ``picks`` (its children's picks)."""
    wanted = set(key_tags)
    for child in _element_children(entry):
        if child.tag in wanted:
            _pick_whole(picks, child)


# --------------------------------------------------------------------------------------
# Subtree filtering (RFC 6241 §6)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeTest:
    """Which data elements one filter element stands for: name, namespace, attributes.

    A filter element in no namespace (``xmlns=""``) matches its local name in every
    namespace. RFC 6241 §6.2.1 only defines the namespace-qualified case; matching by
    local name is our choice for unqualified filters. Attribute match expressions
    (§6.2.2) require every filter attribute on the data element with the same value.
    YANG instance data carries no XML attributes, so in practice a filter element with
    attributes selects nothing, as §6.2.2 prescribes for elements without the attribute.
    """

    localname: str
    tag: str | None
    attributes: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, filter_node: etree._Element) -> _NodeTest:
        qname = etree.QName(filter_node)
        tag = filter_node.tag if qname.namespace else None
        return cls(qname.localname, tag, tuple(filter_node.attrib.items()))

    def select(self, parent: etree._Element) -> list[etree._Element]:
        """The matching children of ``parent`` (lxml finds them by tag in C: no index needed)."""
        nodes = parent.iterchildren(self.tag if self.tag is not None else "{*}" + self.localname)
        if not self.attributes:
            return list(nodes)
        return [node for node in nodes if all(node.get(name) == value for name, value in self.attributes)]


@dataclass(frozen=True)
class _Level:
    """One sibling set of a subtree filter, sorted into the three kinds of §6.2.3–6.2.5."""

    content_matches: tuple[tuple[_NodeTest, str], ...]
    selections: tuple[_NodeTest, ...]
    containments: tuple[tuple[_NodeTest, _Level], ...]
    # how to render it straight into the result, when no two of its nodes can pick the same data
    plan: _Plan | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, filter_nodes: Iterable[etree._Element]) -> _Level:
        content_matches: list[tuple[_NodeTest, str]] = []
        selections: list[_NodeTest] = []
        containments: list[tuple[_NodeTest, _Level]] = []
        for node in filter_nodes:
            if not isinstance(node.tag, str):
                continue
            test = _NodeTest.of(node)
            children = list(_element_children(node))
            text = _stripped_text(node)
            if children:
                if text or any((child.tail or "").strip() for child in children):
                    raise FilterError(
                        f"subtree filter element {node.tag} has mixed content, "
                        "which RFC 6241 §6.2.5 does not support"
                    )
                containments.append((test, cls.of(children)))
            elif text:
                content_matches.append((test, text))
            else:
                selections.append(test)
        level = cls(tuple(content_matches), tuple(selections), tuple(containments))
        object.__setattr__(level, "plan", _Plan.of(level))
        return level


@dataclass(frozen=True)
class _Plan:
    """A sibling set rendered straight into the result in one pass over the data's children,
    without collecting picks first: possible when every node of the set is namespace-qualified
    without attributes, and no two of them name the same data node, so there is nothing to
    merge. A list may still be named entry by entry (``named``), by its keys' content matches.
    The general evaluation handles every other filter; both give the same result."""

    content_matches: dict[str, str]  # tag -> value: the matching nodes are copied whole
    whole: frozenset[str]  # selection nodes: copied whole
    inner: Mapping[str, _Level]  # containments: partial copies, rendered by their own plan
    named: Mapping[str, tuple[_Level, ...]]  # list entries named one containment each
    entries: dict[tuple[str, ...], dict[tuple[str, ...], _Level] | None] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the plan reads."""
        return (*self.content_matches, *self.whole, *self.inner, *self.named)

    @classmethod
    def of(cls, level: _Level) -> _Plan | None:
        tests = [test for test, _ in level.content_matches] + list(level.selections)
        tests += [test for test, _ in level.containments]
        if any(test.tag is None or test.attributes for test in tests):
            return None
        if any(sublevel.plan is None for _, sublevel in level.containments):
            return None
        leaves = [test.tag for test in tests[:len(level.content_matches) + len(level.selections)]]
        by_tag: dict[str, list[_Level]] = {}
        for test, sublevel in level.containments:
            by_tag.setdefault(test.tag, []).append(sublevel)  # type: ignore[arg-type]
        if len(set(leaves)) != len(leaves) or set(leaves) & by_tag.keys():
            return None
        return cls({test.tag: value for test, value in level.content_matches},  # type: ignore[misc]
                   frozenset(test.tag for test in level.selections),  # type: ignore[misc]
                   {tag: levels[0] for tag, levels in by_tag.items() if len(levels) == 1},
                   {tag: tuple(levels) for tag, levels in by_tag.items() if len(levels) > 1})

    def entry_levels(self, list_path: tuple[str, ...], keys: KeyIndex) -> dict[tuple[str, ...], _Level] | None:
        """The sublevel naming each entry of the list at ``list_path`` by its key values (None:
        some containment leaves a key open, or two name the same entry)."""
        if list_path not in self.entries:
            key_tags = keys.get(list_path)
            by_key: dict[tuple[str, ...], _Level] | None = {}
            for sublevel in self.named[list_path[-1]]:
                values = _key_values(sublevel, key_tags) if key_tags else None
                if values is None or by_key is None or values in by_key:
                    by_key = None
                    break
                by_key[values] = sublevel
            self.entries[list_path] = by_key
        return self.entries[list_path]


@functools.lru_cache(maxsize=256)
def _level_of(filter_children: tuple[etree._Element, ...]) -> _Level:
    """A filter read once: a subscription's filter elements are the same objects every tick."""
    return _Level.of(filter_children)


def _stripped_text(node: etree._Element) -> str:
    """Element text without leading/trailing whitespace (whitespace-only counts as none)."""
    return (node.text or "").strip()


_Entries = dict[tuple[str, ...], tuple[int, etree._Element]]


class SharedEntries:
    """The entries of a data tree's lists by key, found once for every subtree filter cut
    from that one tree (a reading several subscriptions share): each filter naming entries
    then looks its own up instead of reading the whole list again. Only good for the tree
    it was first used with; it holds that tree's elements, so their proxies stay the same."""

    def __init__(self) -> None:
        self._lists: dict[tuple[etree._Element, str], _Entries | None] = {}

    def of(self, parent: etree._Element, tag: str, key_tags: tuple[str, ...]) -> _Entries | None:
        """``parent``'s ``tag`` entries by key values, with their positions (None: two entries
        share a key, which only the general evaluation renders as it should)."""
        if (parent, tag) not in self._lists:
            self._lists[parent, tag] = _entries_by_key(parent, tag, key_tags)
        return self._lists[parent, tag]


def _entries_by_key(parent: etree._Element, tag: str, key_tags: tuple[str, ...],
                    only: Collection[tuple[str, ...]] | None = None) -> _Entries | None:
    """``parent``'s ``tag`` entries by key values, with their positions (``only``: those keys
    alone); None when two share a key."""
    found: _Entries = {}
    for position, entry in enumerate(parent.iterchildren(tag)):
        key = _entry_key(entry, key_tags)
        if only is not None and key not in only:
            continue
        if key in found:
            return None
        found[key] = (position, entry)
    return found


def subtree_filter(
    data: etree._Element, filter_children: Sequence[etree._Element], keys: KeyIndex,
    shared: SharedEntries | None = None,
) -> etree._Element:
    """Apply an RFC 6241 §6 subtree filter to ``data``.

    ``filter_children`` are the top-level children of ``<filter>`` (or of a
    datastore-subtree-filter); together they form one sibling set (§6.3). An empty sequence
    selects nothing (§6.4.2). Returns a new element with ``data``'s tag holding deep copies
    of the selected nodes; every list entry in the result carries its key leaves.
    ``shared``: the entries of ``data`` found by the filters cut from it before.
    """
    level = _level_of(tuple(filter_children))
    if level.plan is not None and _renders_directly(level, (), keys):
        result = etree.Element(data.tag, nsmap=data.nsmap)
        if _render_plan(result, data, level.plan, (), keys, data.nsmap, shared) is _EVERY_CHILD:
            for child in _element_children(data):
                result.append(_detached_copy(child))
        return result
    picks = _select_level(data, level, (), keys)
    if picks is _EVERY_CHILD:
        picks = {node: _Pick(whole=True) for node in _element_children(data)}
    return _render(data, picks or {})


_EVERY_CHILD: _Picks = {}
"""What ``_select_level`` returns for a sibling set of content matches only, all true: the
instance is selected whole (§6.2.5), which its parent copies as one node."""


def shapes_entries_by_keys(filter_children: Sequence[etree._Element], list_path: tuple[str, str],
                           keys: KeyIndex) -> bool:
    """Whether a subtree filter reads only the top-level list ``list_path`` (a container and
    its entries) and keeps of each entry what its structure and its keys decide, never its
    other values: no content match below the entries' keys. Such a filter keeps of an entry
    the same nodes whatever the entry's values are, so a source may cut its templates once."""
    level = _level_of(tuple(filter_children))
    if level.plan is None or not _renders_directly(level, (), keys):
        return False
    container, entry = list_path
    top = level.plan
    if top.content_matches or top.whole or top.named or set(top.inner) != {container}:
        return False
    inner = top.inner[container].plan
    assert inner is not None
    if inner.content_matches or inner.whole or set(inner.inner) | set(inner.named) != {entry}:
        return False
    entries = [inner.inner[entry]] if entry in inner.inner else list(inner.named[entry])
    key_tags = set(keys.get(list_path, ()))
    return all(set(sub.plan.content_matches) <= key_tags and _matches_nothing_below(sub)  # type: ignore[union-attr]
               for sub in entries)


def _matches_nothing_below(level: _Level) -> bool:
    plan = level.plan
    assert plan is not None
    return not plan.named and all(not sub.plan.content_matches and _matches_nothing_below(sub)  # type: ignore[union-attr]
                                  for sub in plan.inner.values())


def _renders_directly(level: _Level, path: tuple[str, ...], keys: KeyIndex) -> bool:
    """Whether every sibling set of the filter below ``path`` has a plan for this schema's keys."""
    plan = level.plan
    if plan is None:
        return False
    for tag, sublevel in plan.inner.items():
        if not _renders_directly(sublevel, path + (tag,), keys):
            return False
    for tag, sublevels in plan.named.items():
        if plan.entry_levels(path + (tag,), keys) is None:
            return False
        if not all(_renders_directly(sublevel, path + (tag,), keys) for sublevel in sublevels):
            return False
    return True


def _render_plan(out: etree._Element, parent: etree._Element, plan: _Plan, path: tuple[str, ...],
                 keys: KeyIndex, parent_nsmap: Mapping[str | None, str],
                 shared: SharedEntries | None = None) -> bool | None | _Picks:
    """Append to ``out`` (the copy of ``parent`` being built) what ``plan`` selects among
    ``parent``'s children, in data order, with the keys of a list entry. None: a content match
    is false, so ``parent`` is not selected; ``_EVERY_CHILD``: it is selected whole (§6.2.5);
    else whether anything was selected. ``parent_nsmap`` is ``parent.nsmap``, read once."""
    matches = plan.content_matches
    if not _matches_all(parent, matches):
        return None
    if _only_matches(plan):
        return _EVERY_CHILD
    key_tags = keys.get(path, ()) if path else ()
    named = {tag: plan.entry_levels(path + (tag,), keys) for tag in plan.named} if plan.named else None
    selected = False
    # (child, its sublevel when known): in data order, the tags the plan reads only
    children: Iterable[tuple[etree._Element, _Level | None]] = (
        (child, None) for child in parent.iterchildren(*plan.tags, *key_tags))
    if named and len(plan.tags) == 1 and not key_tags:
        # only named entries here: find them by key (in the index the cuts of one reading
        # share, or in one pass keeping only those), and keep data order
        (tag,) = plan.tags
        wanted = named[tag] or {}
        entries = (shared.of(parent, tag, keys[path + (tag,)]) if shared is not None
                   else _entries_by_key(parent, tag, keys[path + (tag,)], wanted))
        if entries is not None:
            children = [(entry, wanted[values]) for values, (_, entry) in
                        sorted(((values, entries[values]) for values in wanted if values in entries),
                               key=lambda item: item[1][0])]
    for child, sublevel in children:
        tag = child.tag
        if tag in plan.whole or (tag in matches and _stripped_text(child) == matches[tag]):
            out.append(_detached_copy(child))
            selected = True
            continue
        if sublevel is None:
            sublevel = plan.inner.get(tag)
        if sublevel is None and named and tag in named:
            sublevel = named[tag].get(_entry_key(child, keys[path + (tag,)]))  # type: ignore[union-attr]
        if sublevel is not None and _only_matches(sublevel.plan):  # type: ignore[arg-type]
            if _matches_all(child, sublevel.plan.content_matches):  # type: ignore[union-attr]
                out.append(_detached_copy(child))  # selected whole (§6.2.5)
                selected = True
            continue
        if sublevel is not None:
            nsmap = child.nsmap
            declared = _declared_here(child, nsmap, parent_nsmap)
            partial = etree.SubElement(out, tag, child.attrib, declared) if declared or child.attrib \
                else etree.SubElement(out, tag)
            inner = _render_plan(partial, child, sublevel.plan, path + (tag,), keys, nsmap,  # type: ignore[arg-type]
                                 shared)
            if inner is _EVERY_CHILD:
                out.replace(partial, _detached_copy(child))
            elif not inner:
                out.remove(partial)
                continue
            selected = True
        elif tag in key_tags:
            out.append(_detached_copy(child))  # kept only if something else is
    return selected


def _only_matches(plan: _Plan) -> bool:
    """Whether a sibling set holds content matches alone (its instance is then taken whole)."""
    return bool(plan.content_matches) and not plan.whole and not plan.inner and not plan.named


def _matches_all(node: etree._Element, matches: Mapping[str, str]) -> bool:
    return all(any(_stripped_text(child) == value for child in node.iterchildren(tag)) for tag, value in matches.items())


def _select_level(
    parent: etree._Element, level: _Level, path: tuple[str, ...], keys: KeyIndex
) -> _Picks | None:
    """Evaluate one filter sibling set against the children of one data instance.

    Returns the picks among ``parent``'s children (``_EVERY_CHILD``: all of them, whole), or
    None when a content match node is false, which rejects this instance (and with it every
    sibling subtree, §6.2.5).
    """
    picks: _Picks = {}
    for test, value in level.content_matches:
        matching = [node for node in test.select(parent) if _stripped_text(node) == value]
        if not matching:
            return None
        for node in matching:
            _pick_whole(picks, node)
    if level.content_matches and not level.selections and not level.containments:
        return _EVERY_CHILD
    for test in level.selections:
        for node in test.select(parent):
            _pick_whole(picks, node)
    # one containment tests the entries as cheaply as an index would find them
    entries = _EntryIndex(parent, path, keys, level) if len(level.containments) > 1 else None
    for test, sublevel in level.containments:
        nodes, decided = entries.candidates(test, sublevel) if entries else (test.select(parent), False)
        for node in nodes:
            inner = _EVERY_CHILD if decided else _select_level(node, sublevel, path + (node.tag,), keys)
            if inner is _EVERY_CHILD:
                _pick_whole(picks, node)
            elif inner:
                _pick_children(picks, node, inner)
    if picks and path in keys:
        _pick_keys(picks, parent, keys[path])
    return picks


class _EntryIndex:
    """The list entries among one parent's children that a sibling set names by key.

    A filter naming 1,000 interfaces by key holds 1,000 containment nodes; testing each
    against every entry costs their product (26 s for 1,000 of 8,000). A containment that
    content-matches every key of its list can only select the entries with those key
    values, so the entries are read once, keeping those some containment names, and each
    containment looks its own up. Any other containment goes through the entries one by one.
    """

    def __init__(self, parent: etree._Element, path: tuple[str, ...], keys: KeyIndex, level: _Level) -> None:
        self._parent, self._path, self._keys, self._level = parent, path, keys, level
        self._by_tag: dict[str, dict[tuple[str, ...], list[etree._Element]]] = {}

    def candidates(self, test: _NodeTest, sublevel: _Level) -> tuple[list[etree._Element], bool]:
        """The entries ``test`` with ``sublevel`` may select, and whether the key match has
        decided it already (``sublevel`` matches the keys and nothing else: each is whole)."""
        key_tags = self._key_tags(test)
        wanted = _key_values(sublevel, key_tags) if key_tags else None
        if wanted is None:
            return test.select(self._parent), False
        assert test.tag is not None and key_tags is not None
        index = self._by_tag.get(test.tag)
        if index is None:
            index = self._by_tag[test.tag] = self._index(test.tag, key_tags)
        decided = not sublevel.selections and not sublevel.containments and len(sublevel.content_matches) == len(key_tags)
        return index.get(wanted, []), decided

    def _key_tags(self, test: _NodeTest) -> tuple[str, ...] | None:
        if test.tag is None or test.attributes:
            return None
        return self._keys.get(self._path + (test.tag,)) or None

    def _index(self, tag: str, key_tags: tuple[str, ...]) -> dict[tuple[str, ...], list[etree._Element]]:
        named = {values for test, sublevel in self._level.containments if test.tag == tag and not test.attributes
                 if (values := _key_values(sublevel, key_tags)) is not None}
        index: dict[tuple[str, ...], list[etree._Element]] = {}
        for entry in self._parent.iterchildren(tag):
            key = _entry_key(entry, key_tags)
            if key in named:
                index.setdefault(key, []).append(entry)
        return index


def _entry_key(entry: etree._Element, key_tags: tuple[str, ...]) -> tuple[str, ...]:
    """A list entry's key values. Keys come first, in key order (RFC 7950 §7.8.5), so the
    first children are read before any search."""
    if len(key_tags) == 1:  # the common case, read inline
        try:
            first = entry[0]
        except IndexError:
            return ("",)
        if first.tag == key_tags[0]:
            return ((first.text or "").strip(),)
    try:
        leaves = [entry[position] for position in range(len(key_tags))]
    except IndexError:
        leaves = []
    if [leaf.tag for leaf in leaves] != list(key_tags):
        leaves = [entry.find(tag) for tag in key_tags]
    return tuple("" if leaf is None else (leaf.text or "").strip() for leaf in leaves)


def _key_values(level: _Level, key_tags: Sequence[str]) -> tuple[str, ...] | None:
    """The value ``level`` content-matches on each key leaf, in key order (None: a key is open)."""
    matched = {test.tag: value for test, value in level.content_matches if test.tag is not None and not test.attributes}
    values = tuple(matched.get(tag) for tag in key_tags)
    return None if None in values else values  # type: ignore[return-value]


def selected_keys(
    filter_children: Sequence[etree._Element], list_path: tuple[str, ...], key_tags: Sequence[str]
) -> frozenset[tuple[str, ...]] | None:
    """Key values of the entries a subtree filter can select in the list at ``list_path``.

    ``list_path`` runs from a top-level node down to the list. None means "any entry" (some
    branch of the filter reaches the list, or stops above it, without a content match on
    every key); an empty set means the filter cannot select any entry there. A data source
    uses this to produce only the entries that can be selected, before the filter runs.
    """
    found: set[tuple[str, ...]] = set()
    level: list[etree._Element] = list(filter_children)
    for depth, tag in enumerate(list_path):
        matching = [n for n in level if isinstance(n.tag, str) and _tag_matches(_NodeTest.of(n), tag)]
        if depth == len(list_path) - 1:
            for entry in matching:
                values = _key_matches(entry, key_tags)
                if values is None:
                    return None
                found.add(values)
            return frozenset(found)
        next_level: list[etree._Element] = []
        for node in matching:
            children = list(_element_children(node))
            if not children:
                return None  # a selection node above the list selects all of it
            next_level += children
        level = next_level
    return frozenset(found)


def _tag_matches(test: _NodeTest, tag: str) -> bool:
    return test.tag == tag if test.tag is not None else etree.QName(tag).localname == test.localname


def _key_matches(entry_filter: etree._Element, key_tags: Sequence[str]) -> tuple[str, ...] | None:
    """The key values an entry filter content-matches, or None when a key is left open."""
    values = []
    for key in key_tags:
        match = next(
            (
                c
                for c in _element_children(entry_filter)
                if _tag_matches(_NodeTest.of(c), key) and _stripped_text(c) and not len(c)
            ),
            None,
        )
        if match is None:
            return None
        values.append(_stripped_text(match))
    return tuple(values)


# --------------------------------------------------------------------------------------
# XPath filtering (RFC 6241 §8.9)
# --------------------------------------------------------------------------------------

_ROOT_VARIABLE = "mso-data-root"
"""XPath variable bound to the data element, which plays the XPath root node."""


class _Token(NamedTuple):
    kind: str  # "literal", "number", "name", "variable", "operator" or "punctuation"
    text: str
    start: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<literal>"[^"]*"|'[^']*')
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<punctuation>\.\.|\.|::|[()\[\],@])
  | (?P<operator>//|/|!=|<=|>=|[=<>|+\-*])
  | (?P<variable>\$[^\W\d][\w.\-]*(?::[^\W\d][\w.\-]*)?)
  | (?P<name>[^\W\d][\w.\-]*(?::(?:[^\W\d][\w.\-]*|\*))?)
  | (?P<other>.)
    """,
    re.VERBOSE,
)

_OPERATOR_NAMES = frozenset({"and", "or", "mod", "div"})
_OPERAND_OPENERS = frozenset({"@", "::", "(", "[", ","})


def _tokens(expression: str) -> Iterator[_Token]:
    """XPath 1.0 tokens (§3.7), with ``*`` and operator names disambiguated.

    Per XPath 1.0 §3.7, ``*`` is a multiplication and ``and``/``or``/``mod``/``div`` are
    operators only when a token precedes them that is not ``@ :: ( [ ,`` or an operator;
    otherwise they are name tests. Tokens of kind "other" are left for lxml to reject.
    """
    previous: _Token | None = None
    for match in _TOKEN.finditer(expression):
        kind = match.lastgroup or "other"
        if kind == "space":
            continue
        text = match.group()
        operand_expected = _opens_operand(previous)
        if kind == "operator" and text == "*" and operand_expected:
            kind = "name"
        elif kind == "name" and text in _OPERATOR_NAMES and not operand_expected:
            kind = "operator"
        previous = _Token(kind, text, match.start())
        yield previous


def _opens_operand(previous: _Token | None) -> bool:
    """Whether the next token starts an operand rather than continuing one (XPath §3.7)."""
    return (
        previous is None
        or previous.kind == "operator"
        or (previous.kind == "punctuation" and previous.text in _OPERAND_OPENERS)
    )


def _starts_step(token: _Token | None) -> bool:
    return token is not None and (token.kind == "name" or token.text in {"@", ".", ".."})


def _rooted_at_data(expression: str) -> str:
    """Rewrite absolute location paths to start at ``$mso-data-root``.

    RFC 6241 §8.9 evaluates the expression with the root node's children being the
    top-level data nodes, so there may be many of them; an XML document has one document
    element. The data element stands in for the root node: ``/x`` becomes
    ``$mso-data-root/x``, ``//x`` becomes ``$mso-data-root//x`` and a bare ``/`` becomes
    ``$mso-data-root``. A ``/`` is absolute exactly where an operand may start.
    """
    tokens = list(_tokens(expression))
    rewritten: list[str] = []
    copied_up_to = 0
    for position, token in enumerate(tokens):
        if token.text not in {"/", "//"}:
            continue
        previous = tokens[position - 1] if position else None
        if not _opens_operand(previous):
            continue
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        anchor = f"${_ROOT_VARIABLE}"
        if token.text == "//" or _starts_step(following):
            anchor += token.text
        rewritten.append(expression[copied_up_to : token.start] + anchor)
        copied_up_to = token.start + len(token.text)
    rewritten.append(expression[copied_up_to:])
    return "".join(rewritten)


def xpath_prefixes(expression: str) -> set[str]:
    """The prefixes an XPath expression (or a value that holds one: an identityref, an
    instance-identifier) uses on its names; string literals and axes do not count."""
    return {token.text.lstrip("$").split(":", 1)[0] for token in _tokens(expression)
            if token.kind in {"name", "variable"} and ":" in token.text}


def bound_prefixes(expression: str, nsmap: Mapping[str | None, str]) -> tuple[tuple[str, str], ...]:
    """The prefixes ``expression`` uses, bound as the element that holds it declares them
    (``nsmap``, RFC 7950 §9.13), sorted. Only the used ones: declarations an expression ignores
    must not make two readings of the same configuration differ."""
    used = xpath_prefixes(expression)
    return tuple(sorted((prefix, uri) for prefix, uri in nsmap.items() if prefix in used))


def unprefixed_element_names(expression: str) -> list[str]:
    """The element name tests of ``expression`` that carry no prefix, in order, once each.

    XPath 1.0 puts such a name in no namespace (a default namespace never applies to it), so
    over YANG data, where every node is in its module's namespace, it selects nothing.
    Function names and node-type tests (``count(``, ``text()``), axis names, attribute and
    namespace-axis names, and ``*`` are not element name tests.
    """
    tokens = list(_tokens(expression))
    names: list[str] = []
    for position, token in enumerate(tokens):
        if token.kind != "name" or ":" in token.text or token.text == "*" or token.text in names:
            continue
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        if following is not None and following.text in {"(", "::"}:
            continue
        if position and _names_a_non_element(tokens, position):
            continue
        names.append(token.text)
    return names


def _names_a_non_element(tokens: Sequence[_Token], position: int) -> bool:
    """Whether the name test at ``position`` is on the attribute or namespace axis."""
    previous = tokens[position - 1]
    if previous.text == "@":
        return True
    return previous.text == "::" and position >= 2 and tokens[position - 2].text in {"attribute", "namespace"}


def require_prefixed_names(expression: str) -> None:
    """Refuse an XPath filter on YANG data that names a node without a prefix.

    Such a name can only ever select nothing (see :func:`unprefixed_element_names`); an empty
    answer would hide the mistake, so it is an error that says what to write instead.
    """
    names = unprefixed_element_names(expression)
    if not names:
        return
    quoted = ", ".join(repr(name) for name in names)
    raise FilterError(
        f"XPath name{'s' if len(names) > 1 else ''} {quoted} {'have' if len(names) > 1 else 'has'} "
        "no prefix, so no namespace, and can select nothing: every YANG data node is in its "
        "module's namespace. Bind a prefix on the filter element (xmlns:p=\"module namespace\") "
        f"and write p:{names[0]}"
    )


def _check_prefixes(expression: str, namespaces: Mapping[str, str]) -> None:
    """Reject names whose prefix has no namespace (lxml would only notice on evaluation)."""
    for prefix in sorted(xpath_prefixes(expression)):
        if prefix not in namespaces:
            raise FilterError(f"XPath prefix {prefix!r} is not bound to a namespace")


@dataclass(frozen=True)
class CompiledXPath:
    """An XPath filter ready to run against data trees many times.

    Evaluation maps non-element results to elements: a text node selects the element
    that holds it (``.../if:name/text()`` selects ``if:name``), and so does an attribute
    node (our instance data has no XML attributes, so this only matters for foreign
    trees). Selecting the root node (``/``) selects all data.
    """

    expression: str
    _xpath: etree.XPath

    def selected(self, data: etree._Element) -> list[etree._Element]:
        """The elements of ``data`` (``data`` itself standing for the root) selected."""
        try:
            result = self._xpath(data, **{_ROOT_VARIABLE: data})
        except etree.XPathError as error:
            raise FilterError(
                f"XPath {self.expression!r} failed: {error}", "operation-failed"
            ) from error
        if not isinstance(result, list):
            raise FilterError(
                f"XPath {self.expression!r} yields a {type(result).__name__}, "
                "not a node-set"
            )
        owners = (_owning_element(node) for node in result)
        return [owner for owner in owners if owner is not None]


def _owning_element(node: object) -> etree._Element | None:
    """The element a selected XPath node stands for (see :class:`CompiledXPath`).

    None for what is not data: comments, processing instructions and formatting
    whitespace (YANG instance data has no mixed content, so text beside child elements,
    or after an element, is layout).
    """
    if isinstance(node, etree._Element):
        return node if isinstance(node.tag, str) else None
    if isinstance(node, etree._ElementUnicodeResult):
        holder = node.getparent()
        if node.is_tail or (node.is_text and _has_element_children(holder)):
            return None
        return holder
    raise FilterError("XPath filter selects namespace nodes, which are not data")


def compile_xpath(expression: str, namespaces: Mapping[str, str]) -> CompiledXPath:
    """Compile and check an XPath filter; results are cached for repeated subscriptions.

    ``namespaces`` maps prefixes to namespace URIs, typically those in scope on the filter
    element. A default namespace (prefix ``None`` or ``""``) is ignored: XPath 1.0 never
    applies it to unprefixed names. Raises :class:`FilterError` for bad syntax, unbound
    prefixes, unknown functions or variables, and expressions that are not node-sets.
    """
    prefixed = tuple(sorted((prefix, uri) for prefix, uri in namespaces.items() if prefix))
    return _compile_cached(expression, prefixed)


@functools.lru_cache(maxsize=512)
def _compile_cached(expression: str, namespaces: tuple[tuple[str, str], ...]) -> CompiledXPath:
    bound = dict(namespaces)
    _check_prefixes(expression, bound)
    try:
        # no EXSLT regular expressions: they are not XPath 1.0, and run Python's re under the GIL
        xpath = etree.XPath(_rooted_at_data(expression), namespaces=bound, regexp=False)
    except etree.XPathSyntaxError as error:
        raise FilterError(f"invalid XPath {expression!r}: {error}") from error
    compiled = CompiledXPath(expression, xpath)
    _trial_run(compiled)
    return compiled


def _trial_run(compiled: CompiledXPath) -> None:
    """Evaluate once on empty data, so unknown functions and non-node-set results
    (whose type in XPath 1.0 never depends on the data) fail at compile time."""
    try:
        compiled.selected(etree.Element("data"))
    except FilterError as error:
        raise FilterError(error.error_message) from error


def xpath_filter(
    data: etree._Element, expression: str, namespaces: Mapping[str, str], keys: KeyIndex
) -> etree._Element:
    """Apply an RFC 6241 §8.9 XPath filter to ``data``.

    ``data``'s children are the top-level nodes of the document the expression sees, so
    ``/if:interfaces`` and ``//if:name`` work as in RFC 6241. The result is a new element
    with ``data``'s tag holding every selected node with its whole subtree and its
    ancestors; every list entry among those ancestors carries its key leaves.
    """
    return render_selection(data, compile_xpath(expression, namespaces).selected(data), keys)


def render_selection(
    data: etree._Element, selected: Iterable[etree._Element], keys: KeyIndex
) -> etree._Element:
    """The selected nodes of ``data`` with their subtrees and ancestors (and list keys)."""
    picks: _Picks = {}
    for node in selected:
        if node is data:
            return _render(data, {child: _Pick(whole=True) for child in _element_children(data)})
        lineage = _lineage_below(data, node)
        if lineage is not None:
            _pick_with_ancestors(picks, lineage, keys)
    return _render(data, picks)


def _lineage_below(data: etree._Element, node: etree._Element) -> list[etree._Element] | None:
    """``node`` and its ancestors up to (excluding) ``data``, top first; None if outside."""
    lineage = [node]
    for ancestor in node.iterancestors():
        if ancestor is data:
            lineage.reverse()
            return lineage
        lineage.append(ancestor)
    return None


def _pick_with_ancestors(
    picks: _Picks, lineage: list[etree._Element], keys: KeyIndex
) -> None:
    level = picks
    path: tuple[str, ...] = ()
    for ancestor in lineage[:-1]:
        path += (ancestor.tag,)
        pick = level.setdefault(ancestor, _Pick())
        if pick.whole:
            return
        if path in keys:
            _pick_keys(pick.children, ancestor, keys[path])
        level = pick.children
    _pick_whole(level, lineage[-1])


# --------------------------------------------------------------------------------------
# Merging trees (several filters, several data providers)
# --------------------------------------------------------------------------------------


def merge_into(target: etree._Element, source: etree._Element, keys: KeyIndex) -> None:
    """Merge the children of ``source`` into ``target`` (both data-root elements).

    Nodes are matched by identity: containers by tag, list entries by tag and key values,
    leaf-list entries by tag and value; a matched leaf takes the source's value; anything
    unmatched is appended as a copy. ``source`` is not modified.

    Without a schema a leaf-list and a leaf look alike: a childless element whose tag
    repeats among the siblings of either tree is a leaf-list entry, otherwise a leaf. So
    two single-entry leaf-lists with different values merge as a leaf would (the source
    wins). Entries of keyless lists (and of lists missing from ``keys``) are identified
    by their whole content, so identical entries are not duplicated.
    """
    _merge_children(target, source, (), keys)


def _merge_children(
    target: etree._Element, source: etree._Element, path: tuple[str, ...], keys: KeyIndex
) -> None:
    target_children = list(_element_children(target))
    source_children = list(_element_children(source))
    repeated = _repeated_tags(target_children) | _repeated_tags(source_children)
    existing: dict[tuple[object, ...], etree._Element] = {}
    for node in target_children:
        existing.setdefault(_identity(node, path, keys, repeated), node)
    for node in source_children:
        identity = _identity(node, path, keys, repeated)
        match = existing.get(identity)
        if match is None:
            match = _detached_copy(node)
            target.append(match)
            existing[identity] = match
        elif _has_element_children(match) or _has_element_children(node):
            _merge_children(match, node, path + (node.tag,), keys)
        else:
            match.text = node.text


def _repeated_tags(nodes: Iterable[etree._Element]) -> set[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for node in nodes:
        (repeated if node.tag in seen else seen).add(node.tag)
    return repeated


def _has_element_children(node: etree._Element) -> bool:
    return any(True for _ in _element_children(node))


def _identity(
    node: etree._Element, path: tuple[str, ...], keys: KeyIndex, repeated: set[str]
) -> tuple[object, ...]:
    """What makes ``node`` the same data node as another sibling (see :func:`merge_into`)."""
    key_tags = keys.get(path + (node.tag,))
    if key_tags:
        values = {child.tag: _stripped_text(child) for child in _element_children(node)}
        return ("entry", node.tag, tuple(values.get(tag) for tag in key_tags))
    if key_tags is not None:
        return ("content", _canonical(node))
    if node.tag not in repeated:
        return ("node", node.tag)
    if _has_element_children(node):
        return ("content", _canonical(node))
    return ("value", node.tag, _stripped_text(node))


def _canonical(node: etree._Element) -> tuple[object, ...]:
    """A hashable form of a subtree that ignores prefixes and formatting whitespace."""
    return (
        node.tag,
        _stripped_text(node),
        tuple(sorted(node.attrib.items())),
        tuple(_canonical(child) for child in _element_children(node)),
    )
