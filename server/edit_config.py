"""Apply an ``<edit-config>`` to a datastore tree (RFC 6241 §7.2); diffs live in ``mso.tree_diff``.

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
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from lxml import etree

from mso.filters import KeyIndex, xpath_prefixes
from mso.namespaces import NETCONF_BASE, qn
from mso.tree_diff import (
    Identity,
    PrefixOf,
    SchemaPath,
    SchemaShape,
    has_children,
    instance_path,
    local_name,
    module_prefix,
)


OPERATION = qn(NETCONF_BASE, "operation")
OPERATIONS = frozenset({"merge", "replace", "create", "delete", "remove"})
DEFAULT_OPERATIONS = frozenset({"merge", "replace", "none"})



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


def apply_edit(
    running: etree._Element,
    config: etree._Element,
    *,
    default_operation: str = "merge",
    keys: KeyIndex,
    leaf_lists: Collection[SchemaPath],
    opaque: Collection[SchemaPath] = (),
    prefix_of: PrefixOf = module_prefix,
) -> etree._Element:
    """Return a new tree: ``running`` with the children of ``config`` applied to it.

    Nodes at ``opaque`` paths (anydata, such as a subscription's subtree filter) are values:
    an edit replaces one whole, never merges into its content.

    Raises EditError without having changed anything (``running`` is never modified).
    """
    if default_operation not in DEFAULT_OPERATIONS:
        raise EditError(
            "invalid-value",
            f"default-operation must be merge, replace or none, not {default_operation!r}",
            error_info={"bad-element": "default-operation"},
        )
    editor = _Editor(SchemaShape(keys, frozenset(leaf_lists)), config, prefix_of, frozenset(opaque))
    editor.check_elements()
    result = copy.deepcopy(running)
    if default_operation == "replace":
        del result[:]
    root = _Slot(edit=config, path=(), node=result, parent=None, existed=True)
    editor.edit_children(root, None if default_operation == "none" else default_operation)
    return result


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
    def __init__(self, schema: SchemaShape, config: etree._Element, prefix_of: PrefixOf,
                 opaque: frozenset[SchemaPath] = frozenset()) -> None:
        self._schema = schema
        self._opaque = opaque
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
        path, namespaces = instance_path(edit, self._config, self._schema, self._prefix_of)
        return EditError(tag, message, error_path=path, path_namespaces=namespaces, error_info=info)

    def check_elements(self) -> None:
        """Refuse foreign attributes, unknown operations and unnamespaced elements anywhere in the
        request before anything is applied, so the answer does not depend on where they sit."""
        for element in self._config.iterdescendants(etree.Element):
            local = local_name(element)
            if etree.QName(element).namespace is None:
                raise self.error(
                    "unknown-element",
                    f"{local!r} has no namespace: not a YANG data node",
                    element,
                    {"bad-element": local},
                )
            for name, value in element.attrib.items():
                if name != OPERATION:
                    info = {"bad-attribute": local_name(name), "bad-element": local}
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
            info = {"bad-attribute": "operation", "bad-element": local_name(key)}
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
            if has_children(edit):
                self.edit_children(_Slot(edit, path, existing, parent, existing is not None), None)
        elif operation in ("delete", "remove"):
            self._remove(parent, edit, path, existing, operation)
        elif operation == "create" and existing is not None:
            raise self.error("data-exists", f"{local_name(edit)!r} already exists", edit, {})
        elif path in self._opaque:
            self._set_value(parent, edit, path, existing)
        elif operation == "merge" and existing is not None:
            self._merge(parent, edit, path, existing)
        else:
            self._build(parent, edit, path, operation, existing)

    def _require_keys(self, edit: etree._Element, path: SchemaPath) -> None:
        for key in self._schema.keys.get(path, ()):
            if edit.find(key) is None:
                local = local_name(key)
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
            raise self.error("data-missing", f"{local_name(edit)!r} does not exist", edit, {})

    def _merge(
        self, parent: _Slot, edit: etree._Element, path: SchemaPath, existing: etree._Element
    ) -> None:
        if has_children(edit):
            self.edit_children(_Slot(edit, path, existing, parent, True), "merge")
        elif not has_children(existing):
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
        if has_children(edit):
            self.edit_children(_Slot(edit, path, node, parent, existing is not None), operation)

    def _set_value(self, parent: _Slot, edit: etree._Element, path: SchemaPath,
                   existing: etree._Element | None) -> None:
        """An anydata node takes the edit's content whole."""
        node = self._insert(self._materialize(parent), edit, path, existing)
        for child in edit.iterchildren(etree.Element):
            node.append(copy.deepcopy(child))
        for element in node.iter(etree.Element):
            element.attrib.pop(OPERATION, None)

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
        if has_children(edit):
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
    if edit.text and not has_children(edit):
        for prefix in xpath_prefixes(edit.text):  # identityref, instance-identifier: RFC 7950 §9.10.3, §9.13.2
            uri = edit.nsmap.get(prefix)
            if uri is not None and parent.nsmap.get(prefix) != uri:
                declarations[prefix] = uri
    return declarations
