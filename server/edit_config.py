"""Apply an ``<edit-config>`` to a datastore tree (RFC 6241 §7.2), and diff two datastore trees.

Pure functions over lxml trees: the running datastore is a ``<data>`` element in the NETCONF base
namespace whose children are top-level YANG config nodes. Nothing here touches its inputs.

Schema knowledge arrives as two parameters, because the schema context lives elsewhere:

- ``keys`` maps the schema path of a list (Clark names from the top-level node down to the list)
  to its key leaves in order;
- ``leaf_lists`` holds the schema paths of leaf-lists.

Everything else is told apart by structure: an element with element children is a container or
list entry (its own text is formatting and ignored), one without is a leaf or leaf-list entry (or
an empty container) and keeps its text exactly as sent.

Choices where RFC 6241 leaves room, made once here:

- A sibling is the same node when it has the same name and, for a list entry, the same key
  values, for a leaf-list entry the same value. Values are compared as text: two prefixes bound to
  the same namespace in an identityref do not make equal values.
- ``replace`` empties the node and then applies the edit's children to it with ``replace``
  inherited; a nested operation therefore acts on that empty node (``delete`` fails with
  data-missing, ``remove`` does nothing). default-operation ``replace`` does the same to the whole
  datastore, as §7.2 says the ``<config>`` "completely replaces the configuration".
- A key leaf is its entry's identity: it comes and goes with the entry. ``delete``/``remove`` on
  a key leaf is bad-attribute (the value is wrong for that element); ``create`` on the key of an
  entry that already existed is data-exists.
- Any attribute other than ``nc:operation`` is unknown-attribute, including the YANG ``insert``
  attributes of ordered-by-user lists, which this module does not implement; an element in no
  namespace is unknown-element.
- New nodes go after the existing siblings of the same name (so new list entries follow that
  list's entries), else at the end; existing nodes keep their document order.

Paths (error-path, Change.path) are XPath with prefixes, ``/if:interfaces/if:interface[if:name=
'eth0']/if:mtu``, leaf-list entries as ``[.='value']``, together with the prefix → namespace map
they use. That is the error-path form of RFC 6241 §4.3 and the key-skeleton form of the
Resource-Location Table; a yang-patch encoder converts it to its target syntax.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from lxml import etree

from mso.namespaces import NETCONF_BASE, qn

SchemaPath = tuple[str, ...]
Identity = tuple[str | None, ...]
KeyIndex = Mapping[SchemaPath, tuple[str, ...]]
PrefixOf = Callable[[str], str]

OPERATION = qn(NETCONF_BASE, "operation")
OPERATIONS = frozenset({"merge", "replace", "create", "delete", "remove"})
DEFAULT_OPERATIONS = frozenset({"merge", "replace", "none"})

_NCNAME = re.compile(r"[A-Za-z_][\w.-]*")
# A prefix in a value (identityref, instance-identifier): RFC 7950 §9.10.3, §9.13.2.
_VALUE_PREFIX = re.compile(r"([A-Za-z_][\w.-]*):")


def module_prefix(namespace: str) -> str:
    """The default prefix of a namespace: its last segment (``urn:...:ietf-interfaces`` →
    ``ietf-interfaces``), or ``ns`` when that segment is not a valid prefix."""
    segments = [s for s in re.split(r"[:/]", namespace) if s]
    if segments and _NCNAME.fullmatch(segments[-1]):
        return segments[-1]
    return "ns"


class EditError(Exception):
    """An edit the datastore refuses, carrying the fields of an ``<rpc-error>`` (RFC 6241 §4.3).

    Every error-tag raised here admits error-type ``application`` (RFC 6241 Appendix A).
    """

    def __init__(
        self,
        error_tag: str,
        error_message: str,
        *,
        error_path: str | None = None,
        path_namespaces: Mapping[str, str] | None = None,
        error_info: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error_message)
        self.error_tag = error_tag
        self.error_message = error_message
        self.error_path = error_path
        self.path_namespaces = dict(path_namespaces or {})
        self.error_info = dict(error_info or {})


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


def apply_edit(
    running: etree._Element,
    config: etree._Element,
    *,
    default_operation: str = "merge",
    keys: KeyIndex,
    leaf_lists: Collection[SchemaPath],
    prefix_of: PrefixOf = module_prefix,
) -> etree._Element:
    """Return a new tree: ``running`` with the children of ``config`` applied to it.

    Raises EditError without having changed anything (``running`` is never modified).
    """
    if default_operation not in DEFAULT_OPERATIONS:
        raise EditError(
            "invalid-value",
            f"default-operation must be merge, replace or none, not {default_operation!r}",
            error_info={"bad-element": "default-operation"},
        )
    editor = _Editor(_Schema(keys, frozenset(leaf_lists)), config, prefix_of)
    editor.check_elements()
    result = copy.deepcopy(running)
    if default_operation == "replace":
        del result[:]
    root = _Slot(edit=config, path=(), node=result, parent=None, existed=True)
    editor.edit_children(root, None if default_operation == "none" else default_operation)
    return result


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
    differ = _Differ(_Schema(keys, frozenset(leaf_lists)), before, after, prefix_of)
    return list(differ.children(before, after, ()))


@dataclass(frozen=True)
class _Schema:
    keys: KeyIndex
    leaf_lists: frozenset[SchemaPath]

    def identity(self, node: etree._Element, path: SchemaPath) -> Identity:
        """What tells ``node`` apart from its siblings: its name plus, for a list entry, its key
        values, for a leaf-list entry its value."""
        if path in self.keys:
            return (node.tag, *(_text(node.find(key)) for key in self.keys[path]))
        if path in self.leaf_lists:
            return (node.tag, node.text or "")
        return (node.tag,)


def _text(leaf: etree._Element | None) -> str | None:
    return None if leaf is None else leaf.text or ""


def _has_children(node: etree._Element) -> bool:
    return next(node.iterchildren(etree.Element), None) is not None


def _local(node_or_name: etree._Element | str) -> str:
    return etree.QName(node_or_name).localname


class _Prefixes:
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


def _literal(value: str) -> str:
    """An XPath 1.0 string literal for ``value``, which may hold either kind of quote."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in value.split("'")) + ")"


