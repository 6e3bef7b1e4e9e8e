"""XPath 1.0 expressions as trees (https://www.w3.org/TR/xpath-10/): parsed from the tokens of
:mod:`mso.filters`, and written back as text.

The decomposer reads a filter's tree to tell which data each part of it reads, and writes
rewritten filters for the originators from trees.  Abbreviations are expanded on reading
(``//`` is ``/descendant-or-self::node()/``, ``..`` is ``parent::node()``, ``@`` the
attribute axis) and used again on writing.

Pure module: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from mso.filters import FilterError, _Token, _tokens

AXES = frozenset({"ancestor", "ancestor-or-self", "attribute", "child", "descendant", "descendant-or-self",
                  "following", "following-sibling", "namespace", "parent", "preceding", "preceding-sibling",
                  "self"})
NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})


@dataclass(frozen=True)
class NameTest:
    """``prefix:local``; ``local`` is ``*`` for a wildcard, ``prefix`` empty when there is none."""

    prefix: str
    local: str


@dataclass(frozen=True)
class TypeTest:
    """``node()``, ``text()``, ``comment()`` or ``processing-instruction('target')``."""

    kind: str
    target: str | None = None


NodeTest = NameTest | TypeTest


@dataclass(frozen=True)
class Step:
    axis: str
    test: NodeTest
    predicates: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class LocationPath:
    absolute: bool
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class PathFrom:
    """A filter expression followed by a relative location path: ``(…)[1]/x``."""

    base: Expr
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Filtered:
    """A primary expression with predicates: ``(/a | /b)[1]``."""

    primary: Expr
    predicates: tuple[Expr, ...]


@dataclass(frozen=True)
class Binary:
    operator: str  # or and = != < > <= >= + - * div mod
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Negative:
    operand: Expr


@dataclass(frozen=True)
class Union:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Literal:
    value: str


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: tuple[Expr, ...]


Expr = LocationPath | PathFrom | Filtered | Binary | Negative | Union | Literal | Number | Variable | Call

DESCENDANT_OR_SELF = Step("descendant-or-self", TypeTest("node"))
_BINARY_LEVELS = (("or",), ("and",), ("=", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "div", "mod"))


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def parse(expression: str) -> Expr:
    """The tree of an XPath 1.0 expression; FilterError when it is not one."""
    parser = _Parser(list(_tokens(expression)), expression)
    tree = parser.expression()
    if parser.position < len(parser.tokens):
        parser.fail("unexpected")
    return tree


class _Parser:
    def __init__(self, tokens: Sequence[_Token], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def fail(self, what: str) -> None:
        token = self.peek()
        where = f"{token.text!r} at {token.start}" if token is not None else "the end"
        raise FilterError(f"invalid XPath {self.text!r}: {what} {where}")

    def peek(self, ahead: int = 0) -> _Token | None:
        position = self.position + ahead
        return self.tokens[position] if position < len(self.tokens) else None

    def next_is(self, *texts: str, kind: str | None = None) -> bool:
        token = self.peek()
        return token is not None and token.text in texts and (kind is None or token.kind == kind)

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            self.fail("expected more, found")
        assert token is not None
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        if not self.next_is(text):
            self.fail(f"expected {text!r}, found")
        self.position += 1

    def expression(self) -> Expr:
        return self.binary(0)

    def binary(self, level: int) -> Expr:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.next_is(*_BINARY_LEVELS[level], kind="operator"):
            operator = self.take().text
            left = Binary(operator, left, self.binary(level + 1))
        return left

    def unary(self) -> Expr:
        if self.next_is("-", kind="operator"):
            self.take()
            return Negative(self.unary())
        return self.union()

    def union(self) -> Expr:
        parts = [self.path()]
        while self.next_is("|", kind="operator"):
            self.take()
            parts.append(self.path())
        return parts[0] if len(parts) == 1 else Union(tuple(parts))

    def path(self) -> Expr:
        if self.next_is("/", "//", kind="operator"):
            return self.absolute_path()
        if self.starts_step():
            return LocationPath(False, self.relative_steps())
        primary = self.primary()
        predicates = self.predicates()
        base: Expr = Filtered(primary, predicates) if predicates else primary
        if self.next_is("/", "//", kind="operator"):
            return PathFrom(base, self.relative_steps(after_base=True))
        return base

    def absolute_path(self) -> LocationPath:
        if self.take().text == "//":
            return LocationPath(True, (DESCENDANT_OR_SELF, *self.relative_steps()))
        return LocationPath(True, self.relative_steps() if self.starts_step() else ())

    def relative_steps(self, after_base: bool = False) -> tuple[Step, ...]:
        steps: list[Step] = []
        if after_base and self.take().text == "//":
            steps.append(DESCENDANT_OR_SELF)
        steps.append(self.step())
        while self.next_is("/", "//", kind="operator"):
            if self.take().text == "//":
                steps.append(DESCENDANT_OR_SELF)
            steps.append(self.step())
        return tuple(steps)

    def starts_step(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "punctuation":
            return token.text in ("@", ".", "..")
        if token.kind != "name":
            return False
        following = self.peek(1)
        return following is None or following.text != "(" or token.text in NODE_TYPES

    def step(self) -> Step:
        token = self.take()
        if token.text == ".":
            return Step("self", TypeTest("node"))
        if token.text == "..":
            return Step("parent", TypeTest("node"))
        axis = "child"
        if token.text == "@":
            axis, token = "attribute", self.take()
        elif self.next_is("::"):
            if token.text not in AXES:
                self.fail(f"unknown axis {token.text!r} before")
            self.take()
            axis, token = token.text, self.take()
        return Step(axis, self.node_test(token), self.predicates())

    def node_test(self, token: _Token) -> NodeTest:
        if token.kind != "name":
            self.position -= 1
            self.fail("expected a node test, found")
        if token.text in NODE_TYPES and self.next_is("("):
            self.take()
            target = None
            if token.text == "processing-instruction" and self.peek() is not None and self.peek().kind == "literal":
                target = self.take().text[1:-1]
            self.expect(")")
            return TypeTest(token.text, target)
        prefix, _, local = token.text.rpartition(":")
        return NameTest(prefix, local)

    def predicates(self) -> tuple[Expr, ...]:
        found = []
        while self.next_is("["):
            self.take()
            found.append(self.expression())
            self.expect("]")
        return tuple(found)

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "variable":
            return Variable(token.text[1:])
        if token.kind == "literal":
            return Literal(token.text[1:-1])
        if token.kind == "number":
            return Number(float(token.text))
        if token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind == "name" and self.next_is("("):
            self.take()
            arguments: list[Expr] = []
            if not self.next_is(")"):
                arguments.append(self.expression())
                while self.next_is(","):
                    self.take()
                    arguments.append(self.expression())
            self.expect(")")
            return Call(token.text, tuple(arguments))
        self.position -= 1
        self.fail("unexpected")
        raise AssertionError  # fail() raised


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def unparse(tree: Expr) -> str:
    """XPath text for ``tree`` (abbreviated where XPath allows)."""
    if isinstance(tree, LocationPath):
        return _path_text(tree.steps, "/" if tree.absolute else "")
    if isinstance(tree, PathFrom):
        return _path_text(tree.steps, _primary(tree.base) + "/")
    if isinstance(tree, Filtered):
        return _primary(tree.primary) + "".join(f"[{unparse(p)}]" for p in tree.predicates)
    if isinstance(tree, Binary):
        return f"{_operand(tree.left)} {tree.operator} {_operand(tree.right)}"
    if isinstance(tree, Negative):
        return f"-{_operand(tree.operand)}"
    if isinstance(tree, Union):
        return " | ".join(_operand(part) for part in tree.parts)
    if isinstance(tree, Literal):
        return literal(tree.value)
    if isinstance(tree, Number):
        return str(int(tree.value)) if tree.value.is_integer() else repr(tree.value)
    if isinstance(tree, Variable):
        return f"${tree.name}"
    return f"{tree.name}({', '.join(unparse(argument) for argument in tree.arguments)})"


def literal(value: str) -> str:
    """An XPath string literal for ``value`` (``concat`` when it holds both quote characters)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in value.split("'")) + ")"


