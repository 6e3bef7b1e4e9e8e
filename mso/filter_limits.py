"""What a filter may cost, judged from its text before it is compiled.

An XPath filter's cost is the data size times the cost of each predicate it runs on every
node. A predicate that starts again from the root (``//*[//*]``) or walks the ``following``
or ``preceding`` axes scans the whole data for each node tested, so each such nesting
multiplies the cost by the node count: ``//*[//*[//*[1]]]`` takes seconds on a device's
data and 200 levels never return. Such a filter is *costly*: the Master runs it for a read
only in a child process with a time budget, and refuses it for a subscription, which would
run it on every sample (RFC 8639 ``filter-unsupported``: "too complex to be processed by
the publisher"). Everything else is linear in the data; the size limits keep the factor small.

A subtree filter (RFC 6241 §6) is matched level by level against the data, so its cost is
bounded by its size and depth, which are checked here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from mso.filters import (
    FilterError,
    _opens_operand,
    _Token,
    _tokens,
    compile_xpath,
    require_prefixed_names,
    subtree_filter,
)

_SCANNING_AXES = frozenset({"following", "preceding"})
_DESCENDANT_AXES = frozenset({"descendant", "descendant-or-self"})


@dataclass(frozen=True)
class FilterLimits:
    max_xpath_length: int = 4096  # characters
    max_xpath_nesting: int = 16  # brackets and parentheses open at once
    max_descendant_searches: int = 16  # "//" and descendant axes in one expression
    max_subtree_nodes: int = 10_000  # elements of a subtree filter
    max_subtree_depth: int = 32


LIMITS = FilterLimits()


class FilterTooLarge(FilterError):
    """A filter past the size or nesting limits: refused whatever the data."""

    def __init__(self, error_message: str) -> None:
        super().__init__(error_message, "too-big")


@dataclass(frozen=True)
class XPathCost:
    costly: bool
    reason: str = ""  # why it is costly, said to the user

    @property
    def hint(self) -> str:
        """What to write instead (a subscription's ``filter-failure-hint``)."""
        return (f"{self.reason}; inside a predicate, write paths relative to the node tested "
                "(./x, ../x, .//x) rather than from the root, or filter on the collector")


def xpath_cost(expression: str, limits: FilterLimits = LIMITS) -> XPathCost:
    """Judge ``expression``; raise ``FilterTooLarge`` past the limits whatever its shape."""
    if len(expression) > limits.max_xpath_length:
        raise FilterTooLarge(f"the XPath filter is {len(expression)} characters long; "
                             f"at most {limits.max_xpath_length} are accepted")
    tokens = list(_tokens(expression))
    open_brackets: list[str] = []
    searches = 0
    for position, token in enumerate(tokens):
        previous = tokens[position - 1] if position else None
        if token.text in {"[", "("}:
            open_brackets.append(token.text)
            if len(open_brackets) > limits.max_xpath_nesting:
                raise FilterTooLarge(f"the XPath filter nests brackets more than {limits.max_xpath_nesting} deep")
        elif token.text in {"]", ")"}:
            if open_brackets:
                open_brackets.pop()
        predicates = open_brackets.count("[")
        searching = _is_descendant_search(token, tokens, position)
        searches += searching
        if predicates and _scans_everything(token, previous, tokens, position):
            return XPathCost(True, f"a predicate in {expression!r} scans the whole data for every node it tests")
        if searching and predicates >= 2:
            return XPathCost(True, f"{expression!r} searches descendants inside a nested predicate")
    if searches > limits.max_descendant_searches:
        return XPathCost(True, f"{expression!r} searches descendants {searches} times "
                               f"(more than {limits.max_descendant_searches})")
    return XPathCost(False)


def _following(tokens: list[_Token], position: int) -> _Token | None:
    return tokens[position + 1] if position + 1 < len(tokens) else None


def _is_descendant_search(token: _Token, tokens: list[_Token], position: int) -> bool:
    if token.text == "//":
        return True
    following = _following(tokens, position)
    return token.kind == "name" and token.text in _DESCENDANT_AXES and following is not None and following.text == "::"


def _scans_everything(token: _Token, previous: _Token | None, tokens: list[_Token], position: int) -> bool:
    """An absolute location path (a ``/`` where an operand starts) or a following/preceding axis."""
    if token.text in {"/", "//"}:
        return _opens_operand(previous)
    following = _following(tokens, position)
    return token.kind == "name" and token.text in _SCANNING_AXES and following is not None and following.text == "::"


def check_subtree(nodes: Iterable[etree._Element], limits: FilterLimits = LIMITS) -> None:
    """Raise ``FilterTooLarge`` for a subtree filter past the size or depth limits."""
    count = 0
    for top in nodes:
        for node in top.iter(etree.Element):
            count += 1
            if count > limits.max_subtree_nodes:
                raise FilterTooLarge(f"the subtree filter holds more than {limits.max_subtree_nodes} elements")
        if _depth(top) > limits.max_subtree_depth:
            raise FilterTooLarge(f"the subtree filter nests more than {limits.max_subtree_depth} levels")


def _depth(top: etree._Element) -> int:
    deepest, level = 0, 0
    for event, _ in etree.iterwalk(top, events=("start", "end")):
        level += 1 if event == "start" else -1
        deepest = max(deepest, level)
    return deepest


def check_subscription_xpath(expression: str, namespaces: Mapping[str, str]) -> None:
    """Everything an XPath filter must pass to be run on every sample of a subscription or job;
    the ``FilterError`` raised says what to write instead."""
    require_prefixed_names(expression)
    cost = xpath_cost(expression)
    if cost.costly:
        raise FilterError(cost.hint)
    compile_xpath(expression, namespaces)


def check_subscription_subtree(nodes: Sequence[etree._Element]) -> None:
    """The same for a subtree filter: within the limits, and one the filter code accepts."""
    check_subtree(nodes)
    subtree_filter(etree.Element("data"), nodes, {})