def _xpath(
    node: etree._Element, top: etree._Element, schema: _Schema, prefix_of: PrefixOf
) -> tuple[str, dict[str, str]]:
    """The path from ``top`` (exclusive) down to ``node``, with its prefix → namespace map.

    Works on a datastore tree and on an edit alike: list entries are named by the key leaves
    they hold."""
    chain = [node]
    for ancestor in node.iterancestors():
        if ancestor is top:
            break
        chain.append(ancestor)
    prefixes = _Prefixes(prefix_of)
    steps: list[str] = []
    path: SchemaPath = ()
    for element in reversed(chain):
        path += (element.tag,)
        steps.append(
            "/" + prefixes.name(element.tag) + "".join(_predicates(element, path, schema, prefixes))
        )
    return "".join(steps), prefixes.namespaces


def _predicates(
    node: etree._Element, path: SchemaPath, schema: _Schema, prefixes: _Prefixes
) -> Iterator[str]:
    if path in schema.keys:
        for key in schema.keys[path]:
            leaf = node.find(key)
            if leaf is not None:
                yield f"[{prefixes.name(key)}={_literal(leaf.text or '')}]"
    elif path in schema.leaf_lists:
        yield f"[.={_literal(node.text or '')}]"


@dataclass
class _Slot:
    """A node of the result that an edit node addresses.

    Under default-operation ``none`` a node named only for navigation may be missing; it is
    created (with its keys) only when a descendant's operation needs it to exist (RFC 6241 §7.2).
    """

    edit: etree._Element
    path: SchemaPath
    node: etree._Element | None
    parent: _Slot | None
    existed: bool  # was in the datastore before this edit


