"""YANG instance data and notification events as RFC 7951 JSON (and RFC 9254 CBOR), and back.

Internally every tree is lxml; this module maps it to the JSON value tree the wire carries.
`YangJson` walks the libyang schema once, at construction, into a tree of `_Node`s whose
children are keyed by Clark name (and, for decoding, by JSON member name), each leaf carrying
its resolved type; encoding then touches no libyang at all, only dict look-ups.

RFC 7951 rules applied: member names are `module:name` at the top level and wherever the
namespace differs from the parent's, bare otherwise; lists and leaf-lists are arrays; int8..
uint32 are numbers, int64/uint64/decimal64 strings; boolean true/false; empty `[null]`;
identityref `module:identity`; instance-identifier with module names instead of prefixes;
a union member is chosen by the value. anydata/anyxml content (yang-push `datastore-contents`,
yang-patch `value`, subtree filters) holds top-level data nodes of any module.

CBOR (RFC 9254, names as keys) uses the same tree with its own scalar forms: int64/uint64 are
integers, decimal64 a decimal fraction (tag 4, from `decimal.Decimal`), empty is null and binary
a byte string.

A value that does not fit its type (say the empty selection node `<mtu/>` of a subtree filter)
is carried as the JSON string of its text, never dropped; an element or member the schema does
not know raises `YangJsonError`, because RFC 7951 cannot name or type it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import libyang
from libyang.util import c2str
from lxml import etree

from mso.schema import Schema
from mso.instance_path import path_steps

_CONTAINER, _LIST, _LEAF, _LEAFLIST, _ANYDATA, _NOTIFICATION = range(6)
_SCHEMA_KINDS = {
    libyang.SNode.CONTAINER: _CONTAINER,
    libyang.SNode.LIST: _LIST,
    libyang.SNode.LEAF: _LEAF,
    libyang.SNode.LEAFLIST: _LEAFLIST,
    libyang.SNode.ANYDATA: _ANYDATA,
    libyang.SNode.ANYXML: _ANYDATA,
    libyang.SNode.NOTIF: _NOTIFICATION,
}
_MULTIPLE = (_LIST, _LEAFLIST)
_T = libyang.Type
_INTEGER_BOUNDS = {
    _T.INT8: (-(2**7), 2**7 - 1),
    _T.INT16: (-(2**15), 2**15 - 1),
    _T.INT32: (-(2**31), 2**31 - 1),
    _T.UINT8: (0, 2**8 - 1),
    _T.UINT16: (0, 2**16 - 1),
    _T.UINT32: (0, 2**32 - 1),
    _T.INT64: (-(2**63), 2**63 - 1),
    _T.UINT64: (0, 2**64 - 1),
}
_WIDE_INTEGERS = (_T.INT64, _T.UINT64)
_STEP_KEYS = re.compile(r"=.*|\[.*")  # RFC 8040 key values or XPath predicates after a step
_DECIMAL64 = re.compile(r"[+-]?\d+(\.\d+)?")
# Names in an instance-identifier, skipping quoted key values: group 1 prefix/module, 2 name.
_PATH_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|(\[)|(\])|(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")


class YangJsonError(ValueError):
    """The tree does not fit the schema: an unknown node, or the wrong JSON shape for a node."""


@dataclass(frozen=True, slots=True)
class _Type:
    """A leaf's type with typedefs and leafrefs resolved to what the encoding depends on."""

    base: int  # libyang.Type.* (never LEAFREF)
    names: frozenset[str] = frozenset()  # enum names, bit names
    members: tuple[_Type, ...] = ()  # union member types, in order


@dataclass(eq=False, slots=True)
class _Node:
    kind: int
    local: str
    qualified: str  # "module:name"
    namespace: str
    type: _Type | None = None
    children: dict[str, _Node] = field(default_factory=dict)  # Clark name -> child
    members: dict[str, _Node] = field(default_factory=dict)  # JSON member name -> child
    patch_target: str | None = None  # a yang-patch `value`: its sibling `target` leaf (Clark)


