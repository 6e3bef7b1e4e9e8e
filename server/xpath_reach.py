"""What an XPath filter selects and reads, judged against the table's shape (never on data).

Each ``|`` branch of a filter is followed from the root along the trie of the paths to the
table's lists (:mod:`server.table_shape`). Every node it can reach is a *place*: the root, a
container on the trie (present on several originators), an entry of a table list, a node
inside an entry (its owner's), or the Master's own data (off the trie). Each predicate is read
in the same way from the places it tests, to learn what it reads: its *region* (the entry it
tests, the Master's data, or for a container only the node itself and its ancestors, which
every originator has alike), whether it reads beyond it, whether what it reads is in the key
skeleton (containers, entries and their keys) or content only the owner has, and whether it
depends on document order across originators (positions, sibling and following/preceding axes,
the first node of a node-set that spans entries).

A branch is then

- ``local``: nothing in it reads beyond the region of the node it tests, and no step leaves an
  entry or the Master's data upwards; every originator running it on its own data selects
  exactly its share of what it selects on the whole device;
- ``keyed``: some parts read beyond their region, or a step goes back up, but only what the key
  skeleton holds, and all of it in a leading part of the path (the *concrete prefix*) after
  which the rest is local: the Master evaluates the prefix on the skeleton and writes each
  originator a filter naming what it selects;
- ``whole``: what it selects depends on content held elsewhere or on the order of data from
  several originators; only the whole device's data answers it.

A filter that cannot be evaluated at all (unknown or YANG-only functions, variables, the
namespace axis) is unsupported (:func:`unsupported`).

Pure module: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from mso.filters import FilterError
from server import xpath_ast as ast
from server.table_shape import KeyValues, ListPath, Shape, ShapeNode, shape_trie

ROOT, SHARED, ENTRY, INSIDE, MASTER = "root", "shared", "entry", "inside", "master"
LOCAL, KEYED, WHOLE = "local", "keyed", "whole"

YANG_FUNCTIONS = frozenset({"current", "deref", "re-match", "derived-from", "derived-from-or-self", "enum-value",
                            "bit-is-set"})
_NUMBER_FUNCTIONS = frozenset({"last", "position", "count", "string-length", "number", "sum", "floor", "ceiling",
                               "round"})
_STRING_FUNCTIONS = frozenset({"local-name", "namespace-uri", "name", "string", "concat", "substring-before",
                               "substring-after", "substring", "normalize-space", "translate"})
_BOOLEAN_FUNCTIONS = frozenset({"starts-with", "contains", "boolean", "not", "true", "false", "lang"})
_NODE_SET_FUNCTIONS = frozenset({"id"})
_KNOWN_FUNCTIONS = _NUMBER_FUNCTIONS | _STRING_FUNCTIONS | _BOOLEAN_FUNCTIONS | _NODE_SET_FUNCTIONS
_NAME_FUNCTIONS = frozenset({"local-name", "namespace-uri", "name"})
_CONTEXT_VALUE_FUNCTIONS = frozenset({"string", "string-length", "normalize-space", "number"})
_ARITHMETIC = frozenset({"+", "-", "*", "div", "mod"})
_COMPARISONS = frozenset({"=", "!=", "<", ">", "<=", ">="})


class FilterUnsupported(FilterError):
    """A filter the Master can evaluate neither piece by piece nor whole: RFC 8639's
    ``filter-unsupported``, with ``hint`` for ``filter-failure-hint``."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


# --------------------------------------------------------------------------------------
# Key formulas: what a predicate says about an entry's keys
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyIs:
    """``key = 'literal'`` for the key at ``position``."""

    position: int
    value: str

    def holds(self, key_values: KeyValues | None) -> bool:
        """Truth for an entry (None: an entry whose keys equal no literal of the formula)."""
        return key_values is not None and key_values[self.position] == self.value

    def atoms(self) -> Iterator[KeyIs]:
        yield self


@dataclass(frozen=True)
class Unknown:
    """Anything else: it may be true."""

    def holds(self, key_values: KeyValues | None) -> bool:
        return True

    def atoms(self) -> Iterator[KeyIs]:
        return iter(())


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Formula, ...]

    def holds(self, key_values: KeyValues | None) -> bool:
        return all(part.holds(key_values) for part in self.parts)

    def atoms(self) -> Iterator[KeyIs]:
        for part in self.parts:
            yield from part.atoms()


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Formula, ...]

    def holds(self, key_values: KeyValues | None) -> bool:
        return any(part.holds(key_values) for part in self.parts)

    def atoms(self) -> Iterator[KeyIs]:
        for part in self.parts:
            yield from part.atoms()