class _Editor:
    def __init__(self, schema: _Schema, config: etree._Element, prefix_of: PrefixOf) -> None:
        self._schema = schema
        self._config = config
        self._prefix_of = prefix_of
        # The children of result nodes by identity, built on first look-up and kept in step with
        # every insertion and removal: matching an edit against a long list is then no scan.
        self._indexes: dict[etree._Element, dict[Identity, etree._Element]] = {}

    def _children(
        self, parent: etree._Element, parent_path: SchemaPath
    ) -> dict[Identity, etree._Element]:
        children = self._indexes.get(parent)
        if children is None:
            children = {
                self._schema.identity(child, parent_path + (child.tag,)): child
                for child in parent.iterchildren(etree.Element)
            }
            self._indexes[parent] = children
        return children

    def error(
        self, tag: str, message: str, edit: etree._Element, info: Mapping[str, str]
    ) -> EditError:
        path, namespaces = _xpath(edit, self._config, self._schema, self._prefix_of)
        return EditError(tag, message, error_path=path, path_namespaces=namespaces, error_info=info)

    def check_elements(self) -> None:
        """Refuse foreign attributes, unknown operations and unnamespaced elements anywhere in the
        request before anything is applied, so the answer does not depend on where they sit."""
        for element in self._config.iterdescendants(etree.Element):
            local = _local(element)
            if etree.QName(element).namespace is None:
                raise self.error(
                    "unknown-element",
                    f"{local!r} has no namespace: not a YANG data node",
                    element,
                    {"bad-element": local},
                )
            for name, value in element.attrib.items():
                if name != OPERATION:
                    info = {"bad-attribute": _local(name), "bad-element": local}
                    raise self.error(
                        "unknown-attribute",
                        f"unexpected attribute {name!r} on {local!r}",
                        element,
                        info,
                    )
                if value not in OPERATIONS:
                    info = {"bad-attribute": "operation", "bad-element": local}
                    raise self.error(
                        "bad-attribute", f"unknown operation {value!r} on {local!r}", element, info
                    )

    def edit_children(self, slot: _Slot, inherited: str | None) -> None:
        """Apply the element children of ``slot.edit`` below ``slot``; ``inherited`` is the
        operation they get when they carry none (None: navigation only)."""
        key_names = self._schema.keys.get(slot.path, ())
        for child in slot.edit.iterchildren(etree.Element):
            if child.tag in key_names:
                self._edit_key(slot, child)
            else:
                self._edit_node(slot, child, inherited)

    def _edit_key(self, entry: _Slot, key: etree._Element) -> None:
        operation = key.get(OPERATION)
        if operation in ("delete", "remove"):
            info = {"bad-attribute": "operation", "bad-element": _local(key)}
            raise self.error(
                "bad-attribute", "a list key is removed only with its entry", key, info
            )
        if operation == "create" and entry.existed:
            raise self.error(
                "data-exists", "the list entry, and so its key, already exists", key, {}
            )
        if operation is not None:
            self._materialize(entry)

    def _edit_node(self, parent: _Slot, edit: etree._Element, inherited: str | None) -> None:
        path = parent.path + (edit.tag,)
        operation = edit.get(OPERATION, inherited)
        self._require_keys(edit, path)
        existing = None
        if parent.node is not None:
            existing = self._children(parent.node, parent.path).get(
                self._schema.identity(edit, path)
            )
        if operation is None:
            if _has_children(edit):
                self.edit_children(_Slot(edit, path, existing, parent, existing is not None), None)
        elif operation in ("delete", "remove"):
            self._remove(parent, edit, path, existing, operation)
        elif operation == "create" and existing is not None:
            raise self.error("data-exists", f"{_local(edit)!r} already exists", edit, {})
        elif operation == "merge" and existing is not None:
            self._merge(parent, edit, path, existing)
        else:
            self._build(parent, edit, path, operation, existing)

    def _require_keys(self, edit: etree._Element, path: SchemaPath) -> None:
        for key in self._schema.keys.get(path, ()):
            if edit.find(key) is None:
                local = _local(key)
                raise self.error(
                    "missing-element",
                    f"list entry without its key {local!r}",
                    edit,
                    {"bad-element": local},
                )

    def _remove(
        self,
        parent: _Slot,
        edit: etree._Element,
        path: SchemaPath,
        existing: etree._Element | None,
        operation: str,
    ) -> None:
        if existing is not None:
            assert parent.node is not None, "an existing node has a parent"
            del self._children(parent.node, parent.path)[self._schema.identity(existing, path)]
            parent.node.remove(existing)
        elif operation == "delete":
            raise self.error("data-missing", f"{_local(edit)!r} does not exist", edit, {})

    def _merge(
        self, parent: _Slot, edit: etree._Element, path: SchemaPath, existing: etree._Element
    ) -> None:
        if _has_children(edit):
            self.edit_children(_Slot(edit, path, existing, parent, True), "merge")
        elif not _has_children(existing):
            # A leaf takes the new value; rebuilding it also declares the value's prefixes.
            self._build(parent, edit, path, "merge", existing)
        # An empty container merged onto a populated one changes nothing.

    def _build(
        self,
        parent: _Slot,
        edit: etree._Element,
        path: SchemaPath,
        operation: str,
        existing: etree._Element | None,
    ) -> None:
        """Create ``edit``'s node afresh (in place of ``existing`` if given) and apply its
        children with ``operation`` inherited."""
        node = self._insert(self._materialize(parent), edit, path, existing)
        if _has_children(edit):
            self.edit_children(_Slot(edit, path, node, parent, existing is not None), operation)

    def _materialize(self, slot: _Slot) -> etree._Element:
        if slot.node is None:
            assert slot.parent is not None, "the root slot always holds the datastore"
            slot.node = self._insert(self._materialize(slot.parent), slot.edit, slot.path, None)
        return slot.node

    def _insert(
        self,
        parent: etree._Element,
        edit: etree._Element,
        path: SchemaPath,
        existing: etree._Element | None,
    ) -> etree._Element:
        """A new node for ``edit`` under ``parent``: a leaf with the edit's value, or a container
        or list entry holding only its keys. It takes ``existing``'s place, else follows the last
        sibling of the same name, else goes last."""
        node = etree.SubElement(parent, edit.tag, nsmap=_declarations(parent, edit))
        if _has_children(edit):
            for key in self._schema.keys.get(path, ()):
                self._insert(node, edit.find(key), path + (key,), None)
        else:
            node.text = edit.text
        if existing is not None:
            existing.addnext(node)
            parent.remove(existing)
        else:
            # node was appended, so it comes first from the end, then its last namesake if any.
            namesakes = parent.iterchildren(edit.tag, reversed=True)
            next(namesakes)
            last = next(namesakes, None)
            if last is not None:
                last.addnext(node)
        self._children(parent, path[:-1])[self._schema.identity(node, path)] = node
        return node