def _compile_type(ly_type: libyang.Type) -> _Type:
    base = ly_type.base()
    if base == _T.LEAFREF:
        return _compile_type(ly_type.leafref_type())
    if base == _T.UNION:
        return _Type(base, members=tuple(_compile_type(m) for m in ly_type.union_types()))
    if base == _T.ENUM:
        return _Type(base, frozenset(e.name() for e in ly_type.enums()))
    if base == _T.BITS:
        return _Type(base, frozenset(b.name() for b in ly_type.bits()))
    return _Type(base)


def _build_node(snode: libyang.SNode) -> _Node:
    module = snode.module()
    kind = _SCHEMA_KINDS[snode.nodetype()]
    node = _Node(kind, snode.name(), f"{module.name()}:{snode.name()}", _namespace(snode))
    if kind in (_LEAF, _LEAFLIST):
        node.type = _compile_type(snode.type())
    elif kind != _ANYDATA:
        _index_children(node, (_build_node(child) for child in snode.children(types=tuple(_SCHEMA_KINDS))))
    return node


def _namespace(snode: libyang.SNode) -> str:
    return c2str(snode.cdata.module.ns)


def _index_children(parent: _Node, children: Iterable[_Node]) -> None:
    for child in children:
        parent.children[f"{{{child.namespace}}}{child.local}"] = child
        parent.members[child.qualified] = child
        if child.namespace == parent.namespace:
            parent.members[child.local] = child
    value, target = parent.members.get("value"), parent.members.get("target")
    if value and target and value.kind == _ANYDATA and target.kind == _LEAF:
        value.patch_target = f"{{{target.namespace}}}{target.local}"


