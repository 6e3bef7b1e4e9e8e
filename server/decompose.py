"""Subscription decomposition (draft-zhou-netconf-multi-stream-originators §5).

Given a global subscription's filter and the Resource-Location Table, find the originators
(message-generator-ids) whose data the filter can select: each gets a component subscription
with the same filter and evaluates it on its own data only.

Each generator's data is the table entries it owns, each with its whole subtree; the Master
(``"1"``) also owns everything outside the table's entries: other top-level nodes, non-list
siblings of the table's lists (``/hw:hardware/hw:last-change``) and entries of lists the table
does not know.  For a list the table knows, the table lists every entry (see
:mod:`server.resource_location`).

The answer never misses a generator whose filtered data is non-empty.  It is exact when the
filter restricts list entries by their keys only; where the filter may depend on content the
table does not hold (a non-key leaf, a position, a function, ``//``, ``*``, anything not
analysed), every owner of the lists concerned is included, and the Master too when data outside
the table's entries can be concerned.

The filter is analysed against the *shape* of the table, never evaluated on data:

- subtree filters: one walk of the filter along the paths to the table's lists; at a list,
  the entry filters that content-match every key give the entries (as
  :func:`mso.filters.selected_keys` would), and anything the filter selects beside the lists
  involves the Master;
- XPath filters: each ``|`` branch that is a plain location path is followed along the paths to
  the table's lists; predicates on a list step become a formula over key comparisons (anything
  else in them counts as "may be true"), so entries are looked up by key, not scanned.
  Predicates above the lists are ignored, and steps below an entry stay inside it unless they
  go back up (``..``, axes), which makes the branch conservative.

The table's lists are assumed not to nest inside each other's entries beyond what the
conservative cases cover: entries of a table list inside a selected entry are all included.

Pure module: no I/O, no asyncio.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from mso.filters import FilterError, KeyIndex, _Token, _tokens, compile_xpath
from mso.sampling import subtree_children
from mso.subscription_model import FilterSpec
from mso.generators import MASTER_GENERATOR
from server.resource_location import Resource, ResourceLocationTable

ListPath = tuple[str, ...]
KeyValues = tuple[str, ...]


def decompose(selection: FilterSpec | None, table: ResourceLocationTable, keys: KeyIndex) -> list[str]:
    """The message-generator-ids whose data the filter can select, sorted numerically ("1" < "2" < "10")."""
    reach = _reach(selection, table, keys)
    view = _view(table)
    generators = {MASTER_GENERATOR} if reach.outside else set()
    for list_path, chosen in reach.lists.items():
        if chosen is None:
            generators |= view.owners[list_path]
        else:
            entries = table.entries(list_path)
            generators.update(entries[key_values] for key_values in chosen)
    return sorted(generators, key=int)


def involved_entries(
    selection: FilterSpec | None, table: ResourceLocationTable, keys: KeyIndex
) -> dict[str, set[Resource]]:
    """Generator -> the table entries it owns that the filter can select.

    The generators are those of :func:`decompose`; where the filter's reach in a list is not
    known precisely, all of the generator's entries in that list are given.  The Master may
    map to an empty set: it is involved for data outside the table's entries.
    """
    reach = _reach(selection, table, keys)
    involved: dict[str, set[Resource]] = {MASTER_GENERATOR: set()} if reach.outside else {}
    for list_path, chosen in reach.lists.items():
        entries = table.entries(list_path)
        for key_values in entries if chosen is None else chosen:
            involved.setdefault(entries[key_values], set()).add((list_path, key_values))
    return involved


# --------------------------------------------------------------------------------------
# What a filter can reach, in the table's terms
# --------------------------------------------------------------------------------------


@dataclass
class _Reach:
    """Whether a filter can select data outside the table's entries (``outside``), and per
    table list the keys of the entries it can select (None: any entry; only keys in the table)."""

    outside: bool = False
    lists: dict[ListPath, set[KeyValues] | None] = field(default_factory=dict)

    def absorb(self, other: _Reach) -> None:
        self.outside |= other.outside
        for list_path, chosen in other.lists.items():
            mine = self.lists.get(list_path, set())
            self.lists[list_path] = None if mine is None or chosen is None else mine | chosen

    def resolved(self, table: ResourceLocationTable) -> _Reach:
        """A copy keeping only the keys that are in the table."""
        lists: dict[ListPath, set[KeyValues] | None] = {}
        for list_path, chosen in self.lists.items():
            entries = table.entries(list_path)
            lists[list_path] = None if chosen is None else {key_values for key_values in chosen if key_values in entries}
        return _Reach(self.outside, lists)


@dataclass
class _Node:
    """A node on the paths from the root to the table's lists (a trie of their schema paths)."""

    children: dict[str, _Node] = field(default_factory=dict)
    list_path: ListPath | None = None  # set when this node is one of the table's lists
    lists_below: list[ListPath] = field(default_factory=list)  # including this node's own list

    def matching(self, filter_tag: str) -> tuple[list[_Node], bool]:
        """The children a subtree filter node matches, and whether it may match other nodes too
        (one in no namespace matches its local name in every namespace)."""
        if filter_tag.startswith("{"):
            child = self.children.get(filter_tag)
            return ([child], False) if child is not None else ([], True)
        return [child for tag, child in self.children.items() if _local_name(tag) == filter_tag], True

    def everything(self) -> _Reach:
        """Conservative reach of a filter that selects this node, or may select anything under it."""
        return _Reach(outside=True, lists={list_path: None for list_path in self.lists_below})