def _declarations(parent: etree._Element, edit: etree._Element) -> dict[str | None, str]:
    """Namespace declarations for a node copied from ``edit`` under ``parent``: its namespace as
    the default where the parent's differs (plain output), and every prefix its value uses,
    bound as in the request, since lxml cannot know a value holds prefixes."""
    declarations: dict[str | None, str] = {}
    namespace = etree.QName(edit).namespace
    if parent.nsmap.get(None) != namespace:
        declarations[None] = namespace
    if edit.text and not _has_children(edit):
        for prefix in _VALUE_PREFIX.findall(edit.text):
            uri = edit.nsmap.get(prefix)
            if uri is not None and parent.nsmap.get(prefix) != uri:
                declarations[prefix] = uri
    return declarations


class _Differ:
    def __init__(
        self, schema: _Schema, before: etree._Element, after: etree._Element, prefix_of: PrefixOf
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
                yield self._change("delete", gone, self._before, None)
        for identity, node in new_children.items():
            if identity not in old_children:
                yield self._change("create", node, self._after, copy.deepcopy(node))
            else:
                yield from self._node(old_children[identity], node, path + (node.tag,))

    def _node(self, old: etree._Element, new: etree._Element, path: SchemaPath) -> Iterator[Change]:
        if _has_children(old) or _has_children(new):
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
    ) -> Change:
        path, namespaces = _xpath(node, top, self._schema, self._prefix_of)
        return Change(operation, path, namespaces, value)
