"""Subscription decomposition (draft-zhou-netconf-multi-stream-originators §5): which
originators serve a global subscription's filter, and what filter each runs on its own data,
such that the union of their results is exactly what the filter selects on the whole device
and no node comes from two of them.

Each generator's data is the table entries it owns, each with its whole subtree, inside the
containers on their paths; the Master (``"1"``) also owns everything outside the table's
entries.  For a list the table knows, the table lists every entry (see
:mod:`server.resource_location`).

A filter is read against the table's shape (:mod:`server.table_shape`), never evaluated on
data, and served one of three ways:

- **as it is**: where what it selects on each originator's data depends only on that data (key
  and content predicates on the entries they test, paths down the tree), every originator
  whose entries it can select runs the filter itself;
- **rewritten per originator**: where its selection also depends on which entries exist (an
  XPath step back up out of an entry, a predicate on a container or on other entries that reads
  only keys), the Master evaluates that part on the key skeleton and gives each originator a
  filter naming what it selects there (:func:`_rewrite`);
- **whole**: where it depends on content held on other originators or on the order of data
  from several of them (a subtree content match beside a list, a predicate reading other
  entries' content, ``..`` after a content predicate, positions), the Master serves it itself
  from the whole device's data; ``whole`` says why.

Pure module: no I/O, no asyncio.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from lxml import etree

from mso.filters import KeyIndex, compile_xpath
from mso.generators import MASTER_GENERATOR
from mso.sampling import subtree_children
from mso.subscription_model import FilterSpec
from server import xpath_ast as ast
from server.resource_location import ResourceLocationTable
from server.table_shape import KeyValues, ListPath, Shape, ShapeNode, TableView, shape_trie, skeleton_node, table_view
from server.xpath_reach import (
    LOCAL,
    WHOLE,
    AllOf,
    Branch,
    FilterUnsupported,
    Formula,
    Selected,
    read_xpath,
    unsupported,
)

NOTHING = FilterSpec("subtree")
"""A filter that selects nothing (RFC 6241 §6.4.2): the Master's when nobody owns what a filter selects."""


@dataclass(frozen=True)
class Decomposition:
    """Who serves a filter, and what each of them runs on its own data."""

    filters: Mapping[str, FilterSpec | None] = field(default_factory=dict)
    whole: str | None = None  # why the Master serves it from the whole device's data (None: decomposed)

    @property
    def generators(self) -> list[str]:
        """Sorted numerically ("1" < "2" < "10")."""
        return sorted(self.filters, key=int)


def decompose(selection: FilterSpec | None, table: ResourceLocationTable, keys: KeyIndex) -> Decomposition:
    """How ``selection`` is served on ``table``'s originators (see the module doc).

    Raises FilterError for a filter that cannot run, :class:`FilterUnsupported` for one the
    Master can evaluate neither way."""
    view = table_view(table)
    if selection is None:
        return Decomposition({generator: None for generator in _everyone(view)})
    if selection.kind == "subtree":
        return _decompose_subtree(selection, view, keys)
    if selection.kind == "xpath":
        return _decompose_xpath(selection, view, keys)
    raise ValueError(f"unknown filter kind {selection.kind!r}")


def check_filter(selection: FilterSpec | None) -> None:
    """Raise :class:`FilterUnsupported` for a filter that can be evaluated neither way,
    whatever the table holds."""
    if selection is not None and selection.kind == "xpath":
        reason = unsupported(ast.parse(selection.xpath))
        if reason:
            raise FilterUnsupported(f"filter: {reason}", f"{reason}; write the condition with XPath 1.0's own "
                                                         "functions on the data the filter selects")


def _everyone(view: TableView) -> set[str]:
    return {MASTER_GENERATOR, *(owner for owners in view.owners.values() for owner in owners)}


def _whole(selection: FilterSpec, reason: str) -> Decomposition:
    return Decomposition({MASTER_GENERATOR: selection}, reason)


# --------------------------------------------------------------------------------------
# What a filter reaches, in the table's terms
# --------------------------------------------------------------------------------------


