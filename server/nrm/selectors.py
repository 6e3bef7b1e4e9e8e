"""What a dataSelector selects, read for its structure, so that the Master can tell whether one
collection's selector contains a request's and how to widen one to cover another (TS 23.288
§5A.2: "the requested data is already being collected" or "a prior subscription ... may be
modified to in addition satisfy" the new request). Pure: no I/O, no data.

Recognised is an absolute path of child steps with prefixed names, each step with predicates
that compare one of its child leaves to string literals: ``[p:leaf='v']``, several values of
one leaf joined by ``or`` (``[p:name='a' or p:name='b']``), several leaves joined by ``and`` or
written as several predicates. A step's predicates are read as a set of allowed values per
leaf. Then:

- selector A *contains* B when A's steps are a prefix of B's (same names, in namespaces, not
  prefixes), and on each of those steps every leaf A constrains B constrains to a subset of A's
  values (A may constrain fewer leaves); a selector that is absent (everything) contains all;
- the *union* of A and B is A when A contains B (and B when B contains A), or, when they have
  the same steps and differ only in the values one leaf may take on one step, that selector
  with the values joined.

Anything else (functions, other operators, numbers, wildcards, other axes) is opaque: it
contains only an equal selector (same text, same namespaces) and has no union with another.
The answers are never wrong, only sometimes "no" where a cleverer reading would say "yes".

A consumer attached to a collection wider than its request gets the request's share of each
record, cut by a bus worker (``collector.bus_selection``). A selector is *cuttable* when that
cut is exact on the records of any collection that contains it: it is recognised, and each
test is one the records can answer, on a list key (every entry in a record carries its keys)
or on a leaf of the last step's nodes (selected whole), against a literal without a colon (an
identity's value is ``prefix:name`` in the XPath and ``module:name`` in RFC 7951 JSON, and the
cut does not know which leaves are identities). A selector that is not cuttable is served only
by a collection of exactly its own selector (``same``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mso.bus_instructions import DataSelection, SelectionStep, SelectionTest
from mso.filters import FilterError, KeyIndex
from mso.instance_path import xpath_literal
from mso.namespaces import qn
from mso.subscription_model import FilterSpec
from server.xpath_ast import Binary, Expr, Literal, LocationPath, NameTest, parse

Name = tuple[str, str]  # (namespace, local name)


@dataclass(frozen=True)
class Step:
    name: Name
    allowed: tuple[tuple[Name, frozenset[str]], ...] = ()  # per constrained leaf, sorted by leaf

    @property
    def constraints(self) -> dict[Name, frozenset[str]]:
        return dict(self.allowed)


@dataclass(frozen=True)
class Selector:
    """A dataSelector as the Master compares it: ``spec`` None selects everything; ``steps``
    None is an opaque selector."""

    spec: FilterSpec | None
    steps: tuple[Step, ...] | None

    @property
    def everything(self) -> bool:
        return self.spec is None


EVERYTHING = Selector(None, None)


def read(spec: FilterSpec | None) -> Selector:
    if spec is None:
        return EVERYTHING
    return Selector(spec, _steps(spec))


def contains(outer: Selector, inner: Selector) -> bool:
    if outer.everything:
        return True
    if inner.everything:
        return False
    if outer.steps is None or inner.steps is None:
        return outer.spec == inner.spec
    if len(outer.steps) > len(inner.steps):
        return False
    return all(_step_contains(a, b) for a, b in zip(outer.steps, inner.steps))


def union(first: Selector, second: Selector) -> Selector | None:
    """One selector that selects what both do and nothing else, or None when there is none
    this reading can write."""
    if contains(first, second):
        return first
    if contains(second, first):
        return second
    if first.steps is None or second.steps is None or len(first.steps) != len(second.steps):
        return None
    differing = [i for i, (a, b) in enumerate(zip(first.steps, second.steps)) if a != b]
    if len(differing) != 1 or first.steps[differing[0]].name != second.steps[differing[0]].name:
        return None
    index = differing[0]
    a, b = first.steps[index].constraints, second.steps[index].constraints
    leaves = [leaf for leaf in a.keys() | b.keys() if a.get(leaf) != b.get(leaf)]
    if len(leaves) != 1 or a.keys() != b.keys():
        return None
    (leaf,) = leaves
    joined = Step(first.steps[index].name, _sorted_allowed({**a, leaf: a[leaf] | b[leaf]}))
    steps = first.steps[:index] + (joined,) + first.steps[index + 1:]
    return Selector(_written(steps, [first.spec, second.spec]), steps)


def union_all(selectors: Iterable[Selector]) -> Selector | None:
    """The union of several (None when two of them have none); at least one is needed."""
    result: Selector | None = None
    for selector in selectors:
        result = selector if result is None else union(result, selector)
        if result is None:
            return None
    return result


def same(first: Selector, second: Selector) -> bool:
    """Whether both select the same: equal text and namespaces, or the same steps."""
    return first.spec == second.spec or (first.steps is not None and first.steps == second.steps)


def cuttable(selector: Selector, keys: KeyIndex) -> bool:
    """Whether a worker can cut exactly ``selector``'s share from the records of a collection
    that contains it (``keys``: the schema's list keys, by Clark names)."""
    if selector.steps is None:
        return False
    last = len(selector.steps) - 1
    path: tuple[str, ...] = ()
    for index, step in enumerate(selector.steps):
        path = (*path, qn(*step.name))
        for leaf, values in step.allowed:
            if any(":" in value for value in values):
                return False
            if index < last and qn(*leaf) not in keys.get(path, ()):
                return False
    return True


def selection(selector: Selector) -> DataSelection:
    """What a bus worker cuts records by for ``selector`` (recognised; see ``cuttable``)."""
    if selector.spec is None or selector.steps is None:
        raise ValueError("only a recognised dataSelector has steps to cut by")
    return DataSelection(selector.spec.xpath, tuple(
        SelectionStep(*step.name, tuple(SelectionTest(*leaf, values) for leaf, values in step.allowed))
        for step in selector.steps))


# --- reading -----------------------------------------------------------------------------------

def _steps(spec: FilterSpec) -> tuple[Step, ...] | None:
    if spec.kind != "xpath":
        return None
    try:
        tree = parse(spec.xpath)
    except FilterError:
        return None
    if not isinstance(tree, LocationPath) or not tree.absolute or not tree.steps:
        return None
    namespaces = dict(spec.namespaces)
    steps = []
    for step in tree.steps:
        name = _child_name(step, namespaces)
        if name is None:
            return None
        allowed: dict[Name, frozenset[str]] = {}
        for predicate in step.predicates:
            constraints = _constraints(predicate, namespaces)
            if constraints is None:
                return None
            for leaf, values in constraints.items():
                allowed[leaf] = allowed[leaf] & values if leaf in allowed else values
        steps.append(Step(name, _sorted_allowed(allowed)))
    return tuple(steps)


def _child_name(step, namespaces: Mapping[str, str]) -> Name | None:
    test = step.test
    if step.axis != "child" or not isinstance(test, NameTest) or not test.prefix or test.local == "*":
        return None
    namespace = namespaces.get(test.prefix)
    return None if namespace is None else (namespace, test.local)


def _constraints(predicate: Expr, namespaces: Mapping[str, str]) -> dict[Name, frozenset[str]] | None:
    """A predicate as allowed values per leaf, or None when it is not of the recognised form."""
    if isinstance(predicate, Binary) and predicate.operator == "and":
        left, right = _constraints(predicate.left, namespaces), _constraints(predicate.right, namespaces)
        if left is None or right is None:
            return None
        return {leaf: left[leaf] & right[leaf] if leaf in left and leaf in right else left.get(leaf, right.get(leaf))
                for leaf in left.keys() | right.keys()}
    alternatives = _alternatives(predicate, namespaces)
    if alternatives is None:
        return None
    leaf, values = alternatives
    return {leaf: values}


def _alternatives(predicate: Expr, namespaces: Mapping[str, str]) -> tuple[Name, frozenset[str]] | None:
    """``p:leaf='a' or p:leaf='b'`` -> (leaf, {a, b}); None for anything else."""
    if isinstance(predicate, Binary) and predicate.operator == "or":
        left, right = _alternatives(predicate.left, namespaces), _alternatives(predicate.right, namespaces)
        if left is None or right is None or left[0] != right[0]:
            return None
        return left[0], left[1] | right[1]
    if not isinstance(predicate, Binary) or predicate.operator != "=":
        return None
    sides = (predicate.left, predicate.right)
    literal = next((side for side in sides if isinstance(side, Literal)), None)
    path = next((side for side in sides if isinstance(side, LocationPath)), None)
    if literal is None or path is None or path.absolute or len(path.steps) != 1 or path.steps[0].predicates:
        return None
    leaf = _child_name(path.steps[0], namespaces)
    return None if leaf is None else (leaf, frozenset({literal.value}))


def _step_contains(outer: Step, inner: Step) -> bool:
    if outer.name != inner.name:
        return False
    narrower = inner.constraints
    return all(leaf in narrower and narrower[leaf] <= values for leaf, values in outer.allowed)


def _sorted_allowed(allowed: Mapping[Name, frozenset[str]]) -> tuple[tuple[Name, frozenset[str]], ...]:
    return tuple(sorted(allowed.items()))


# --- writing -------------------------------------------------------------------------------------

def _written(steps: tuple[Step, ...], specs: Iterable[FilterSpec | None]) -> FilterSpec:
    """The XPath text of ``steps``, with the prefixes the specs they came from bind."""
    prefixes: dict[str, str] = {}  # namespace -> prefix
    for spec in specs:
        for prefix, namespace in spec.namespaces if spec is not None else ():
            if namespace not in prefixes and prefix not in prefixes.values():
                prefixes[namespace] = prefix

    def qualified(name: Name) -> str:
        return f"{prefixes[name[0]]}:{name[1]}"

    text = ""
    for step in steps:
        text += "/" + qualified(step.name)
        for leaf, values in step.allowed:
            text += "[" + " or ".join(f"{qualified(leaf)}={xpath_literal(value)}" for value in sorted(values)) + "]"
    used = {name[0] for step in steps for name in (step.name, *(leaf for leaf, _ in step.allowed))}
    return FilterSpec("xpath", xpath=text, namespaces=tuple(sorted((prefixes[n], n) for n in used)))