Formula = KeyIs | Unknown | AllOf | AnyOf


def key_formula(expr: ast.Expr, positions: Mapping[str, int], namespaces: Mapping[str, str]) -> Formula:
    """A predicate as and/or of key comparisons; every other part may be true, which can only
    widen what the formula keeps."""
    if isinstance(expr, ast.Binary) and expr.operator in ("or", "and"):
        parts = (key_formula(expr.left, positions, namespaces), key_formula(expr.right, positions, namespaces))
        return AnyOf(parts) if expr.operator == "or" else AllOf(parts)
    if isinstance(expr, ast.Binary) and expr.operator == "=":
        for name, value in ((expr.left, expr.right), (expr.right, expr.left)):
            position = _key_position(name, positions, namespaces)
            if position is not None and isinstance(value, ast.Literal):
                return KeyIs(position, value.value)
    return Unknown()


def _key_position(expr: ast.Expr, positions: Mapping[str, int], namespaces: Mapping[str, str]) -> int | None:
    if not (isinstance(expr, ast.LocationPath) and not expr.absolute and len(expr.steps) == 1):
        return None
    step = expr.steps[0]
    if step.axis != "child" or step.predicates or not isinstance(step.test, ast.NameTest) or not step.test.prefix:
        return None
    return positions.get(clark(step.test, namespaces))


def clark(test: ast.NameTest, namespaces: Mapping[str, str]) -> str:
    return f"{{{namespaces[test.prefix]}}}{test.local}" if test.prefix else test.local


# --------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where on the device a node of a filter's node-set can be (see the module doc)."""

    kind: str
    node: ShapeNode  # root, container, entry: its trie node; inside: its entry's list; master: the trie node above
    depth: int = 0  # inside, master: levels below ``node``; at least this when not ``exact``
    exact: bool = True
    key_tag: str | None = None  # inside: the entry's key leaf it is (or whose text it is)
    formulas: tuple[Formula, ...] = ()  # entry, inside: what the entry's keys satisfy

    @property
    def concrete(self) -> bool:
        """Whether the key skeleton holds this node."""
        return self.kind in (ROOT, SHARED, ENTRY) or (self.kind == INSIDE and self.key_tag is not None)


def _trie_place(node: ShapeNode, formulas: tuple[Formula, ...] = ()) -> Place:
    if node.tag is None:
        return Place(ROOT, node)
    return Place(ENTRY, node, formulas=formulas) if node.list_path is not None else Place(SHARED, node)


@dataclass(frozen=True)
class _Move:
    place: Place
    how: str  # "down", "up", "self", "side" or "far"