def _operand(tree: Expr) -> str:
    """``tree`` as an operand: parenthesised unless it is a path, call or constant."""
    text = unparse(tree)
    if isinstance(tree, (Binary, Negative, Union, Filtered, PathFrom)):
        return f"({text})"
    return text


def _primary(tree: Expr) -> str:
    """``tree`` before predicates or a path: parenthesised unless it is a call or constant
    (``(/a/b)[1]`` is not ``/a/b[1]``)."""
    text = unparse(tree)
    return text if isinstance(tree, (Call, Literal, Number, Variable)) else f"({text})"


def _path_text(steps: Sequence[Step], start: str) -> str:
    if not steps:
        return start or "."
    parts = []
    for position, step in enumerate(steps):
        inner = 0 < position < len(steps) - 1 or (position == 0 and start and len(steps) > 1)
        if step == DESCENDANT_OR_SELF and inner:
            parts.append("")  # joined as //
        else:
            parts.append(step_text(step))
    text = "/".join(parts)
    if start == "/" and text.startswith("/"):
        return "/" + text  # a leading // from the absolute root
    return start + text


def step_text(step: Step) -> str:
    test = step.test
    if not step.predicates and test == TypeTest("node"):
        if step.axis == "self":
            return "."
        if step.axis == "parent":
            return ".."
    axis = {"child": "", "attribute": "@"}.get(step.axis, f"{step.axis}::")
    return axis + _test_text(test) + "".join(f"[{unparse(p)}]" for p in step.predicates)


def _test_text(test: NodeTest) -> str:
    if isinstance(test, NameTest):
        return f"{test.prefix}:{test.local}" if test.prefix else test.local
    if test.target is not None:
        return f"{test.kind}({literal(test.target)})"
    return f"{test.kind}()"
