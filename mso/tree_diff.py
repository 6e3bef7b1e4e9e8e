"""Differences between two YANG instance trees, and the paths that name their nodes.

Shared by the Master (edit-config, on-change of running) and every publisher's on-change
subscriptions, so it lives in ``mso/``. Paths are XPath with prefixes,
``/if:interfaces/if:interface[if:name='eth0']/if:mtu``, leaf-list entries as ``[.='value']``,
with the prefix → namespace map they use: the error-path form of RFC 6241 §4.3 and the
key-skeleton form of the Resource-Location Table; a yang-patch encoder converts them to its
target syntax. Schema knowledge arrives as ``keys`` (list schema path → key leaves) and
``leaf_lists`` (schema paths of leaf-lists); anything else is told apart by structure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field

from lxml import etree

from mso.filters import KeyIndex
from mso.instance_path import is_yang_identifier, xpath_literal

SchemaPath = tuple[str, ...]
Identity = tuple[str | None, ...]
PrefixOf = Callable[[str], str]


def module_prefix(namespace: str) -> str:
    """The default prefix of a namespace: its last segment (``urn:...:ietf-interfaces`` →
    ``ietf-interfaces``), or ``ns`` when that segment is not a valid prefix."""
    segments = [s for s in re.split(r"[:/]", namespace) if s]
    if segments and is_yang_identifier(segments[-1]):
        return segments[-1]
    return "ns"


@dataclass(frozen=True)
class Change:
    """One difference between two datastore trees, in yang-patch vocabulary (RFC 8072).

    ``operation`` is ``create`` (a node that was absent), ``delete`` (a node now absent) or
    ``replace`` (a leaf whose value changed). ``path`` is an XPath with prefixes bound in
    ``namespaces`` (see the module docstring); ``value`` is a copy of the new node, None for delete.
    """

    operation: str
    path: str
    namespaces: Mapping[str, str]
    value: etree._Element | None
    old: etree._Element | None = field(default=None, compare=False, repr=False)  # what a delete removed


def changed_paths(
    before: etree._Element,
    after: etree._Element,
    keys: KeyIndex,
    leaf_lists: Collection[SchemaPath],
    *,
    prefix_of: PrefixOf = module_prefix,
) -> list[Change]:
    """The changes that turn ``before`` into ``after``, as fine-grained as the trees allow:
    whole nodes created or deleted, leaves replaced; list entries and containers present in both
    are descended into. Order changes are not changes (ordered-by user is not supported)."""
    differ = _Differ(SchemaShape(keys, frozenset(leaf_lists)), before, after, prefix_of)
    return list(differ.children(before, after, ()))


@dataclass(frozen=True)
class SchemaShape:
    keys: KeyIndex
    leaf_lists: frozenset[SchemaPath]

    def identity(self, node: etree._Element, path: SchemaPath) -> Identity:
        """What tells ``node`` apart from its siblings: its name plus, for a list entry, its key
        values, for a leaf-list entry its value."""
        if path in self.keys:
            return (node.tag, *(text_of(node.find(key)) for key in self.keys[path]))
        if path in self.leaf_lists:
            return (node.tag, node.text or "")
        return (node.tag,)


def text_of(leaf: etree._Element | None) -> str | None:
    return None if leaf is None else leaf.text or ""


def has_children(node: etree._Element) -> bool:
    return next(node.iterchildren(etree.Element), None) is not None


def local_name(node_or_name: etree._Element | str) -> str:
    return etree.QName(node_or_name).localname


class PathPrefixes:
    """The prefixes of one path: ``prefix_of``'s choice, numbered when two namespaces would
    otherwise share one."""

    def __init__(self, prefix_of: PrefixOf) -> None:
        self._prefix_of = prefix_of
        self._by_namespace: dict[str, str] = {}
        self.namespaces: dict[str, str] = {}

    def name(self, clark: str) -> str:
        qname = etree.QName(clark)
        if qname.namespace is None:
            return qname.localname
        prefix = self._by_namespace.get(qname.namespace)
        if prefix is None:
            prefix = base = self._prefix_of(qname.namespace)
            number = 2
            while prefix in self.namespaces:
                prefix, number = f"{base}{number}", number + 1
            self._by_namespace[qname.namespace] = prefix
            self.namespaces[prefix] = qname.namespace
        return f"{prefix}:{qname.localname}"


def instance_path(
    node: etree._Element, top: etree._Element, schema: SchemaShape, prefix_of: PrefixOf
) -> tuple[str, dict[str, str]]:
    """The path from ``top`` (exclusive) down to ``node``, with its prefix → namespace map.

    Works on a datastore tree and on an edit alike: list entries are named by the key leaves
    they hold."""
    chain = [node]
    for ancestor in node.iterancestors():
        if ancestor is top:
            break
        chain.append(ancestor)
    prefixes = PathPrefixes(prefix_of)
    steps: list[str] = []
    path: SchemaPath = ()
    for element in reversed(chain):
        path += (element.tag,)
        steps.append(
            "/" + prefixes.name(element.tag) + "".join(_predicates(element, path, schema, prefixes))
        )
    return "".join(steps), prefixes.namespaces


def entry_paths(
    data: etree._Element, keys: KeyIndex, leaf_lists: Collection[SchemaPath], *, prefix_of: PrefixOf = module_prefix
) -> list[tuple[str, dict[str, str]]]:
    """What a data tree holds, named at list-entry grain: the path of every list entry, and of
    every leaf or leaf-list entry that is in no list entry, each with its prefix map."""
    shape = SchemaShape(keys, frozenset(leaf_lists))
    found: list[tuple[str, dict[str, str]]] = []

    def walk(node: etree._Element, path: SchemaPath) -> None:
        if path in shape.keys or not has_children(node):
            found.append(instance_path(node, data, shape, prefix_of))
            return
        for child in node.iterchildren(etree.Element):
            walk(child, path + (child.tag,))

    for top in data.iterchildren(etree.Element):
        walk(top, (top.tag,))
    return found


def _predicates(
    node: etree._Element, path: SchemaPath, schema: SchemaShape, prefixes: PathPrefixes
) -> Iterator[str]:
    if path in schema.keys:
        for key in schema.keys[path]:
            leaf = node.find(key)
            if leaf is not None:
                yield f"[{prefixes.name(key)}={xpath_literal(leaf.text or '')}]"
    elif path in schema.leaf_lists:
        yield f"[.={xpath_literal(node.text or '')}]"


class _Differ:
    def __init__(
        self, schema: SchemaShape, before: etree._Element, after: etree._Element, prefix_of: PrefixOf
    ) -> None:
        self._schema = schema
        self._before = before
        self._after = after
        self._prefix_of = prefix_of

    def children(
        self, old: etree._Element, new: etree._Element, path: SchemaPath
    ) -> Iterator[Change]:
        old_children = self._by_identity(old, path)
        new_children = self._by_identity(new, path)
        for identity, gone in old_children.items():
            if identity not in new_children:
                yield self._change("delete", gone, self._before, None, gone)
        for identity, node in new_children.items():
            if identity not in old_children:
                yield self._change("create", node, self._after, copy.deepcopy(node))
            else:
                yield from self._node(old_children[identity], node, path + (node.tag,))

    def _node(self, old: etree._Element, new: etree._Element, path: SchemaPath) -> Iterator[Change]:
        if has_children(old) or has_children(new):
            yield from self.children(old, new, path)
        elif (old.text or "") != (new.text or ""):
            yield self._change("replace", new, self._after, copy.deepcopy(new))

    def _by_identity(
        self, parent: etree._Element, path: SchemaPath
    ) -> dict[tuple[str | None, ...], etree._Element]:
        return {
            self._schema.identity(c, path + (c.tag,)): c for c in parent.iterchildren(etree.Element)
        }

    def _change(
        self,
        operation: str,
        node: etree._Element,
        top: etree._Element,
        value: etree._Element | None,
        old: etree._Element | None = None,
    ) -> Change:
        path, namespaces = instance_path(node, top, self._schema, self._prefix_of)
        return Change(operation, path, namespaces, value, old)