def _trie(list_paths: Iterable[ListPath]) -> _Node:
    root = _Node()
    for list_path in list_paths:
        node = root
        node.lists_below.append(list_path)
        for tag in list_path:
            node = node.children.setdefault(tag, _Node())
            node.lists_below.append(list_path)
        node.list_path = list_path
    return root


@dataclass(frozen=True)
class _TableView:
    """What the decomposer derives from one version of a table."""

    version: int
    root: _Node
    owners: dict[ListPath, frozenset[str]]  # of each list's entries, in a stable order

    @classmethod
    def of(cls, table: ResourceLocationTable) -> _TableView:
        list_paths = sorted(table.list_paths())
        owners = {list_path: frozenset(table.entries(list_path).values()) for list_path in list_paths}
        return cls(table.version, _trie(list_paths), owners)

    def shape(self, keys: KeyIndex) -> tuple[tuple[ListPath, tuple[str, ...] | None], ...]:
        """The table's lists with their keys: all a subtree filter's reading depends on."""
        return tuple((list_path, keys.get(list_path)) for list_path in self.owners)


_VIEWS: weakref.WeakKeyDictionary[ResourceLocationTable, _TableView] = weakref.WeakKeyDictionary()


def _view(table: ResourceLocationTable) -> _TableView:
    """The table's view, rebuilt only when the table's version moved."""
    view = _VIEWS.get(table)
    if view is None or view.version != table.version:
        view = _VIEWS[table] = _TableView.of(table)
    return view


def _reach(selection: FilterSpec | None, table: ResourceLocationTable, keys: KeyIndex) -> _Reach:
    view = _view(table)
    if selection is None:
        return view.root.everything()
    if selection.kind == "subtree":
        return _subtree_plan(selection.subtree_xml, view.shape(keys)).resolved(table)
    if selection.kind == "xpath":
        namespaces = dict(selection.namespaces)
        compile_xpath(selection.xpath, namespaces)  # raises FilterError for what cannot run
        return _xpath_reach(selection.xpath, namespaces, view.root, table, keys)
    raise ValueError(f"unknown filter kind {selection.kind!r}")


