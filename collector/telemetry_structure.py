"""The ``message`` structure of ietf-telemetry-message (draft-ietf-nmop-message-broker-telemetry-
message), as libyang compiled it with every augmentation (ietf-yang-push-telemetry-message,
mso-telemetry-completeness): what turns a message given by local names into RFC 7951 JSON, and
what checks a message against the modules.

The message is an ``sx:structure`` (RFC 8791), which the libyang binding does not reach: its
compiled extension instances, ``lys_getnext_ext`` and ``lyd_parse_ext_data`` are called here
through a small ABI-level declaration of those three C entry points on the binding's own
context. Two limits of Debian's libyang 2.1.30 shape ``validate``: it reads structure data
without the structure's own name, each top-level member qualified by its module, and it never
returns from a JSON text with two top-level members, so each member is parsed alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import cffi
import libyang
import orjson
from _libyang import ffi, lib
from libyang.util import c2str

from mso.schema import Schema

MODULE = "ietf-telemetry-message"
STRUCTURE = "message"
MEMBER = f"{MODULE}:{STRUCTURE}"

_ABI = cffi.FFI()
_ABI.cdef("""
struct lysc_module { void *mod; void *data; void *rpcs; void *notifs; void *exts; };
const void *lys_getnext_ext(const void *last, const void *parent, const void *ext, uint32_t options);
int ly_in_new_memory(const char *str, void **in);
void ly_in_free(void *in, unsigned char destroy);
int lyd_parse_ext_data(const void *ext, void *parent, void *in, int format, uint32_t parse_options,
                       uint32_t validate_options, void **tree);
void lyd_free_all(void *node);
""")
_LIBYANG = _ABI.dlopen("libyang.so.2")
_LYD_JSON = 2
_LYD_PARSE_STRICT = 0x020000
_LYD_VALIDATE_PRESENT = 0x0002  # the rest of the context (the YANG library...) has no data here

_DATA_KINDS = (libyang.SNode.CONTAINER, libyang.SNode.LIST, libyang.SNode.LEAF, libyang.SNode.LEAFLIST,
               libyang.SNode.ANYDATA)
_T = libyang.Type
_STRING_INTEGERS = frozenset({_T.INT64, _T.UINT64, _T.DEC64})  # RFC 7951 §6.1: quoted
_NUMBERS = frozenset({_T.INT8, _T.INT16, _T.INT32, _T.UINT8, _T.UINT16, _T.UINT32})


class MessageShapeError(ValueError):
    """A message that names a node the structure does not have, or a value of the wrong kind."""


class MessageInvalid(ValueError):
    """libyang refused a message; the text is libyang's first error and where it found it."""


@dataclass
class _Node:
    """One schema node of the structure: its JSON member names and how its values are written."""

    name: str
    module: str
    kind: int  # libyang.SNode.CONTAINER, LIST, LEAF, LEAFLIST or ANYDATA
    base: int | None = None  # the leaf's built-in type
    children: dict[str, _Node] = field(default_factory=dict)  # by local name


class MessageSchema:
    """The compiled ``message`` structure."""

    def __init__(self, schema: Schema) -> None:
        self._ctx = schema.ctx
        self._ext = _structure_extension(schema.ctx)
        self.root = _Node(STRUCTURE, MODULE, libyang.SNode.CONTAINER)
        for top in _top_nodes(schema.ctx, self._ext):
            self.root.children[top.name()] = _build(top)

    def encode(self, message: Mapping[str, Any]) -> dict:
        """``{"ietf-telemetry-message:message": ...}`` from a message given by local names: each
        member qualified where its module differs from its parent's, each leaf in its type's
        RFC 7951 form. MessageShapeError for a name or value the structure does not allow."""
        return {MEMBER: _members(self.root, message)}

    def validate(self, encoded: Mapping[str, Any]) -> None:
        """Check an encoded message against the modules; MessageInvalid when libyang refuses it."""
        body = encoded.get(MEMBER)
        if not isinstance(body, Mapping) or len(encoded) != 1:
            raise MessageInvalid(f"a telemetry message is one {MEMBER!r} object")
        for name, value in body.items():
            self._parse_member(name if ":" in name else f"{MODULE}:{name}", value)

    def _parse_member(self, name: str, value: Any) -> None:
        text = _ABI.new("char[]", orjson.dumps({name: value}))
        source = _ABI.new("void **")
        if _LIBYANG.ly_in_new_memory(text, source) != 0:
            raise MemoryError("libyang could not read from memory")
        tree = _ABI.new("void **")
        try:
            status = _LIBYANG.lyd_parse_ext_data(self._ext, _ABI.NULL, source[0], _LYD_JSON, _LYD_PARSE_STRICT,
                                                 _LYD_VALIDATE_PRESENT, tree)
        finally:
            _LIBYANG.ly_in_free(source[0], 0)
        if tree[0] != _ABI.NULL:
            _LIBYANG.lyd_free_all(tree[0])
        if status != 0:
            raise MessageInvalid(_first_error(self._ctx))