class _Axes:
    """Where one step leads from a place (its node test applied)."""

    def __init__(self, namespaces: Mapping[str, str]) -> None:
        self._namespaces = namespaces

    def step(self, place: Place, axis: str, test: ast.NodeTest) -> list[_Move]:
        if axis in ("attribute", "namespace"):
            return []  # YANG data has no attributes; the namespace axis is refused before
        kind = place.kind
        if kind in (ROOT, SHARED):
            return self._from_trie(place, axis, test)
        if kind == ENTRY:
            return self._from_entry(place, axis, test)
        if kind == INSIDE:
            return self._from_inside(place, axis, test)
        return self._from_master(place, axis, test)

    # -- node tests ---------------------------------------------------------------------

    def _matches_tag(self, test: ast.NodeTest, tag: str | None) -> bool:
        """Whether ``test`` can match a trie node (the root when ``tag`` is None)."""
        if isinstance(test, ast.TypeTest):
            return test.kind == "node"
        if tag is None:
            return False
        if test.local == "*":
            return not test.prefix or tag.startswith(f"{{{self._namespaces[test.prefix]}}}")
        return clark(test, self._namespaces) == tag

    @staticmethod
    def _matches_elements(test: ast.NodeTest) -> bool:
        return isinstance(test, ast.NameTest) or test.kind == "node"

    @staticmethod
    def _matches_text(test: ast.NodeTest) -> bool:
        return isinstance(test, ast.TypeTest) and test.kind in ("node", "text")

    def _off_trie(self, node: ShapeNode, test: ast.NodeTest) -> bool:
        """Whether ``test`` can match a child of ``node`` that is not on the trie."""
        if not self._matches_elements(test):
            return False
        if isinstance(test, ast.NameTest) and test.local != "*":
            return clark(test, self._namespaces) not in node.children
        return True

    # -- from each kind of place --------------------------------------------------------

    def _children_of_trie(self, node: ShapeNode, test: ast.NodeTest, how: str) -> list[_Move]:
        moves = [_Move(_trie_place(child), how) for tag, child in node.children.items() if self._matches_tag(test, tag)]
        if self._off_trie(node, test):
            moves.append(_Move(Place(MASTER, node, 1), how))
        return moves

    def _below_trie(self, node: ShapeNode, test: ast.NodeTest) -> list[_Move]:
        """Every descendant of a root or container that ``test`` can match."""
        moves = [_Move(_trie_place(below), "down") for below in node.descendants() if self._matches_tag(test, below.tag)]
        if self._matches_elements(test) or self._matches_text(test):
            for below in [node, *node.descendants()]:
                if below.list_path is not None:
                    moves.append(_Move(Place(INSIDE, below, 1, exact=False), "down"))
            moves.append(_Move(Place(MASTER, node, 1, exact=False), "down"))
        return moves

    def _up_trie(self, node: ShapeNode, test: ast.NodeTest, all_the_way: bool, include_self: bool,
                 self_place: Place) -> list[_Move]:
        moves = [_Move(self_place, "self")] if include_self and self._matches_tag(test, node.tag) else []
        for ancestor in node.ancestors()[: None if all_the_way else 1]:
            if self._matches_tag(test, ancestor.tag):
                moves.append(_Move(_trie_place(ancestor), "up"))
        return moves

    def _siblings_in_trie(self, node: ShapeNode, test: ast.NodeTest) -> list[_Move]:
        assert node.parent is not None
        return [_Move(move.place, "side") for move in self._children_of_trie(node.parent, test, "side")]

    def _everywhere(self, node: ShapeNode, test: ast.NodeTest) -> list[_Move]:
        """The following and preceding axes: anywhere in the document."""
        root = node.ancestors()[-1] if node.parent is not None else node
        return [_Move(move.place, "far") for move in self._below_trie(root, test)]

    def _from_trie(self, place: Place, axis: str, test: ast.NodeTest) -> list[_Move]:
        node = place.node
        if axis == "child":
            return self._children_of_trie(node, test, "down")
        if axis in ("descendant", "descendant-or-self"):
            own = [_Move(place, "self")] if axis == "descendant-or-self" and self._matches_tag(test, node.tag) else []
            return own + self._below_trie(node, test)
        if axis == "self":
            return [_Move(place, "self")] if self._matches_tag(test, node.tag) else []
        if axis in ("parent", "ancestor", "ancestor-or-self"):
            return self._up_trie(node, test, axis != "parent", axis == "ancestor-or-self", place)
        if axis in ("following-sibling", "preceding-sibling"):
            return self._siblings_in_trie(node, test) if node.parent is not None else []
        return self._everywhere(node, test)

    def _from_entry(self, place: Place, axis: str, test: ast.NodeTest) -> list[_Move]:
        node = place.node
        if axis == "child":
            return self._inside(place, 1, True, test, "down")
        if axis in ("descendant", "descendant-or-self"):
            own = [_Move(place, "self")] if axis == "descendant-or-self" and self._matches_tag(test, node.tag) else []
            return own + self._inside(place, 1, False, test, "down")
        if axis == "self":
            return [_Move(place, "self")] if self._matches_tag(test, node.tag) else []
        if axis in ("parent", "ancestor", "ancestor-or-self"):
            return self._up_trie(node, test, axis != "parent", axis == "ancestor-or-self", place)
        if axis in ("following-sibling", "preceding-sibling"):
            return self._siblings_in_trie(node, test)
        return self._everywhere(node, test)

    def _inside(self, entry: Place, depth: int, exact: bool, test: ast.NodeTest, how: str) -> list[_Move]:
        """Nodes ``depth`` levels inside an entry (at least, when not ``exact``)."""
        node = entry.node
        moves = []
        if self._matches_elements(test):
            key_tag = None
            if exact and depth == 1 and isinstance(test, ast.NameTest) and test.local != "*":
                tag = clark(test, self._namespaces)
                key_tag = tag if tag in node.key_tags else None
            moves.append(_Move(replace(entry, kind=INSIDE, depth=depth, exact=exact, key_tag=key_tag), how))
        elif self._matches_text(test) and depth > 1:
            moves.append(_Move(replace(entry, kind=INSIDE, depth=depth, exact=exact, key_tag=None), how))
        return moves

    def _from_inside(self, place: Place, axis: str, test: ast.NodeTest) -> list[_Move]:
        entry = replace(place, kind=ENTRY, depth=0, exact=True, key_tag=None)
        if axis == "child":
            if self._matches_text(test) and place.key_tag is not None and place.exact and place.depth == 1:
                return [_Move(replace(place, depth=2), "down")]  # a key leaf's text
            return self._inside(entry, place.depth + 1, place.exact, test, "down")
        if axis in ("descendant", "descendant-or-self"):
            own = [_Move(place, "self")] if axis == "descendant-or-self" else []
            return own + self._inside(entry, place.depth + 1, False, test, "down")
        if axis == "self":
            return [_Move(place, "self")] if self._matches_elements(test) or self._matches_text(test) else []
        if axis in ("following-sibling", "preceding-sibling"):
            return [_Move(replace(place, key_tag=None), "side")] if self._matches_elements(test) else []
        if axis in ("parent", "ancestor", "ancestor-or-self"):
            return self._up_from_inside(place, entry, axis, test)
        return self._everywhere(place.node, test)

    def _up_from_inside(self, place: Place, entry: Place, axis: str, test: ast.NodeTest) -> list[_Move]:
        moves = [_Move(place, "self")] if axis == "ancestor-or-self" else []
        lowest = place.depth - 1
        reaches_entry = lowest == 0 or not place.exact or axis != "parent"
        if lowest >= 1 and self._matches_elements(test):
            moves.append(_Move(replace(place, depth=lowest, key_tag=None), "up"))
        if reaches_entry and self._matches_tag(test, place.node.tag):
            moves.append(_Move(entry, "up"))
        if axis != "parent":
            moves += self._up_trie(place.node, test, True, False, entry)
        return moves

    def _from_master(self, place: Place, axis: str, test: ast.NodeTest) -> list[_Move]:
        anchor = place.node
        if axis in ("child", "descendant", "descendant-or-self"):
            own = [_Move(place, "self")] if axis == "descendant-or-self" else []
            if not (self._matches_elements(test) or self._matches_text(test)):
                return own
            return own + [_Move(replace(place, depth=place.depth + 1, exact=place.exact and axis == "child"), "down")]
        if axis == "self":
            return [_Move(place, "self")]
        if axis in ("following-sibling", "preceding-sibling"):
            moves = [_Move(place, "side")]
            if place.depth == 1 or not place.exact:
                moves += [_Move(move.place, "side") for move in self._children_of_trie(anchor, test, "side")]
            return moves
        if axis in ("parent", "ancestor", "ancestor-or-self"):
            moves = [_Move(place, "self")] if axis == "ancestor-or-self" else []
            if place.depth > 1 or not place.exact:
                moves.append(_Move(replace(place, depth=max(1, place.depth - 1)), "up"))
            if place.depth == 1 or not place.exact or axis != "parent":
                # a node found by // may hang from any container at or below the anchor
                parents = [anchor] if place.exact else [anchor] + [n for n in anchor.descendants() if n.list_path is None]
                for parent in parents:
                    moves += self._up_trie(parent, test, axis != "parent", True, _trie_place(parent))
            return moves
        return self._everywhere(anchor, test)