@dataclass
class _Reach:
    """Whether a filter can select data outside the table's entries (``outside``), and per
    table list the keys of the entries it can select (None: any entry)."""

    outside: bool = False
    lists: dict[ListPath, set[KeyValues] | None] = field(default_factory=dict)

    def absorb(self, other: _Reach) -> None:
        self.outside |= other.outside
        for list_path, chosen in other.lists.items():
            mine = self.lists.get(list_path, set())
            self.lists[list_path] = None if mine is None or chosen is None else mine | chosen

    def generators(self, view: TableView) -> set[str]:
        found = {MASTER_GENERATOR} if self.outside else set()
        for list_path, chosen in self.lists.items():
            if chosen is None:
                found |= view.owners.get(list_path, frozenset())
            else:
                entries = view.table.entries(list_path)
                found.update(entries[key_values] for key_values in chosen if key_values in entries)
        return found


def _everything_below(node: ShapeNode) -> _Reach:
    """Reach of a filter that selects ``node``, or may select anything under it."""
    return _Reach(outside=True, lists={list_path: None for list_path in node.lists_below})


def _entries_reach(node: ShapeNode, chosen: set[KeyValues] | None) -> _Reach:
    """Reach of a path that ends in these entries of ``node``'s list or below them."""
    assert node.list_path is not None
    reach = _Reach(lists={nested: None for nested in node.lists_below} if chosen is None or chosen else {})
    reach.lists[node.list_path] = chosen
    return reach


# --------------------------------------------------------------------------------------
# Subtree filters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SubtreeReading:
    reach: _Reach
    whole: str | None


def _decompose_subtree(selection: FilterSpec, view: TableView, keys: KeyIndex) -> Decomposition:
    reading = _read_subtree(selection.subtree_xml, view.shape(keys))
    if reading.whole:
        return _whole(selection, reading.whole)
    return Decomposition({generator: selection for generator in reading.reach.generators(view)})


@functools.lru_cache(maxsize=256)
def _read_subtree(subtree_xml: bytes, shape: Shape) -> _SubtreeReading:
    """A subtree filter's reach and whether it needs the whole device.

    Cached: it depends only on the filter and the table's lists, not on who owns what, so
    re-decomposing after ownership changes does not read a long filter again.  Callers never
    change the cached reach.
    """
    root = shape_trie(shape)
    whole: list[str] = []
    reach = _subtree_reach(subtree_children(subtree_xml), root, whole)
    return _SubtreeReading(reach, whole[0] if whole else None)


def _matching(node: ShapeNode, filter_tag: str) -> tuple[list[ShapeNode], bool]:
    """The trie children a subtree filter node matches, and whether it may match other nodes
    too (one in no namespace matches its local name in every namespace)."""
    if filter_tag.startswith("{"):
        child = node.children.get(filter_tag)
        return ([child], False) if child is not None else ([], True)
    return [child for tag, child in node.children.items() if _local_name(tag) == filter_tag], True


def _is_content_match(filter_node: etree._Element) -> bool:
    return not len(filter_node) and bool((filter_node.text or "").strip())


def _subtree_reach(filter_nodes: Sequence[etree._Element], node: ShapeNode, whole: list[str]) -> _Reach:
    """Reach of a subtree filter sibling set matched against the instance of ``node``.

    A filter node that matches no node on the way to the table's lists may select data
    outside them; so may one in no namespace.  A filter node that stops at a container
    selects all of it, the Master's leaves beside the lists included.  The filter nodes for one
    list are read together.  A content match that may test a leaf of the container (the
    Master's) decides whether the container's other nodes are selected at all: where those can
    be agents' entries, only the whole device answers (``whole`` gets why).
    """
    reach = _Reach()
    by_tag: dict[str, list[etree._Element]] = {}  # a list's entry filters come together, a thousand at a time
    for filter_node in filter_nodes:
        if isinstance(filter_node.tag, str):
            by_tag.setdefault(filter_node.tag, []).append(filter_node)
    beside: list[str] = []
    only_content = True
    for tag, group in by_tag.items():
        children, elsewhere = _matching(node, tag)
        reach.outside |= elsewhere
        content = [f for f in group if _is_content_match(f)]
        only_content &= len(content) == len(group)
        if content and elsewhere:
            beside.append(_local_name(tag))
        for child in children:
            if child.list_path is not None:
                reach.absorb(_entries_reach(child, _content_matched_keys(group, child.key_tags)))
                continue
            for filter_node in group:
                reach.absorb(_subtree_reach(filter_node, child, whole) if len(filter_node) else _everything_below(child))
    if beside and only_content:
        reach.absorb(_everything_below(node))  # a content match alone selects the whole instance
    if beside and reach.lists:
        where = "/".join(_local_name(tag) for tag in node.path) or "the top level"
        whole.append(f"the content match on {', '.join(beside)} in {where} decides whether entries held by line "
                     "cards are selected")
    return reach


