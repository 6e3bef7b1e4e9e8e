"""The fast readers of XML, CBOR and JSON payloads (collector._payloads, built at install time)
and the schema table they read with.

The table is compiled here from the collector's libyang schema, the walk mso.yang_json makes for
its own tree: for every data node and notification its kind, local and qualified names,
namespace and, for leaves, the type with typedefs and leafrefs resolved to what RFC 7951 depends
on. As tuples, so that the C reader takes it without knowing libyang:

    node = (kind, local, qualified, namespace, type | None, patch_target, children, member_names)
    type = (base, wide, low, high, names | None, union_members)

``member_names[i]`` are the JSON names ``children[i]`` is known by: qualified always, local too
where its namespace is its parent's (mso.yang_json._index_children).

The readers return what the general decoder (mso.notification_encoding.EnvelopeCodec.decode)
returns, or None when they are not certain to agree; tests/unit/test_payload_readers.py holds
them to that on real and generated payloads. Where the extension could not be built, the
readers are absent and every XML and CBOR payload takes the general decoder.
"""

from __future__ import annotations

from collections.abc import Callable

import libyang
from libyang.util import c2str

from mso.schema import Schema

try:
    from collector._payloads import Reader
except ImportError:  # not built on this machine
    Reader = None

CONTAINER, LIST, LEAF, LEAFLIST, ANYDATA, NOTIFICATION = range(6)
(TEXT, INTEGER, BOOLEAN, IDENTITYREF, EMPTY, UNION, INSTANCE_IDENTIFIER, ENUMERATION, BITS,
 DECIMAL64) = range(10)
_KINDS = {
    libyang.SNode.CONTAINER: CONTAINER,
    libyang.SNode.LIST: LIST,
    libyang.SNode.LEAF: LEAF,
    libyang.SNode.LEAFLIST: LEAFLIST,
    libyang.SNode.ANYDATA: ANYDATA,
    libyang.SNode.ANYXML: ANYDATA,
    libyang.SNode.NOTIF: NOTIFICATION,
}
_T = libyang.Type
_INTEGERS = {
    _T.INT8: (-(2**7), 2**7 - 1), _T.INT16: (-(2**15), 2**15 - 1), _T.INT32: (-(2**31), 2**31 - 1),
    _T.UINT8: (0, 2**8 - 1), _T.UINT16: (0, 2**16 - 1), _T.UINT32: (0, 2**32 - 1),
    _T.INT64: (-(2**63), 2**63 - 1), _T.UINT64: (0, 2**64 - 1),
}
_WIDE = (_T.INT64, _T.UINT64)
_BASES = {_T.BOOL: BOOLEAN, _T.IDENT: IDENTITYREF, _T.EMPTY: EMPTY, _T.INST: INSTANCE_IDENTIFIER,
          _T.DEC64: DECIMAL64}
Envelope = tuple[str, dict, str, int | None]
PayloadReader = Callable[[bytes], Envelope | None]
Node = tuple
Type = tuple


def _type(ly_type: libyang.Type) -> Type:
    base = ly_type.base()
    if base == _T.LEAFREF:
        return _type(ly_type.leafref_type())
    if base in _INTEGERS:
        low, high = _INTEGERS[base]
        return (INTEGER, base in _WIDE, low, high, None, ())
    if base == _T.UNION:
        return (UNION, False, 0, 0, None, tuple(_type(member) for member in ly_type.union_types()))
    if base == _T.ENUM:
        return (ENUMERATION, False, 0, 0, frozenset(e.name() for e in ly_type.enums()), ())
    if base == _T.BITS:
        return (BITS, False, 0, 0, frozenset(b.name() for b in ly_type.bits()), ())
    return (_BASES.get(base, TEXT), False, 0, 0, None, ())


def _node(snode: libyang.SNode) -> Node:
    kind = _KINDS[snode.nodetype()]
    namespace = c2str(snode.cdata.module.ns)
    local = snode.name()
    type_ = _type(snode.type()) if kind in (LEAF, LEAFLIST) else None
    children = ((), ()) if kind in (LEAF, LEAFLIST, ANYDATA) else _children(
        [_node(child) for child in snode.children(types=tuple(_KINDS))], namespace)
    return (kind, local, f"{snode.module().name()}:{local}", namespace, type_, False, *children)


def _children(nodes: list[Node], namespace: str) -> tuple[tuple[Node, ...], tuple[tuple[str, ...], ...]]:
    """(children, their JSON names) under a parent of ``namespace``; a yang-patch ``value`` (an
    anydata beside a ``target`` leaf) is marked, for its content is found through the target."""
    leaves = {node[1] for node in nodes if node[0] == LEAF}
    marked = [(*node[:5], node[0] == ANYDATA and node[1] == "value" and "target" in leaves, *node[6:])
              for node in nodes]
    names = tuple((node[2], node[1]) if node[3] == namespace else (node[2],) for node in marked)
    return tuple(marked), names


def _top(schema: Schema, notifications: bool) -> Node:
    nodes = [_node(snode) for module in schema.ctx if module.implemented()
             for snode in module.children(types=tuple(_KINDS))]
    chosen = [node for node in nodes if (node[0] == NOTIFICATION) == notifications]
    return (ANYDATA, "", "", "", None, False, *_children(chosen, ""))


def readers(schema: Schema) -> dict[str, PayloadReader] | None:
    """{"xml": ..., "cbor": ..., "json": ...} reading with ``schema``, or None where
    collector._payloads was not built. The JSON one is orjson's tree checked for the envelope in
    C, as collector.decoding checks it in Python."""
    if Reader is None:
        return None
    reader = Reader(_top(schema, notifications=False), _top(schema, notifications=True),
                    {module.namespace: module.name for module in schema.modules})
    return {"xml": reader.xml, "cbor": reader.cbor, "json": reader.json}
