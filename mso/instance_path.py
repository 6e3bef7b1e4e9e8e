"""Instance paths as text, read and written in one place.

Two spellings name one data node:

- the XPath form with prefixes, ``/if:interfaces/if:interface[if:name='2/0/7']/if:mtu``, with
  leaf-list entries as ``[.='value']``: RFC 6241 error-paths, ``netconf-config-change`` targets,
  the Resource-Location Table and the Master's own bookkeeping;
- the RFC 8040 §3.5.3 form, ``/ietf-interfaces:interfaces/interface=2%2F0%2F7/mtu``: yang-patch
  edit targets in ``push-change-update``.

Parsing is strict: anything that is not a plain instance path (a function, an axis, a
predicate other than ``key = literal``) is an ``InstancePathError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

_KEY_SAFE = "!$&'()*+;:@"  # RFC 8040 §3.5.3: key values are percent-encoded, "," and "/" included
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_REST = _NAME_START | frozenset("0123456789.-")


class InstancePathError(ValueError):
    """Text that is not an instance path of the expected form."""


@dataclass(frozen=True)
class Step:
    """One step of an XPath instance path: ``prefix:name[key='value']...``."""

    prefix: str  # "" when the step has none
    name: str
    predicates: tuple[tuple[str, str], ...] = ()  # (key as written, "if:name" or ".", value)

    @property
    def qualified(self) -> str:
        return f"{self.prefix}:{self.name}" if self.prefix else self.name


@dataclass(frozen=True)
class TargetStep:
    """One step of an RFC 8040 data resource identifier: ``module:name=key1,key2``."""

    module: str | None  # None: the same module as the step above
    name: str
    keys: tuple[str, ...] = ()


def path_steps(path: str) -> list[str]:
    """The steps of an absolute path, split on the '/' outside quotes and [predicates]."""
    steps, current, quote_char, depth = [], [], "", 0
    for char in path.strip().removeprefix("/"):
        if quote_char:
            quote_char = "" if char == quote_char else quote_char
        elif char in "'\"":
            quote_char = char
        elif char in "[]":
            depth += 1 if char == "[" else -1
        elif char == "/" and depth == 0:
            steps.append("".join(current))
            current = []
            continue
        current.append(char)
    steps.append("".join(current))
    return [step for step in steps if step]


def parse_instance_path(path: str) -> list[Step]:
    """``/p:a/p:b[p:k='v']`` -> its steps; InstancePathError when it is not such a path."""
    text = path.strip()
    if not text.startswith("/") or text.startswith("//"):
        raise InstancePathError(f"{path!r} is not an absolute instance path")
    steps = [_Reader(raw, path).step() for raw in path_steps(text)]
    if not steps:
        raise InstancePathError(f"{path!r} names no node")
    return steps


def xpath_literal(value: str) -> str:
    """An XPath 1.0 string literal for ``value``, which may hold either kind of quote."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in value.split("'")) + ")"


def restconf_target(path: str, namespaces: Mapping[str, str], module_of: Mapping[str, str]) -> str:
    """``/if:interfaces/if:interface[if:name='1/0/1']/if:mtu`` -> ``/ietf-interfaces:interfaces/interface=1%2F0%2F1/mtu``:
    a step names its module where it differs from the step above (RFC 8040 §3.5.3)."""
    out: list[str] = []
    current_module = None
    for step in parse_instance_path(path):
        module = module_of.get(namespaces.get(step.prefix, ""), step.prefix)
        name = step.name if module == current_module else f"{module}:{step.name}"
        current_module = module
        if step.predicates:
            name += "=" + ",".join(quote(value, safe=_KEY_SAFE) for _, value in step.predicates)
        out.append(name)
    return "/" + "/".join(out)


def parse_restconf_target(target: str) -> list[TargetStep]:
    """``/ietf-interfaces:interfaces/interface=1%2F0%2F1/mtu`` -> its steps."""
    text = target.strip()
    if not text.startswith("/"):
        raise InstancePathError(f"{target!r} is not an absolute data resource identifier")
    steps = []
    for raw in text[1:].split("/"):
        head, has_keys, keys = raw.partition("=")
        module, _, name = head.rpartition(":")
        if not is_yang_identifier(name) or (module and not is_yang_identifier(module)):
            raise InstancePathError(f"{target!r}: {raw!r} is not a step")
        values = tuple(unquote(value) for value in keys.split(",")) if has_keys else ()
        steps.append(TargetStep(module or None, name, values))
    return steps


def is_yang_identifier(text: str) -> bool:
    """RFC 7950 §6.2: a letter or underscore, then letters, digits, ``_``, ``-`` and ``.``."""
    return bool(text) and text[0] in _NAME_START and all(char in _NAME_REST for char in text)


class _Reader:
    """Reads one step, ``prefix:name`` followed by ``[key = literal]`` predicates."""

    def __init__(self, text: str, path: str) -> None:
        self._text = text
        self._at = 0
        self._path = path

    def step(self) -> Step:
        prefix, name = self._qualified_name()
        predicates = []
        while self._at < len(self._text):
            predicates.append(self._predicate())
        return Step(prefix, name, tuple(predicates))

    def _fail(self, what: str) -> InstancePathError:
        return InstancePathError(f"{self._path!r}: {what} in step {self._text!r}")

    def _qualified_name(self) -> tuple[str, str]:
        first = self._name()
        if self._peek() == ":":
            self._at += 1
            return first, self._name()
        return "", first

    def _name(self) -> str:
        start = self._at
        if self._peek() not in _NAME_START:
            raise self._fail("a name expected")
        while self._peek() in _NAME_REST:
            self._at += 1
        return self._text[start:self._at]

    def _peek(self) -> str:
        return self._text[self._at] if self._at < len(self._text) else ""

    def _skip_space(self) -> None:
        while self._peek().isspace():
            self._at += 1

    def _expect(self, char: str) -> None:
        self._skip_space()
        if self._peek() != char:
            raise self._fail(f"{char!r} expected")
        self._at += 1

    def _predicate(self) -> tuple[str, str]:
        self._expect("[")
        self._skip_space()
        if self._peek() == ".":
            self._at += 1
            key = "."
        else:
            prefix, name = self._qualified_name()
            key = f"{prefix}:{name}" if prefix else name
        self._expect("=")
        value = self._value()
        self._expect("]")
        return key, value

    def _value(self) -> str:
        self._skip_space()
        if self._text.startswith("concat(", self._at):
            self._at += len("concat(")
            parts = [self._literal()]
            while True:
                self._skip_space()
                if self._peek() == ")":
                    self._at += 1
                    return "".join(parts)
                self._expect(",")
                parts.append(self._literal())
        return self._literal()

    def _literal(self) -> str:
        self._skip_space()
        quote_char = self._peek()
        if quote_char not in ("'", '"'):
            raise self._fail("a quoted value expected")
        end = self._text.find(quote_char, self._at + 1)
        if end < 0:
            raise self._fail("an unterminated literal")
        value = self._text[self._at + 1:end]
        self._at = end + 1
        return value