# --------------------------------------------------------------------------------------
# Subtree filters
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _subtree_plan(subtree_xml: bytes, shape: tuple[tuple[ListPath, tuple[str, ...] | None], ...]) -> _Reach:
    """A subtree filter's reach with keys not yet checked against the table.

    Cached: it depends only on the filter and the table's lists, not on who owns what, so
    re-decomposing after ownership changes does not read a long filter again.  Callers take
    :meth:`_Reach.resolved` copies and never change the cached one.
    """
    keys = {list_path: key_tags for list_path, key_tags in shape if key_tags is not None}
    return _subtree_reach(subtree_children(subtree_xml), _trie(list_path for list_path, _ in shape), keys)


def _subtree_reach(filter_nodes: Iterable[etree._Element], node: _Node, keys: KeyIndex) -> _Reach:
    """Reach of a subtree filter sibling set matched against the children of ``node``.

    A filter node that matches no node on the way to the table's lists may select data
    outside them; so may one in no namespace, which matches its local name in every
    namespace.  A filter node that stops at a container selects all of it, the Master's
    leaves beside the lists included.  The filter nodes for one list are read together.
    """
    reach = _Reach()
    entry_filters: dict[ListPath, list[etree._Element]] = {}
    for filter_node in filter_nodes:
        children, elsewhere = node.matching(filter_node.tag)
        reach.outside |= elsewhere
        for child in children:
            if child.list_path is not None:
                entry_filters.setdefault(child.list_path, []).append(filter_node)
            elif len(filter_node):
                reach.absorb(_subtree_reach(filter_node, child, keys))
            else:
                reach.absorb(child.everything())
    for list_path, filters in entry_filters.items():
        list_node = node.children[list_path[-1]]
        reach.absorb(_entries_reach(list_node, _content_matched_keys(filters, keys.get(list_path))))
    return reach


def _content_matched_keys(
    entry_filters: Sequence[etree._Element], key_tags: tuple[str, ...] | None
) -> set[KeyValues] | None:
    """Keys some entry filter content-matches on every key (None: any entry, as soon as one
    entry filter leaves a key open); what :func:`mso.filters.selected_keys` finds, in one pass
    over the filter."""
    if not key_tags:
        return None
    positions = {tag: position for position, tag in enumerate(key_tags)}
    positions.update({_local_name(tag): position for position, tag in enumerate(key_tags)})
    chosen: set[KeyValues] = set()
    for entry_filter in entry_filters:
        found: dict[int, str] = {}
        for condition in entry_filter:
            position = positions.get(condition.tag)
            text = (condition.text or "").strip()
            if position is not None and text:
                found.setdefault(position, text)
        if len(found) < len(key_tags):
            return None
        chosen.add(tuple(found[position] for position in range(len(key_tags))))
    return chosen


def _local_name(clark: str) -> str:
    return clark.rpartition("}")[2]


# --------------------------------------------------------------------------------------
# XPath filters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One location step: the ``/`` or ``//`` before it, its head tokens and its predicates."""

    separator: str
    head: tuple[_Token, ...]
    predicates: tuple[tuple[_Token, ...], ...]

    @property
    def name(self) -> str | None:
        """The QName of a plain child step by name; None for ``*``, ``p:*``, node type
        tests, axes, attributes, ``.`` and ``..``."""
        if len(self.head) == 1 and self.head[0].kind == "name" and not self.head[0].text.endswith("*"):
            return self.head[0].text
        return None

    @property
    def moves_up(self) -> bool:
        """Whether the step may leave the subtree it starts from (``..`` or an explicit axis)."""
        return any(token.text in ("..", "::") for token in self.head)


def _xpath_reach(
    expression: str, namespaces: Mapping[str, str], root: _Node, table: ResourceLocationTable, keys: KeyIndex
) -> _Reach:
    reach = _Reach()
    for steps in _branches(expression):
        reach.absorb(_branch_reach(steps, namespaces, root, table, keys) if steps is not None else root.everything())
    return reach


@functools.lru_cache(maxsize=512)
def _branches(expression: str) -> tuple[tuple[_Step, ...] | None, ...]:
    """The ``|`` branches of an expression as location paths (None: not a plain location path)."""
    tokens = list(_tokens(expression))
    return tuple(_location_path(branch) for branch in _split(tokens, "|"))


