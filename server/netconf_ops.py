"""The RFC 6241 base operations and RFC 6022 ``get-schema``.

Handlers parse their input strictly (an unexpected child is an ``unknown-element`` error, not
silently ignored), read through the operational or running datastore, and go through the
authorisation point for what they read and write.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from lxml import etree

from mso.filters import FilterError, subtree_filter, xpath_filter
from mso.namespaces import NETCONF_BASE, NETCONF_MONITORING, qn
from mso.rpc_error import RpcError, info_element
from mso.schema import ValidationError
from mso.subscription_model import FilterSpec
from server.authz import DataWrite
from mso.tree_diff import changed_paths
from server.edit_config import EditError, apply_edit
from server.rpc import Dispatcher, Reply, RpcContext

if TYPE_CHECKING:
    from server.master import Master

NC = NETCONF_BASE
_ACCESS_OF_CHANGE = {"create": "create", "replace": "update", "delete": "delete"}


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(operation: etree._Element, allowed: Collection[str], namespace: str = NC) -> dict[str, etree._Element]:
    """The operation's parameters by local name; anything not allowed is an unknown-element."""
    found: dict[str, etree._Element] = {}
    for child in operation:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.namespace != namespace or qname.localname not in allowed:
            raise RpcError("unknown-element", f"unexpected parameter <{qname.localname}>", type="protocol",
                           info=[info_element("bad-element", qname.localname)])
        found[qname.localname] = child
    return found


def _required(params: dict[str, etree._Element], name: str) -> etree._Element:
    if name not in params:
        raise RpcError("missing-element", f"<{name}> is required", type="protocol",
                       info=[info_element("bad-element", name)])
    return params[name]


def _datastore_name(container: etree._Element) -> str:
    """``<target><running/></target>`` → "running"; only running exists on this server."""
    choices = [c for c in container if isinstance(c.tag, str)]
    if len(choices) != 1:
        raise RpcError("missing-element", f"<{_name(container)}> must name one datastore", type="protocol",
                       info=[info_element("bad-element", _name(container))])
    name = _name(choices[0])
    if choices[0].tag != qn(NC, "running"):
        raise RpcError("invalid-value", f"datastore {name!r} is not supported (only running)", type="protocol",
                       info=[info_element("bad-element", name)])
    return name


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


@dataclass(frozen=True)
class ReadFilter:
    """A parsed ``<filter>``: which top-level nodes it can select, and how to apply it."""

    kind: str  # "none" | "subtree" | "xpath"
    subtree: Sequence[etree._Element] = ()
    select: str = ""
    namespaces: tuple[tuple[str, str], ...] = ()

    @property
    def spec(self) -> FilterSpec | None:
        """The filter as a subscription would carry it (what agents are asked to apply)."""
        if self.kind == "subtree":
            return FilterSpec("subtree", subtree_xml=b"".join(etree.tostring(node) for node in self.subtree))
        if self.kind == "xpath":
            return FilterSpec("xpath", xpath=self.select, namespaces=self.namespaces)
        return None

    def apply(self, data: etree._Element, master: "Master") -> etree._Element:
        try:
            if self.kind == "subtree":
                return subtree_filter(data, self.subtree, master.schema.key_index)
            if self.kind == "xpath":
                return xpath_filter(data, self.select, dict(self.namespaces), master.schema.key_index)
        except FilterError as error:
            raise _filter_error(error) from None
        return data


def _filter_error(error: FilterError) -> RpcError:
    return RpcError("invalid-value", f"filter: {error}", type="protocol", info=[info_element("bad-element", "filter")])