# --------------------------------------------------------------------------------------
# What a predicate reads
# --------------------------------------------------------------------------------------


@dataclass
class Reads:
    """The footprint of an expression evaluated at one kind of node."""

    content: bool = False  # reads what the key skeleton does not hold
    outside: bool = False  # reads beyond the region of the node tested
    order: bool = False  # depends on document order across originators

    def absorb(self, other: Reads) -> None:
        self.content |= other.content
        self.outside |= other.outside
        self.order |= other.order


@dataclass(frozen=True)
class _Reached:
    place: Place
    home: bool  # within the region of the node the predicate tests


@dataclass
class _Value:
    type: str  # "node-set", "number", "string", "boolean"
    reached: list[_Reached] = field(default_factory=list)


def ordered_move(origin: Place, move: _Move) -> bool:
    """Whether a move depends on the order of nodes that may come from several originators:
    the following and preceding axes always, sibling axes except among the nodes inside one
    entry or deep in the Master's data."""
    if move.how == "far":
        return True
    if move.how != "side":
        return False
    return not (origin.kind == INSIDE or (origin.kind == MASTER and origin.exact and origin.depth > 1))


def _home_after(region: str, was_home: bool, move: _Move, origin: Place) -> bool:
    """Whether a node reached by ``move`` from ``origin`` is still in the region of the node the
    predicate tests (``region``: that node's kind)."""
    if not was_home or move.how == "far":
        return False
    if region in (ENTRY, INSIDE):
        return move.place.kind in (ENTRY, INSIDE) and not (move.how == "side" and origin.kind == ENTRY)
    if region == MASTER:
        return move.place.kind == MASTER
    return move.how in ("up", "self")  # a container's region is itself and its ancestors