def _split(tokens: Sequence[_Token], operator: str) -> list[Sequence[_Token]]:
    """``tokens`` cut at ``operator`` where it stands outside brackets and parentheses."""
    parts: list[Sequence[_Token]] = []
    depth = start = 0
    for position, token in enumerate(tokens):
        if token.text in ("(", "["):
            depth += 1
        elif token.text in (")", "]"):
            depth -= 1
        elif depth == 0 and token.kind == "operator" and token.text == operator:
            parts.append(tokens[start:position])
            start = position + 1
    parts.append(tokens[start:])
    return parts


def _closing(tokens: Sequence[_Token], opening: int) -> int:
    """Position of the bracket or parenthesis closing the one at ``opening``."""
    depth = 0
    for position in range(opening, len(tokens)):
        if tokens[position].text in ("(", "["):
            depth += 1
        elif tokens[position].text in (")", "]"):
            depth -= 1
            if depth == 0:
                return position
    raise FilterError("unbalanced brackets in XPath")


def _location_path(tokens: Sequence[_Token]) -> tuple[_Step, ...] | None:
    """Steps of ``[/|//] step (/|// step)*``, each step a head and predicates; None otherwise."""
    steps: list[_Step] = []
    position, separator = 0, "/"
    if tokens and tokens[0].text in ("/", "//"):
        separator, position = tokens[0].text, 1
    while position < len(tokens):
        head_end = _head_end(tokens, position)
        if head_end is None:
            return None
        head, position = tuple(tokens[position:head_end]), head_end
        predicates: list[tuple[_Token, ...]] = []
        while position < len(tokens) and tokens[position].text == "[":
            close = _closing(tokens, position)
            predicates.append(tuple(tokens[position + 1 : close]))
            position = close + 1
        steps.append(_Step(separator, head, tuple(predicates)))
        if position < len(tokens):
            if tokens[position].text not in ("/", "//"):
                return None
            separator, position = tokens[position].text, position + 1
    return tuple(steps)


def _head_end(tokens: Sequence[_Token], position: int) -> int | None:
    """End of the step head starting at ``position`` (name test, node type test, axis,
    ``@``, ``.`` or ``..``); None when no step starts there."""
    token = tokens[position]
    following = tokens[position + 1].text if position + 1 < len(tokens) else None
    if token.text in (".", ".."):
        return position + 1
    if token.text == "@":
        return _head_end(tokens, position + 1) if following is not None else None
    if token.kind != "name":
        return None
    if following == "::":
        return _head_end(tokens, position + 2) if position + 2 < len(tokens) else None
    if following == "(":
        return _closing(tokens, position + 1) + 1
    return position + 1


def _branch_reach(
    steps: tuple[_Step, ...], namespaces: Mapping[str, str], root: _Node, table: ResourceLocationTable,
    keys: KeyIndex,
) -> _Reach:
    """Follow one location path along the table's paths (predicates above lists ignored).

    A path that may go back up (``..``, axes) can end anywhere, so it reaches everything.
    """
    if any(step.moves_up for step in steps):
        return root.everything()
    node = root
    for step in steps:
        if step.separator == "//" or step.name is None:
            return node.everything()
        child = node.children.get(_clark(step.name, namespaces))
        if child is None:
            return _Reach(outside=True)  # a node outside the table's lists is the Master's
        if child.list_path is not None:
            return _entries_reach(child, _entry_keys(child.list_path, step.predicates, namespaces, table, keys))
        node = child
    return node.everything()


def _entries_reach(node: _Node, chosen: set[KeyValues] | None) -> _Reach:
    """Reach of a path that ends in these entries of ``node``'s list or below them: the
    entries of table lists inside them are reached too, whichever they are."""
    reach = _Reach(lists={nested: None for nested in node.lists_below} if chosen is None or chosen else {})
    reach.lists[node.list_path] = chosen
    return reach