def parse_filter(element: etree._Element | None) -> ReadFilter:
    if element is None:
        return ReadFilter("none")
    kind = element.get("type", element.get(qn(NC, "type"), "subtree"))
    if kind == "subtree":
        return ReadFilter("subtree", subtree=[c for c in element if isinstance(c.tag, str)])
    if kind == "xpath":
        select = element.get("select", element.get(qn(NC, "select")))
        if select is None:
            raise RpcError("missing-attribute", "an xpath filter needs a select attribute", type="protocol",
                           info=[info_element("bad-attribute", "select"), info_element("bad-element", "filter")])
        namespaces = tuple((p, ns) for p, ns in element.nsmap.items() if p)
        return ReadFilter("xpath", select=select, namespaces=namespaces)
    raise RpcError("bad-attribute", f"filter type {kind!r} is not supported", type="protocol",
                   info=[info_element("bad-attribute", "type"), info_element("bad-element", "filter")])


def _data_reply(data: etree._Element) -> list[etree._Element]:
    data.tag = qn(NC, "data")
    return [data]


async def get(ctx: RpcContext, operation: etree._Element) -> Reply:
    params = _children(operation, ("filter",))
    master: Master = ctx.services
    read = parse_filter(params.get("filter"))
    try:
        state = await master.read_operational(read.spec)
    except FilterError as error:
        raise _filter_error(error) from None
    data = read.apply(state, master)
    return _data_reply(master.access.filter_read(ctx.principal, data))


async def get_config(ctx: RpcContext, operation: etree._Element) -> Reply:
    params = _children(operation, ("source", "filter"))
    _datastore_name(_required(params, "source"))
    master: Master = ctx.services
    read = parse_filter(params.get("filter"))
    data = read.apply(master.running.root, master)
    if data is master.running.root:  # no filter: never hand out the live tree
        data = deepcopy(data)
    return _data_reply(master.access.filter_read(ctx.principal, data))


def _lock_held_by_other(master: "Master", session_id: int) -> RpcError | None:
    owner = master.running.lock_owner
    if owner is None or owner == session_id:
        return None
    return RpcError("in-use", f"running is locked by session {owner}", type="protocol",
                    info=[info_element("session-id", str(owner))])


async def edit_config(ctx: RpcContext, operation: etree._Element) -> Reply:
    params = _children(operation, ("target", "default-operation", "test-option", "error-option", "config", "url"))
    _datastore_name(_required(params, "target"))
    if "url" in params:
        raise RpcError("operation-not-supported", "the :url capability is not supported", type="protocol")
    config = _required(params, "config")
    default_operation = _enum_param(params, "default-operation", ("merge", "replace", "none"), "merge")
    test_option = _enum_param(params, "test-option", ("test-then-set", "set", "test-only"), "test-then-set")
    _enum_param(params, "error-option", ("stop-on-error", "rollback-on-error", "continue-on-error"), "stop-on-error")
    master: Master = ctx.services
    if (denied := _lock_held_by_other(master, ctx.principal.session_id)) is not None:
        raise denied
    before = master.running.root
    after = _apply(master, before, config, default_operation)
    changes = changed_paths(before, after, master.schema.key_index, master.schema.leaf_lists)
    master.access.check_write(ctx.principal, [DataWrite(c.path, _ACCESS_OF_CHANGE[c.operation]) for c in changes])
    # "set" skips nothing here: a datastore that fails the schema is never installed
    _validate(master, after)
    for check in master.config_checks:
        check(after)
    if test_option != "test-only" and changes:
        master.running.commit(after)
        master.config_changed(ctx.principal, changes)
    return None


def _enum_param(params: dict[str, etree._Element], name: str, allowed: Sequence[str], default: str) -> str:
    if name not in params:
        return default
    value = _text(params[name])
    if value not in allowed:
        raise RpcError("invalid-value", f"{name} must be one of {', '.join(allowed)}", type="protocol",
                       info=[info_element("bad-element", name)])
    return value


def _apply(master: "Master", before: etree._Element, config: etree._Element, default_operation: str) -> etree._Element:
    try:
        return apply_edit(before, config, default_operation=default_operation,
                          keys=master.schema.key_index, leaf_lists=master.schema.leaf_lists,
                          opaque=master.schema.opaque)
    except EditError as error:
        raise RpcError(error.error_tag, error.error_message, type="application", path=error.error_path,
                       path_namespaces=error.path_namespaces,
                       info=[info_element(k, v) for k, v in error.error_info.items()]) from None