class _PredicateReader:
    """Reads the footprint of one predicate for nodes of one kind (``region``)."""

    def __init__(self, axes: _Axes, region: str) -> None:
        self._axes = axes
        self._region = region
        self.reads = Reads()

    def test(self, predicate: ast.Expr, place: Place) -> None:
        """Read ``predicate`` as a test of a node at ``place``."""
        self._boolean(self.value(predicate, _Reached(place, True)))

    def value(self, expr: ast.Expr, context: _Reached) -> _Value:
        if isinstance(expr, ast.LocationPath):
            start = [_Reached(_root_of(context.place), False)] if expr.absolute else [context]
            return _Value("node-set", self._steps(start, expr.steps))
        if isinstance(expr, ast.PathFrom):
            base = self.value(expr.base, context)
            return _Value("node-set", self._steps(base.reached, expr.steps))
        if isinstance(expr, ast.Filtered):
            primary = self.value(expr.primary, context)
            self._filter(primary.reached, expr.predicates, positional_is_order=True)
            return _Value("node-set", primary.reached)
        if isinstance(expr, ast.Union):
            reached = [r for part in expr.parts for r in self.value(part, context).reached]
            return _Value("node-set", reached)
        if isinstance(expr, ast.Binary):
            return self._binary(expr, context)
        if isinstance(expr, ast.Negative):
            self._first_value(self.value(expr.operand, context))
            return _Value("number")
        if isinstance(expr, ast.Literal):
            return _Value("string")
        if isinstance(expr, ast.Number):
            return _Value("number")
        if isinstance(expr, ast.Variable):
            return _Value("string")  # refused before (see unsupported)
        return self._call(expr, context)

    def _steps(self, start: list[_Reached], steps: Sequence[ast.Step]) -> list[_Reached]:
        reached = start
        for step in steps:
            following = []
            for item in reached:
                for move in self._axes.step(item.place, step.axis, step.test):
                    following.append(_Reached(move.place, _home_after(self._region, item.home, move, item.place)))
                    self.reads.order |= ordered_move(item.place, move)
            following = list(dict.fromkeys(following))  # successive // steps reach the same places again
            self._filter(following, step.predicates, positional_is_order=False)
            reached = following
        return reached

    def _filter(self, reached: list[_Reached], predicates: Sequence[ast.Expr], positional_is_order: bool) -> None:
        for predicate in predicates:
            if is_positional(predicate) and _spans_originators(reached, positional_is_order):
                self.reads.order = True
            for item in reached:
                self._boolean(self.value(predicate, item))

    def _binary(self, expr: ast.Binary, context: _Reached) -> _Value:
        left, right = self.value(expr.left, context), self.value(expr.right, context)
        if expr.operator in ("or", "and"):
            self._boolean(left)
            self._boolean(right)
            return _Value("boolean")
        if expr.operator in _COMPARISONS:
            for side in (left, right):
                self._all_values(side)
            return _Value("boolean")
        for side in (left, right):
            self._first_value(side)
        return _Value("number")

    def _call(self, call: ast.Call, context: _Reached) -> _Value:
        name = call.name
        arguments = [self.value(argument, context) for argument in call.arguments]
        if name == "id":
            self.reads.content = self.reads.outside = True  # it searches the whole document
            return _Value("node-set", [_Reached(_root_of(context.place), False)])
        if not arguments and name in _CONTEXT_VALUE_FUNCTIONS:
            self._first_value(_Value("node-set", [context]))  # the tested node's own string-value
        for argument in arguments:
            if name in ("count", "boolean", "not"):
                self._boolean(argument)  # how many nodes, or whether any: their existence
            elif name in _NAME_FUNCTIONS:
                self._boolean(argument)
                self._first_node(argument)
            elif name == "sum":
                self._all_values(argument)
            else:
                self._first_value(argument)
        return _Value(_static_type(call) if name not in _BOOLEAN_FUNCTIONS else "boolean")

    # -- how a value is used --------------------------------------------------------------

    def _boolean(self, value: _Value) -> None:
        if value.type == "node-set":
            self._exists(value)

    def _exists(self, value: _Value) -> None:
        for item in value.reached:
            self._read(item, content=item.place.kind == MASTER or (item.place.kind == INSIDE
                                                                   and item.place.key_tag is None))

    def _all_values(self, value: _Value) -> None:
        for item in value.reached:
            self._read(item, content=not (item.place.kind == INSIDE and item.place.key_tag is not None))

    def _first_value(self, value: _Value) -> None:
        self._all_values(value)
        self._first_node(value)

    def _first_node(self, value: _Value) -> None:
        """String and number conversions take the first node in document order."""
        if _spans_originators(value.reached, True):
            self.reads.order = True

    def _read(self, item: _Reached, content: bool) -> None:
        self.reads.content |= content
        self.reads.outside |= not item.home