def _content_matched_keys(entry_filters: Sequence[etree._Element], key_tags: tuple[str, ...]) -> set[KeyValues] | None:
    """Keys some entry filter content-matches on every key (None: any entry, as soon as one
    entry filter leaves a key open); what :func:`mso.filters.selected_keys` finds, in one pass
    over the filter."""
    if not key_tags:
        return None
    chosen: set[KeyValues] = set()
    for entry_filter in entry_filters:
        values = tuple(_key_text(entry_filter, tag) for tag in key_tags)
        if None in values:
            return None
        chosen.add(values)  # type: ignore[arg-type]
    return chosen


def _key_text(entry_filter: etree._Element, key_tag: str) -> str | None:
    """The first non-empty content match on a key among an entry filter's children (one in no
    namespace matches the key's local name)."""
    for tag in (key_tag, _local_name(key_tag)):
        for condition in entry_filter.iterchildren(tag):
            text = (condition.text or "").strip()
            if text:
                return text
    return None


def _local_name(clark: str) -> str:
    return clark.rpartition("}")[2]


# --------------------------------------------------------------------------------------
# XPath filters
# --------------------------------------------------------------------------------------


def _decompose_xpath(selection: FilterSpec, view: TableView, keys: KeyIndex) -> Decomposition:
    compile_xpath(selection.xpath, dict(selection.namespaces))  # raises FilterError for what cannot run
    shape = view.shape(keys)
    reading = read_xpath(selection.xpath, selection.namespaces, shape)
    if reading.verdict == WHOLE:
        return _whole(selection, reading.reason)
    if reading.verdict == LOCAL:
        generators: set[str] = set()
        for branch in reading.branches:
            generators |= _selected_generators(branch.selected, view)
        return Decomposition({generator: selection for generator in generators})
    prefixes = _Prefixes(selection.namespaces)
    paths: dict[str, list[str]] = {}
    for branch in reading.branches:
        if branch.verdict == LOCAL:
            per_generator = {g: [ast.unparse(branch.tree)] for g in _selected_generators(branch.selected, view)}
        else:
            rewritten = _rewrite(branch, view, keys, prefixes)
            if isinstance(rewritten, str):
                return _whole(selection, rewritten)
            per_generator = rewritten
        for generator, texts in per_generator.items():
            paths.setdefault(generator, []).extend(texts)
    namespaces = prefixes.namespaces
    return Decomposition({generator: FilterSpec("xpath", xpath=" | ".join(dict.fromkeys(texts)), namespaces=namespaces)
                          for generator, texts in paths.items()})


def _selected_generators(selected: Selected, view: TableView) -> set[str]:
    reach = _Reach(outside=selected.master)
    for list_path, formulas in selected.lists:
        reach.absorb(_Reach(lists={list_path: None if formulas is None else _keys_satisfying(formulas, list_path,
                                                                                              view)}))
    return reach.generators(view)


def _keys_satisfying(formulas: tuple[Formula, ...], list_path: ListPath, view: TableView) -> set[KeyValues] | None:
    """Keys of the table entries the formulas can keep (None: any entry)."""
    formula = AllOf(formulas)
    if formula.holds(None):
        return None
    entries = view.table.entries(list_path)
    atoms = {atom.position for atom in formula.atoms()}
    candidates: Iterable[KeyValues]
    if atoms == {0} and all(len(key_values) == 1 for key_values in list(entries)[:1]):
        candidates = {(atom.value,) for atom in formula.atoms()}
    else:
        candidates = entries
    return {key_values for key_values in candidates if key_values in entries and formula.holds(key_values)}


class _Prefixes:
    """The prefixes of a rewritten filter: the original ones, and new ones for namespaces the
    original binds no prefix to."""

    def __init__(self, namespaces: Sequence[tuple[str, str]]) -> None:
        self._bound = dict(namespaces)
        self._of = {uri: prefix for prefix, uri in reversed(list(namespaces))}

    def of(self, namespace: str) -> str:
        prefix = self._of.get(namespace)
        if prefix is None:
            prefix = f"mso-dx{len(self._bound)}"
            self._bound[prefix] = self._of[namespace] = namespace
        return prefix

    @property
    def namespaces(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self._bound.items()))