def _clark(qname: str, namespaces: Mapping[str, str]) -> str:
    """Clark name of an XPath QName; an unprefixed name is in no namespace (XPath 1.0)."""
    prefix, _, local = qname.rpartition(":")
    return f"{{{namespaces[prefix]}}}{local}" if prefix else local


def _entry_keys(
    list_path: ListPath, predicates: Sequence[Sequence[_Token]], namespaces: Mapping[str, str],
    table: ResourceLocationTable, keys: KeyIndex,
) -> set[KeyValues] | None:
    """Keys of the table entries the list step's predicates can keep (None: any entry)."""
    key_tags = keys.get(list_path)
    if not predicates or not key_tags:
        return None
    positions = {tag: position for position, tag in enumerate(key_tags)}
    formula = _All(tuple(_formula(predicate, positions, namespaces) for predicate in predicates))
    if formula.holds(None):
        return None
    entries = table.entries(list_path)
    if len(key_tags) == 1:
        candidates: Iterable[KeyValues] = {(atom.value,) for atom in formula.atoms()}
    else:
        candidates = entries
    return {key_values for key_values in candidates if key_values in entries and formula.holds(key_values)}


# Predicates on a list step, as formulas over key comparisons.  Anything else in them is
# unknown and may be true; the formulas are and/or only, so assuming an unknown part true
# can only widen what a predicate keeps.  Each predicate filters the entries the previous
# ones kept, so what any of them can keep bounds the result, positions included.


@dataclass(frozen=True)
class _KeyIs:
    """``key = 'literal'`` (or the other way round) for the key at ``position``."""

    position: int
    value: str

    def holds(self, key_values: KeyValues | None) -> bool:
        """Truth for an entry (None: an entry whose keys equal no literal of the formula)."""
        return key_values is not None and key_values[self.position] == self.value

    def atoms(self) -> Iterator[_KeyIs]:
        yield self


@dataclass(frozen=True)
class _Unknown:
    def holds(self, key_values: KeyValues | None) -> bool:
        return True

    def atoms(self) -> Iterator[_KeyIs]:
        return iter(())


@dataclass(frozen=True)
class _All:
    parts: tuple[_Formula, ...]

    def holds(self, key_values: KeyValues | None) -> bool:
        return all(part.holds(key_values) for part in self.parts)

    def atoms(self) -> Iterator[_KeyIs]:
        for part in self.parts:
            yield from part.atoms()


@dataclass(frozen=True)
class _Any:
    parts: tuple[_Formula, ...]

    def holds(self, key_values: KeyValues | None) -> bool:
        return any(part.holds(key_values) for part in self.parts)

    def atoms(self) -> Iterator[_KeyIs]:
        for part in self.parts:
            yield from part.atoms()


_Formula = _KeyIs | _Unknown | _All | _Any


def _formula(tokens: Sequence[_Token], positions: Mapping[str, int], namespaces: Mapping[str, str]) -> _Formula:
    """A predicate expression as a formula (``or`` binds loosest, then ``and``, then ``=``)."""
    alternatives = _split(tokens, "or")
    if len(alternatives) > 1:
        return _Any(tuple(_formula(part, positions, namespaces) for part in alternatives))
    factors = _split(tokens, "and")
    if len(factors) > 1:
        return _All(tuple(_formula(part, positions, namespaces) for part in factors))
    if tokens and tokens[0].text == "(" and _closing(tokens, 0) == len(tokens) - 1:
        return _formula(tokens[1:-1], positions, namespaces)
    return _key_comparison(tokens, positions, namespaces)


def _key_comparison(
    tokens: Sequence[_Token], positions: Mapping[str, int], namespaces: Mapping[str, str]
) -> _KeyIs | _Unknown:
    if len(tokens) != 3 or tokens[1].text != "=":
        return _Unknown()
    for name, literal in ((tokens[0], tokens[2]), (tokens[2], tokens[0])):
        if name.kind == "name" and literal.kind == "literal":
            position = positions.get(_clark(name.text, namespaces))
            if position is not None:
                return _KeyIs(position, literal.text[1:-1])
    return _Unknown()