def _root_of(place: Place) -> Place:
    node = place.node
    while node.parent is not None:
        node = node.parent
    return Place(ROOT, node)


def _spans_originators(reached: Sequence[_Reached], outside_too: bool) -> bool:
    """Whether the nodes can come from several originators (so their order is the merge's)."""
    for item in reached:
        if item.place.kind in (ENTRY, SHARED, ROOT):
            return True
        if outside_too and not item.home and item.place.kind == INSIDE:
            return True
    return False


def is_positional(expr: ast.Expr) -> bool:
    """Whether a predicate tests the position of the node it filters: a number, or a use of
    ``position()`` or ``last()`` at its own level (not inside a nested path's predicates)."""
    if _static_type(expr) == "number":
        return True
    return any(_uses_position(expr))


def _uses_position(expr: ast.Expr) -> Iterator[bool]:
    if isinstance(expr, ast.Call):
        yield expr.name in ("position", "last")
        for argument in expr.arguments:
            yield from _uses_position(argument)
    elif isinstance(expr, ast.Binary):
        yield from _uses_position(expr.left)
        yield from _uses_position(expr.right)
    elif isinstance(expr, ast.Negative):
        yield from _uses_position(expr.operand)


def _static_type(expr: ast.Expr) -> str:
    if isinstance(expr, (ast.LocationPath, ast.PathFrom, ast.Filtered, ast.Union)):
        return "node-set"
    if isinstance(expr, ast.Number | ast.Negative):
        return "number"
    if isinstance(expr, ast.Literal):
        return "string"
    if isinstance(expr, ast.Binary):
        return "number" if expr.operator in _ARITHMETIC else "boolean"
    if isinstance(expr, ast.Call):
        if expr.name in _NUMBER_FUNCTIONS:
            return "number"
        return "node-set" if expr.name in _NODE_SET_FUNCTIONS else "string"
    return "unknown"


def unsupported(tree: ast.Expr) -> str | None:
    """Why an expression cannot be evaluated at all (None: it can): functions that are not
    XPath 1.0's (YANG's among them), variables, the namespace axis.  lxml finds these only
    when it evaluates the part that holds them, so a subscription would fail on every sample."""
    for node in _subexpressions(tree):
        if isinstance(node, ast.Call) and node.name in YANG_FUNCTIONS:
            return f"{node.name}() is a YANG XPath function, which this publisher does not evaluate"
        if isinstance(node, ast.Call) and node.name not in _KNOWN_FUNCTIONS:
            return f"{node.name}() is not an XPath 1.0 function"
        if isinstance(node, ast.Variable):
            return f"${node.name} is a variable, and a filter has none bound"
        if isinstance(node, ast.Step) and node.axis == "namespace":
            return "the namespace axis reads how the data is written, not the data"
    return None