def _structure_extension(ctx: libyang.Context) -> Any:
    """The compiled ``sx:structure "message"`` instance of ietf-telemetry-message."""
    compiled = _ABI.cast("struct lysc_module *", _address(ctx.get_module(MODULE).cdata.compiled))
    if compiled.exts != _ABI.NULL:
        address = _address(compiled.exts)
        instances = ffi.cast("struct lysc_ext_instance *", address)
        for index in range(ffi.cast("uint64_t *", address)[-1]):  # a libyang sized array
            instance = instances[index]
            if c2str(getattr(instance, "def").name) == "structure" and c2str(instance.argument) == STRUCTURE:
                return _ABI.cast("void *", _address(instances + index))
    raise MessageShapeError(f"{MODULE} has no structure {STRUCTURE!r}")


def _top_nodes(ctx: libyang.Context, ext: Any) -> Iterator[libyang.SNode]:
    node = _ABI.NULL
    while True:
        node = _LIBYANG.lys_getnext_ext(node, _ABI.NULL, ext, 0)
        if node == _ABI.NULL:
            return
        yield libyang.SNode.new(ctx, ffi.cast("struct lysc_node *", _address(node)))


def _address(pointer: Any) -> int:
    """A C pointer of either FFI as a plain integer, to cast it into the other's types."""
    return int(ffi.cast("uintptr_t", pointer))


def _build(snode: libyang.SNode) -> _Node:
    kind = snode.nodetype()
    node = _Node(snode.name(), snode.module().name(), kind)
    if kind in (libyang.SNode.LEAF, libyang.SNode.LEAFLIST):
        node.base = snode.type().base()
    elif kind in (libyang.SNode.CONTAINER, libyang.SNode.LIST):
        for child in snode.children(types=_DATA_KINDS):  # choices and cases are looked through
            node.children[child.name()] = _build(child)
    return node


def _members(parent: _Node, values: Mapping[str, Any]) -> dict:
    if not isinstance(values, Mapping):
        raise MessageShapeError(f"{parent.name}: expected an object, got {values!r}")
    out = {}
    for name, value in values.items():
        node = parent.children.get(name)
        if node is None:
            raise MessageShapeError(f"{parent.name} has no child {name!r}")
        member = name if node.module == parent.module else f"{node.module}:{name}"
        out[member] = _value(node, value)
    return out


def _value(node: _Node, value: Any) -> Any:
    kind = node.kind
    if kind == libyang.SNode.CONTAINER:
        return _members(node, value)
    if kind == libyang.SNode.LIST:
        return [_members(node, entry) for entry in _sequence(node, value)]
    if kind == libyang.SNode.LEAFLIST:
        return [_scalar(node, item) for item in _sequence(node, value)]
    if kind == libyang.SNode.LEAF:
        return _scalar(node, value)
    return value  # anydata: already RFC 7951 JSON


def _sequence(node: _Node, value: Any) -> list | tuple:
    if not isinstance(value, (list, tuple)):
        raise MessageShapeError(f"{node.name}: expected a list, got {value!r}")
    return value


def _scalar(node: _Node, value: Any) -> Any:
    base = node.base
    if base == _T.BOOL:
        if not isinstance(value, bool):
            raise MessageShapeError(f"{node.name}: expected a boolean, got {value!r}")
        return value
    if base in _NUMBERS or base in _STRING_INTEGERS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise MessageShapeError(f"{node.name}: expected an integer, got {value!r}")
        return str(value) if base in _STRING_INTEGERS else value
    if base == _T.EMPTY:
        return [None]
    if not isinstance(value, str):
        raise MessageShapeError(f"{node.name}: expected a string, got {value!r}")
    return value


def _first_error(ctx: libyang.Context) -> str:
    error = lib.ly_err_first(ctx.cdata)
    text = "libyang refused the message"
    if error:
        text = c2str(error.msg) or text
        if error.path:
            text += f" ({c2str(error.path)})"
    lib.ly_err_clean(ctx.cdata, ffi.NULL)
    return text