class YangJson:
    """Schema-aware conversion between lxml trees and RFC 7951 JSON / RFC 9254 CBOR values."""

    def __init__(self, schema: Schema) -> None:
        ctx = schema.ctx
        self._module_namespace = {m.name: m.namespace for m in schema.modules}
        self._namespace_module = {m.namespace: m.name for m in schema.modules}
        self._module_prefix = {m.name: m.prefix for m in schema.modules}
        self._prefix_module = {m.prefix: m.name for m in schema.modules if m.implemented}
        self._data = _Node(_ANYDATA, "", "", "")  # the top level: every module's data nodes
        self._events = _Node(_ANYDATA, "", "", "")  # every module's top-level notifications
        for module in ctx:
            if not module.implemented():
                continue
            nodes = [_build_node(s) for s in module.children(types=tuple(_SCHEMA_KINDS))]
            _index_children(self._data, (n for n in nodes if n.kind != _NOTIFICATION))
            _index_children(self._events, (n for n in nodes if n.kind == _NOTIFICATION))
        self._json = _Dialect(self, cbor=False)
        self._cbor = _Dialect(self, cbor=True)

    # ---- XML -> JSON / CBOR ------------------------------------------------------------------

    def data_to_json(self, nodes: Iterable[etree._Element]) -> dict:
        """Top-level data nodes -> {"ietf-interfaces:interfaces": {...}, ...}."""
        return self._encode_children(nodes, self._data, "", self._json)

    def event_to_json(self, event: etree._Element) -> dict:
        """A notification's event element -> {"ietf-yang-push:push-update": {...}}."""
        return self._encode_children((event,), self._events, "", self._json)

    def event_to_cbor(self, event: etree._Element) -> dict:
        """Like event_to_json, with RFC 9254 scalars: the value tree cbor2 serializes."""
        return self._encode_children((event,), self._events, "", self._cbor)

    def _encode_children(
        self, elements: Iterable[etree._Element], parent: _Node, namespace: str, dialect: _Dialect
    ) -> dict:
        """The JSON object of `elements`, children of `parent` in the schema; a child's name is
        qualified when its namespace is not `namespace` (the empty string: always)."""
        out: dict[str, Any] = {}
        children = parent.children
        for element in elements:
            tag = element.tag
            if tag.__class__ is not str:
                continue  # comments and processing instructions
            node = children.get(tag)
            if node is None:
                raise YangJsonError(f"no schema node {tag} under {parent.qualified or 'the top level'}")
            name = node.local if node.namespace == namespace else node.qualified
            kind = node.kind
            if kind == _LEAF or kind == _LEAFLIST:
                value = dialect.encode(node.type, element.text or "", element)
            elif kind == _ANYDATA:
                value = self._encode_children(element, self._anydata_scope(node, element), "", dialect)
            else:
                value = self._encode_children(element, node, node.namespace, dialect)
            if kind in _MULTIPLE:
                entries = out.get(name)
                if entries is None:
                    out[name] = [value]
                else:
                    entries.append(value)
            else:
                out[name] = value
        return out

    def _anydata_scope(self, node: _Node, element: etree._Element) -> _Node:
        """Where the schema nodes of an anydata's content are found.

        A yang-patch `value` holds the target resource (RFC 8072 §2.5: Netopeer2 sends target
        `/anchor-test:tick/counter` with `<counter>` in the value), so its content is a child of
        the target's parent; any other anydata holds top-level data nodes.
        """
        if node.patch_target is None:
            return self._data
        target = element.getparent().find(node.patch_target)
        return self._data if target is None else self._target_parent(target.text or "")

    def _target_parent(self, target: str) -> _Node:
        """The schema node above a yang-patch target: RFC 8040 `/module:a/b=key` steps, or XPath
        steps with module names or schema prefixes and [predicates]; the top level if unknown."""
        node, parent, module = self._data, self._data, ""
        for step in path_steps(target):
            qualifier, _, name = _STEP_KEYS.sub("", step).rpartition(":")
            if qualifier:
                module = qualifier if qualifier in self._module_prefix else self._prefix_module.get(qualifier, "")
            child = node.members.get(f"{module}:{name}")
            if child is None:
                return self._data
            parent, node = node, child
        return parent

    # ---- JSON / CBOR -> XML ------------------------------------------------------------------

    def json_to_data(self, obj: dict) -> list[etree._Element]:
        """{"module:name": ...} top-level members -> data elements (the inverse of data_to_json)."""
        return self._decode_members(obj, self._data, self._json, None)

    def json_to_event(self, obj: dict) -> etree._Element:
        """{"module:event": {...}} -> the event element (the inverse of event_to_json)."""
        return self._single_event(self._decode_members(obj, self._events, self._json, None))

    def cbor_to_event(self, obj: dict) -> etree._Element:
        """The inverse of event_to_cbor."""
        return self._single_event(self._decode_members(obj, self._events, self._cbor, None))

    @staticmethod
    def _single_event(elements: list[etree._Element]) -> etree._Element:
        if len(elements) != 1:
            raise YangJsonError(f"expected one event, found {len(elements)}")
        return elements[0]

    def _decode_members(
        self, obj: object, parent: _Node, dialect: _Dialect, into: etree._Element | None
    ) -> list[etree._Element]:
        """The elements of a JSON object's members, created inside `into` when given.

        Children are made with SubElement, in place: lxml tidies the namespace declarations of
        an element appended later, and would drop the prefix an identityref value needs.
        """
        if not isinstance(obj, dict):
            raise YangJsonError(f"{parent.qualified or 'the top level'} must be an object")
        elements = []
        for name, value in obj.items():
            node = parent.members.get(name) if isinstance(name, str) else None
            if node is None:
                raise YangJsonError(f"no schema node {name!r} under {parent.qualified or 'the top level'}")
            if node.kind in _MULTIPLE:
                if not isinstance(value, list):
                    raise YangJsonError(f"{node.qualified} must be an array")
                elements.extend(self._decode_node(node, entry, dialect, into) for entry in value)
            elif node.patch_target is not None:
                target = obj.get("target")
                scope = self._target_parent(target) if isinstance(target, str) else self._data
                elements.append(self._decode_node(node, value, dialect, into, scope))
            else:
                elements.append(self._decode_node(node, value, dialect, into))
        return elements

    def _decode_node(
        self,
        node: _Node,
        value: object,
        dialect: _Dialect,
        into: etree._Element | None,
        scope: _Node | None = None,
    ) -> etree._Element:
        tag = f"{{{node.namespace}}}{node.local}"
        nsmap: dict[str | None, str] = {}
        if into is None or etree.QName(into).namespace != node.namespace:
            nsmap[None] = node.namespace
        if node.kind in (_LEAF, _LEAFLIST):
            text, prefixes = dialect.decode(node.type, value)
            nsmap.update((p, self._module_namespace[m]) for p, m in prefixes.items())
            element = _new_element(into, tag, nsmap)
            try:
                element.text = text or None
            except ValueError:  # lxml refuses characters XML cannot carry
                raise YangJsonError(f"{node.qualified}: the value is not XML text") from None
            return element
        element = _new_element(into, tag, nsmap)
        if node.kind != _ANYDATA:
            scope = node
        self._decode_members(value, scope or self._data, dialect, element)
        return element

    # ---- identities and instance-identifiers -------------------------------------------------

    def _identity_to_json(self, text: str, element: etree._Element) -> str | None:
        """`prefix:name` in the element's namespace context -> `module:name`; None if unresolvable."""
        prefix, _, name = text.strip().rpartition(":")
        module = self._namespace_module.get(element.nsmap.get(prefix or None))
        return f"{module}:{name}" if module and name else None

    def _identity_from_json(self, value: str) -> tuple[str, dict[str, str]] | None:
        """`module:name` -> (`prefix:name`, {prefix: module}); None if the module is unknown."""
        module, _, name = value.partition(":")
        prefix = self._module_prefix.get(module)
        return (f"{prefix}:{name}", {prefix: module}) if prefix and name else None

    def _path_to_json(self, text: str, element: etree._Element) -> str | None:
        """An XML instance-identifier -> RFC 7951 §6.11 form; None if a prefix is unbound."""
        nsmap = element.nsmap
        modules = []
        for token in _PATH_TOKEN.finditer(text):
            if token[4] is not None:
                module = self._namespace_module.get(nsmap.get(token[3]))
                if module is None:
                    return None
                modules.append(module)
        return self._rewrite_path(text, iter(modules), qualify_all=False)

    def _path_from_json(self, value: str) -> tuple[str, dict[str, str]] | None:
        """An RFC 7951 instance-identifier -> XML form with every name prefixed."""
        used: dict[str, str] = {}
        modules = []
        current: list[str] = [""]
        for token in _PATH_TOKEN.finditer(value):
            if token[1]:
                current.append(current[-1])
            elif token[2]:
                current.pop()
            elif token[4] is not None:
                module = token[3] or current[-1]
                if module not in self._module_prefix:
                    return None
                used[self._module_prefix[module]] = module
                modules.append(self._module_prefix[module])
                if len(current) == 1:
                    current[-1] = module
        return self._rewrite_path(value, iter(modules), qualify_all=True), used

    @staticmethod
    def _rewrite_path(path: str, qualifiers: Iterator[str], *, qualify_all: bool) -> str:
        """Replace each node name's qualifier by the next of `qualifiers` (module or prefix).

        Without qualify_all, a name keeps its qualifier only where its module differs from its
        parent's (the previous step, or the step a predicate belongs to).
        """
        parents: list[str] = [""]

        def replace(token: re.Match[str]) -> str:
            if token[1]:
                parents.append(parents[-1])
            elif token[2]:
                parents.pop()
            elif token[4] is not None:
                qualifier = next(qualifiers)
                same = qualifier == parents[-1] and not qualify_all
                if len(parents) == 1:
                    parents[-1] = qualifier
                return token[4] if same else f"{qualifier}:{token[4]}"
            return token[0]

        return _PATH_TOKEN.sub(replace, path)