def _subexpressions(tree: ast.Expr | ast.Step) -> Iterator[ast.Expr | ast.Step]:
    yield tree
    children: Sequence[ast.Expr | ast.Step] = ()
    if isinstance(tree, ast.LocationPath):
        children = tree.steps
    elif isinstance(tree, ast.Step):
        children = tree.predicates
    elif isinstance(tree, ast.PathFrom):
        children = (tree.base, *tree.steps)
    elif isinstance(tree, ast.Filtered):
        children = (tree.primary, *tree.predicates)
    elif isinstance(tree, ast.Binary):
        children = (tree.left, tree.right)
    elif isinstance(tree, ast.Negative):
        children = (tree.operand,)
    elif isinstance(tree, ast.Union):
        children = tree.parts
    elif isinstance(tree, ast.Call):
        children = tree.arguments
    for child in children:
        yield from _subexpressions(child)


# --------------------------------------------------------------------------------------
# Branches
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """What a local branch selects: the Master's data (``master``) and, per table list, the
    key formulas of the entries it can select (a None alternative: any entry)."""

    master: bool = False
    lists: tuple[tuple[ListPath, tuple[Formula, ...] | None], ...] = ()


@dataclass(frozen=True)
class Branch:
    """One ``|`` branch of a filter and how it can be served."""

    tree: ast.Expr
    verdict: str  # LOCAL, KEYED or WHOLE
    reason: str = ""  # why it is KEYED or WHOLE, for the user
    selected: Selected = Selected()  # LOCAL: what it can select
    split: tuple[int, int, bool] | None = None  # KEYED: (step, predicates, head) ending the concrete prefix


@dataclass(frozen=True)
class Reading:
    branches: tuple[Branch, ...]

    @property
    def verdict(self) -> str:
        verdicts = {branch.verdict for branch in self.branches}
        return WHOLE if WHOLE in verdicts else KEYED if KEYED in verdicts else LOCAL

    @property
    def reason(self) -> str:
        for verdict in (WHOLE, KEYED):
            for branch in self.branches:
                if branch.verdict == verdict:
                    return branch.reason
        return ""


@functools.lru_cache(maxsize=512)
def read_xpath(expression: str, namespaces: tuple[tuple[str, str], ...], shape: Shape) -> Reading:
    """How each branch of ``expression`` can be served on a table of ``shape``.

    Raises :class:`FilterUnsupported` for what cannot be evaluated at all, FilterError for what
    is not XPath."""
    tree = ast.parse(expression)
    reason = unsupported(tree)
    if reason:
        raise FilterUnsupported(f"filter: {reason}", f"{reason}; write the condition with XPath 1.0's own functions "
                                                     "on the data the filter selects")
    bound = dict(namespaces)
    root = shape_trie(shape)
    parts = tree.parts if isinstance(tree, ast.Union) else (tree,)
    return Reading(tuple(_BranchReader(bound, root, part).read() for part in parts))