def _validate(master: "Master", data: etree._Element) -> None:
    try:
        master.schema.validate_config(data)
    except ValidationError as error:
        raise RpcError(error.error_tag, error.error_message, type="application", app_tag=error.error_app_tag,
                       path=error.error_path, path_namespaces=master.schema.prefix_namespaces) from None


async def validate(ctx: RpcContext, operation: etree._Element) -> Reply:
    params = _children(operation, ("source",))
    source = _required(params, "source")
    master: Master = ctx.services
    config = source.find(qn(NC, "config"))
    if config is not None:
        _validate(master, _apply(master, etree.Element(qn(NC, "data")), config, "merge"))
    else:
        _datastore_name(source)
        _validate(master, master.running.root)
    return None


async def lock(ctx: RpcContext, operation: etree._Element) -> Reply:
    _datastore_name(_required(_children(operation, ("target",)), "target"))
    master: Master = ctx.services
    owner = master.running.lock_owner
    if owner is not None:
        raise RpcError("lock-denied", f"running is already locked by session {owner}", type="protocol",
                       info=[info_element("session-id", str(owner))])
    master.running.lock_owner = ctx.principal.session_id
    master.running.lock_time = datetime.now(timezone.utc)
    return None


async def unlock(ctx: RpcContext, operation: etree._Element) -> Reply:
    _datastore_name(_required(_children(operation, ("target",)), "target"))
    master: Master = ctx.services
    if master.running.lock_owner != ctx.principal.session_id:
        raise RpcError("operation-failed", "this session does not hold the lock on running", type="protocol")
    master.release_locks(ctx.principal.session_id)
    return None


async def close_session(ctx: RpcContext, operation: etree._Element) -> Reply:
    _children(operation, ())
    ctx.session.close_after_reply()
    return None


async def kill_session(ctx: RpcContext, operation: etree._Element) -> Reply:
    value = _text(_required(_children(operation, ("session-id",)), "session-id"))
    master: Master = ctx.services
    target = master.sessions.get(int(value)) if value.isdigit() else None
    if target is None or target is ctx.session:
        reason = "a session cannot kill itself" if target is ctx.session else f"no session {value!r}"
        raise RpcError("invalid-value", reason, type="protocol", info=[info_element("bad-element", "session-id")])
    master.release_locks(target.info.session_id)
    target.close(f"killed by session {ctx.principal.session_id}")
    return None


async def get_schema(ctx: RpcContext, operation: etree._Element) -> Reply:
    params = _children(operation, ("identifier", "version", "format"), namespace=NETCONF_MONITORING)
    identifier = _text(_required(params, "identifier"))
    version = _text(params["version"]) or None if "version" in params else None
    fmt = _text(params["format"]).rsplit(":", 1)[-1] if "format" in params else "yang"
    master: Master = ctx.services
    try:
        text = master.schema.schema_text(identifier, version, fmt)
    except KeyError:
        raise RpcError("invalid-value", f"no schema {identifier!r} (version {version or 'any'}, format {fmt})",
                       type="application", info=[info_element("bad-element", "identifier")]) from None
    data = etree.Element(qn(NETCONF_MONITORING, "data"), nsmap={None: NETCONF_MONITORING})
    data.text = text
    return [data]


def register(dispatcher: Dispatcher) -> None:
    for name, handler in (
        ("get", get),
        ("get-config", get_config),
        ("edit-config", edit_config),
        ("validate", validate),
        ("lock", lock),
        ("unlock", unlock),
        ("close-session", close_session),
        ("kill-session", kill_session),
    ):
        dispatcher.register(qn(NC, name), handler)
    dispatcher.register(qn(NETCONF_MONITORING, "get-schema"), get_schema)