class _Dialect:
    """Scalar forms of one encoding: RFC 7951 JSON, or RFC 9254 CBOR with names."""

    def __init__(self, codec: YangJson, *, cbor: bool) -> None:
        self._codec = codec
        self._cbor = cbor

    def encode(self, ytype: _Type, text: str, element: etree._Element) -> Any:
        base = ytype.base
        if base in _INTEGER_BOUNDS:
            number = _integer(text, base)
            if number is None or (base in _WIDE_INTEGERS and not self._cbor):
                return text
            return number
        if base == _T.STRING or base == _T.ENUM or base == _T.BITS:
            return text
        if base == _T.BOOL:
            return {"true": True, "false": False}.get(text, text)
        if base == _T.IDENT:
            return self._codec._identity_to_json(text, element) or text
        if base == _T.EMPTY:
            return text or (None if self._cbor else [None])
        if base == _T.UNION:
            return self.encode(_union_member(ytype, text, element, self._codec), text, element)
        if base == _T.INST:
            return self._codec._path_to_json(text, element) or text
        if base == _T.DEC64 and self._cbor and _DECIMAL64.fullmatch(text):
            return Decimal(text)
        if base == _T.BINARY and self._cbor:
            return _base64_bytes(text)
        return text

    def decode(self, ytype: _Type, value: object) -> tuple[str, dict[str, str]]:
        """A JSON/CBOR scalar -> (XML text, {prefix: module} the text needs declared)."""
        if value is True or value is False:
            return ("true" if value else "false"), {}
        if isinstance(value, int):
            return str(value), {}
        if value is None or value == [None]:
            return "", {}
        if isinstance(value, Decimal):
            return str(value), {}
        if isinstance(value, bytes):
            return base64.b64encode(value).decode(), {}
        if not isinstance(value, str):
            raise YangJsonError(f"a leaf value cannot be {type(value).__name__}")
        for member in ytype.members or (ytype,):
            if member.base == _T.IDENT:
                identity = self._codec._identity_from_json(value)
                if identity:
                    return identity
            if member.base == _T.INST and value.startswith("/"):
                path = self._codec._path_from_json(value)
                if path:
                    return path
        return value, {}