class _BranchReader:
    def __init__(self, namespaces: Mapping[str, str], root: ShapeNode, tree: ast.Expr) -> None:
        self._namespaces = namespaces
        self._axes = _Axes(namespaces)
        self._root = root
        self._tree = tree
        self._concrete_items = 0  # leading items (step heads, predicates) the key skeleton answers
        self._prefix_open = True
        self._last_global = -1  # the last item that reads beyond its region
        self._items = 0
        self._whole: str | None = None
        self._global_reason = ""

    def read(self) -> Branch:
        tree = self._tree
        if isinstance(tree, ast.LocationPath):
            places = self._path(tree.steps)
            return self._verdict(places)
        # a filter expression at the top: positions over its node-set, or a function's result
        reader = _PredicateReader(self._axes, ROOT)
        reader.value(tree, _Reached(Place(ROOT, self._root), True))
        if reader.reads.order or reader.reads.outside or reader.reads.content:
            return Branch(tree, WHOLE, f"{ast.unparse(tree)} depends on the order or content of data held on "
                                       "several originators")
        return Branch(tree, LOCAL, selected=Selected(True, tuple((path, None) for path in self._root.lists_below)))

    def _path(self, steps: Sequence[ast.Step]) -> list[Place]:
        places = [Place(ROOT, self._root)]
        for step in steps:
            places = self._step(places, step)
            if self._whole:
                break
        return places

    def _item(self, concrete: bool, global_: bool, reason: str = "") -> None:
        """Account for one item of the path (a step head or a predicate)."""
        if self._prefix_open and concrete:
            self._concrete_items += 1
        else:
            self._prefix_open = False
        if global_:
            self._last_global = self._items
            self._global_reason = self._global_reason or reason
        self._items += 1

    def _step(self, places: list[Place], step: ast.Step) -> list[Place]:
        moves = [(place, move) for place in places for move in self._axes.step(place, step.axis, step.test)]
        text = ast.step_text(step)
        if any(ordered_move(origin, move) for origin, move in moves):
            self._whole = f"the {step.axis} axis in '{text}' depends on the order of data from several originators"
        exits = any(move.how == "up" and origin.kind in (ENTRY, INSIDE, MASTER, SHARED)
                    and move.place.kind in (SHARED, ROOT) for origin, move in moves)
        reached = list(dict.fromkeys(move.place for _, move in moves))
        nested = [p for p in reached if p.kind in (ENTRY, INSIDE) and len(p.node.lists_below) > 1]
        if nested:
            self._whole = "the table's lists nest inside each other's entries"
        self._item(all(p.concrete for p in reached), exits, f"'{text}' leaves the entries it started from")
        for predicate in step.predicates:
            reached = self._predicate(reached, predicate, step)
        return reached

    def _predicate(self, places: list[Place], predicate: ast.Expr, step: ast.Step) -> list[Place]:
        reads = Reads()
        for kind in {place.kind for place in places}:  # each kind of node reads from its own region
            reader = _PredicateReader(self._axes, kind)
            for place in (p for p in places if p.kind == kind):
                reader.test(predicate, place)
            if reader.reads.outside and reader.reads.content:
                self._whole = f"[{ast.unparse(predicate)}] in '{ast.step_text(step)}' reads data held beside the " \
                              "nodes it tests"
            reads.absorb(reader.reads)
        positional = is_positional(predicate) and any(p.kind in (ENTRY, SHARED, ROOT) for p in places)
        if positional or reads.order:
            self._whole = (f"[{ast.unparse(predicate)}] in '{ast.step_text(step)}' depends on the position of data "
                           "held on several originators")
        self._item(not reads.content, reads.outside,
                   f"[{ast.unparse(predicate)}] reads the entries beside the nodes it tests")
        return [self._restricted(place, predicate) for place in places]

    def _restricted(self, place: Place, predicate: ast.Expr) -> Place:
        if place.kind != ENTRY or not place.node.key_tags:
            return place
        positions = {tag: position for position, tag in enumerate(place.node.key_tags)}
        formula = key_formula(predicate, positions, self._namespaces)
        return place if isinstance(formula, Unknown) else replace(place, formulas=place.formulas + (formula,))

    def _verdict(self, places: list[Place]) -> Branch:
        tree = self._tree
        if self._whole:
            return Branch(tree, WHOLE, self._whole)
        if self._last_global < 0:
            return Branch(tree, LOCAL, selected=_selected(places))
        if self._last_global >= self._concrete_items:
            return Branch(tree, WHOLE, f"{self._global_reason}, after a part that reads content")
        return Branch(tree, KEYED, self._global_reason, split=self._split())

    def _split(self) -> tuple[int, int, bool]:
        """The end of the concrete prefix as (step, predicates of it, whether its head is in)."""
        assert isinstance(self._tree, ast.LocationPath)
        remaining = self._concrete_items
        for number, step in enumerate(self._tree.steps):
            if remaining == 0:
                return number, 0, False
            remaining -= 1
            if remaining <= len(step.predicates):
                return number, remaining, True
            remaining -= len(step.predicates)
        return len(self._tree.steps), 0, False


def _selected(places: Sequence[Place]) -> Selected:
    master = False
    lists: list[tuple[ListPath, tuple[Formula, ...] | None]] = []
    for place in places:
        if place.kind in (ROOT, SHARED):
            master = True
            lists += [(list_path, None) for list_path in place.node.lists_below]
        elif place.kind == MASTER:
            master = True
        else:
            assert place.node.list_path is not None
            lists.append((place.node.list_path, place.formulas or None))
    return Selected(master, tuple(dict.fromkeys(lists)))