def _rewrite(branch: Branch, view: TableView, keys: KeyIndex, prefixes: _Prefixes) -> dict[str, list[str]] | str:
    """A keyed branch as one filter per originator: its concrete prefix evaluated on the key
    skeleton, each node found named by its path and keys, followed by the rest of the branch
    (which must then be local).  Returns why the branch needs the whole device instead, if
    the rest is not local."""
    tree = branch.tree
    assert isinstance(tree, ast.LocationPath) and branch.split is not None
    step_number, kept, head = branch.split
    steps = tree.steps
    prefix = list(steps[:step_number])
    remaining: tuple[ast.Expr, ...] = ()
    rest = steps[step_number:]
    if head:
        current = steps[step_number]
        prefix.append(replace(current, predicates=current.predicates[:kept]))
        remaining, rest = current.predicates[kept:], steps[step_number + 1:]
    found = compile_xpath(ast.unparse(ast.LocationPath(True, tuple(prefix))), dict(prefixes.namespaces)).selected(
        view.skeleton(keys))
    lists = {list_path: key_tags or () for list_path, key_tags in view.shape(keys)}
    groups: dict[tuple[str | None, tuple[str, ...], str | None], list[KeyValues]] = {}
    for element in dict.fromkeys(found):
        node = skeleton_node(element, lists)
        owner = view.owner((node.path, node.entry)) if node.entry is not None else None
        groups.setdefault((owner, node.path, node.key_tag), []).append(node.entry or ())
    out: dict[str, list[str]] = {}
    for (owner, path, key_tag), entries in groups.items():
        if owner is not None and len(entries) == sum(1 for o in view.table.entries(path).values() if o == owner):
            entries_named: list[KeyValues] | None = None  # all of the owner's: its data holds no others
        else:
            entries_named = entries if owner is not None else None
        named = _naming_steps(path, entries_named, lists, key_tag, prefixes)
        if remaining:
            named.append(ast.Step("self", ast.TypeTest("node"), remaining))
        text = ast.unparse(ast.LocationPath(True, (*named, *rest)))
        reading = read_xpath(text, prefixes.namespaces, view.shape(keys))
        if reading.verdict != LOCAL:
            return f"{branch.reason}, and what follows it reads {reading.reason or 'beyond the entries it tests'}"
        # entries: their owner runs it; a container: whoever has data below it that the rest selects
        for generator in [owner] if owner is not None else _selected_generators(reading.branches[0].selected, view):
            out.setdefault(generator, []).append(text)
    return out


def _naming_steps(path: tuple[str, ...], entries: list[KeyValues] | None, lists: Mapping[ListPath, tuple[str, ...]],
                  key_tag: str | None, prefixes: _Prefixes) -> list[ast.Step]:
    """Child steps down ``path``; for a list, its last step keeps ``entries`` by key (and a
    ``key_tag`` step goes on to that key leaf)."""
    steps = [ast.Step("child", _name_test(tag, prefixes)) for tag in path]
    if entries is not None:
        key_tags = lists[path]
        alternatives = [_all_of([_key_equals(tag, value, prefixes) for tag, value in zip(key_tags, key_values)])
                        for key_values in entries]
        condition = alternatives[0]
        for alternative in alternatives[1:]:
            condition = ast.Binary("or", condition, alternative)
        steps[-1] = replace(steps[-1], predicates=(condition,))
    if key_tag is not None:
        steps.append(ast.Step("child", _name_test(key_tag, prefixes)))
    return steps


def _all_of(conditions: list[ast.Expr]) -> ast.Expr:
    condition = conditions[0]
    for other in conditions[1:]:
        condition = ast.Binary("and", condition, other)
    return condition


def _key_equals(tag: str, value: str, prefixes: _Prefixes) -> ast.Expr:
    return ast.Binary("=", ast.LocationPath(False, (ast.Step("child", _name_test(tag, prefixes)),)), ast.Literal(value))


def _name_test(tag: str, prefixes: _Prefixes) -> ast.NameTest:
    namespace, _, local = tag[1:].partition("}")
    return ast.NameTest(prefixes.of(namespace), local)