def _new_element(parent: etree._Element | None, tag: str, nsmap: dict[str | None, str]) -> etree._Element:
    if parent is None:
        return etree.Element(tag, nsmap=nsmap or None)
    return etree.SubElement(parent, tag, nsmap=nsmap or None)


def _integer(text: str, base: int) -> int | None:
    try:
        number = int(text)
    except ValueError:
        return None
    low, high = _INTEGER_BOUNDS[base]
    return number if low <= number <= high and text.strip() == text else None


def _base64_bytes(text: str) -> bytes | str:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text


def _union_member(ytype: _Type, text: str, element: etree._Element, codec: YangJson) -> _Type:
    """The first member type whose lexical space holds `text` (RFC 7950 §9.12); else a string."""
    for member in ytype.members:
        if _accepts(member, text, element, codec):
            return member
    return _Type(_T.STRING)


_ACCEPTS: dict[int, Callable[[_Type, str, etree._Element, YangJson], bool]] = {
    _T.BOOL: lambda t, text, e, c: text in ("true", "false"),
    _T.EMPTY: lambda t, text, e, c: text == "",
    _T.ENUM: lambda t, text, e, c: text in t.names,
    _T.BITS: lambda t, text, e, c: all(bit in t.names for bit in text.split()),
    _T.DEC64: lambda t, text, e, c: _DECIMAL64.fullmatch(text) is not None,
    _T.IDENT: lambda t, text, e, c: c._identity_to_json(text, e) is not None,
    _T.INST: lambda t, text, e, c: text.startswith("/") and c._path_to_json(text, e) is not None,
    _T.UNION: lambda t, text, e, c: any(_accepts(m, text, e, c) for m in t.members),
}


def _accepts(member: _Type, text: str, element: etree._Element, codec: YangJson) -> bool:
    if member.base in _INTEGER_BOUNDS:
        return _integer(text, member.base) is not None
    check = _ACCEPTS.get(member.base)
    return True if check is None else check(member, text, element, codec)
