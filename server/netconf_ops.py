"""The RFC 6241 base operations and RFC 6022 ``get-schema``.

Handlers parse their input strictly (an unexpected child is an ``unknown-element`` error, not
silently ignored), read through the operational or running datastore, and go through the
authorisation point for what they read and write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from mso.filter_limits import check_subtree, xpath_cost
from mso.filters import (
    FilterError,
    KeyIndex,
    compile_xpath,
    render_selection,
    require_prefixed_names,
    subtree_filter,
    xpath_filter,
)
from mso.namespaces import NETCONF_BASE, NETCONF_MONITORING, qn
from mso.rpc_error import RpcError, info_element
from mso.schema import Schema, ValidationError
from mso.subscription_model import FilterSpec
from mso.tree_diff import changed_paths
from server.authz import DataWrite, Gate
from server.datastore import LockError, RunningDatastore, StorageError
from server.edit_config import EditError, apply_edit
from server.rpc import Dispatcher, Reply, RpcContext, SessionHandle
from server.xpath_isolation import XPathIsolation

NC = NETCONF_BASE
_ACCESS_OF_CHANGE = {"create": "create", "replace": "update", "delete": "delete"}
# RFC 6241 §7.2: an edit is applied whole or not at all here, which is rollback-on-error; that is
# also what stop-on-error may do. continue-on-error would apply the parts that are valid.
ATOMIC_ERROR_OPTIONS = ("stop-on-error", "rollback-on-error")
ROLLBACK_ON_ERROR = "urn:ietf:params:netconf:capability:rollback-on-error:1.0"


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
    """A parsed ``<filter>``: which top-level nodes it can select, and how to apply it.

    A costly XPath filter (``mso.filter_limits``) is run only by the Master, in isolation: the
    agents are asked for all their data rather than made to run it on their event loops."""

    kind: str  # "none" | "subtree" | "xpath"
    subtree: Sequence[etree._Element] = ()
    select: str = ""
    namespaces: tuple[tuple[str, str], ...] = ()
    costly: bool = False

    @property
    def spec(self) -> FilterSpec | None:
        """The filter as a subscription would carry it (what agents are asked to apply)."""
        if self.kind == "subtree":
            return FilterSpec("subtree", subtree_xml=b"".join(etree.tostring(node) for node in self.subtree))
        if self.kind == "xpath" and not self.costly:
            return FilterSpec("xpath", xpath=self.select, namespaces=self.namespaces)
        return None

    async def apply(self, data: etree._Element, keys: KeyIndex, isolation: XPathIsolation) -> etree._Element:
        try:
            if self.kind == "subtree":
                return subtree_filter(data, self.subtree, keys)
            if self.kind == "xpath" and self.costly:
                return render_selection(data, await isolation.select(data, self.select, dict(self.namespaces)), keys)
            if self.kind == "xpath":
                return xpath_filter(data, self.select, dict(self.namespaces), keys)
        except FilterError as error:
            raise _filter_error(error) from None
        return data


def _filter_error(error: FilterError) -> RpcError:
    """invalid-value for a filter that is wrong; too-big past the limits and operation-failed past
    the time budget are the server's own limits (RFC 6241 Appendix A: type application)."""
    kind = "protocol" if error.error_tag == "invalid-value" else "application"
    return RpcError(error.error_tag, f"filter: {error.error_message}", type=kind,
                    info=[info_element("bad-element", "filter")])


def parse_filter(element: etree._Element | None) -> ReadFilter:
    if element is None:
        return ReadFilter("none")
    kind = element.get("type", element.get(qn(NC, "type"), "subtree"))
    try:
        if kind == "subtree":
            subtree = [c for c in element if isinstance(c.tag, str)]
            check_subtree(subtree)
            return ReadFilter("subtree", subtree=subtree)
        if kind == "xpath":
            return _xpath_read_filter(element)
    except FilterError as error:
        raise _filter_error(error) from None
    raise RpcError("bad-attribute", f"filter type {kind!r} is not supported", type="protocol",
                   info=[info_element("bad-attribute", "type"), info_element("bad-element", "filter")])


def _xpath_read_filter(element: etree._Element) -> ReadFilter:
    select = element.get("select", element.get(qn(NC, "select")))
    if select is None:
        raise RpcError("missing-attribute", "an xpath filter needs a select attribute", type="protocol",
                       info=[info_element("bad-attribute", "select"), info_element("bad-element", "filter")])
    require_prefixed_names(select)
    namespaces = tuple((p, ns) for p, ns in element.nsmap.items() if p)
    compile_xpath(select, dict(namespaces))
    return ReadFilter("xpath", select=select, namespaces=namespaces, costly=xpath_cost(select).costly)


class SessionLookup(Protocol):
    def get(self, session_id: int) -> SessionHandle | None: ...


@dataclass(frozen=True)
class DatastoreServices:
    """What the base operations work with."""

    schema: Schema
    running: RunningDatastore
    gate: Gate
    read_operational: Callable[[FilterSpec | None], Awaitable[etree._Element]]
    sessions: SessionLookup
    isolation: XPathIsolation
    config_checks: Sequence[Callable[[etree._Element], None]] = ()  # beyond the schema, before a commit


def _data_reply(data: etree._Element) -> list[etree._Element]:
    data.tag = qn(NC, "data")
    return [data]


def _enum_param(params: dict[str, etree._Element], name: str, allowed: Sequence[str], default: str) -> str:
    if name not in params:
        return default
    value = _text(params[name])
    if value not in allowed:
        raise RpcError("invalid-value", f"{name} must be one of {', '.join(allowed)}", type="protocol",
                       info=[info_element("bad-element", name)])
    return value


def _error_option(params: dict[str, etree._Element]) -> str:
    option = _enum_param(params, "error-option", ("stop-on-error", "rollback-on-error", "continue-on-error"),
                         "stop-on-error")
    if option not in ATOMIC_ERROR_OPTIONS:
        raise RpcError("operation-not-supported", "continue-on-error is not supported: an edit is applied whole "
                       "or not at all (stop-on-error and rollback-on-error behave alike)", type="protocol",
                       info=[info_element("bad-element", "error-option")])
    return option


def _lock_denied(lock_error: LockError) -> RpcError:
    holder = lock_error.holder
    assert holder is not None
    return RpcError("lock-denied", f"running is already locked by session {holder.session_id}", type="protocol",
                    info=[info_element("session-id", str(holder.session_id))])


class NetconfOperations:
    """The base operations and get-schema, on the services they need."""

    def __init__(self, services: DatastoreServices) -> None:
        self._services = services
        self._schema = services.schema
        self._running = services.running
        self._gate = services.gate

    def register(self, dispatcher: Dispatcher) -> None:
        for name, handler in (
            ("get", self.get),
            ("get-config", self.get_config),
            ("edit-config", self.edit_config),
            ("validate", self.validate),
            ("lock", self.lock),
            ("unlock", self.unlock),
            ("close-session", self.close_session),
            ("kill-session", self.kill_session),
        ):
            dispatcher.register(qn(NC, name), handler)
        dispatcher.register(qn(NETCONF_MONITORING, "get-schema"), self.get_schema)

    def _reply(self, ctx: RpcContext, data: etree._Element) -> list[etree._Element]:
        allowed = self._gate.read(ctx.principal, data)
        ctx.access.read = allowed
        return _data_reply(allowed)

    async def get(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        params = _children(operation, ("filter",))
        ctx.access.datastore = "operational"
        read = parse_filter(params.get("filter"))
        try:
            state = await self._services.read_operational(read.spec)
        except FilterError as error:
            raise _filter_error(error) from None
        if read.spec is not None:  # the device applied it, originator by originator (server.operational)
            return self._reply(ctx, state)
        return self._reply(ctx, await read.apply(state, self._schema.key_index, self._services.isolation))

    async def get_config(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        params = _children(operation, ("source", "filter"))
        ctx.access.datastore = _datastore_name(_required(params, "source"))
        read = parse_filter(params.get("filter"))
        root = self._running.root
        data = await read.apply(root, self._schema.key_index, self._services.isolation)
        if data is root:  # no filter: never hand out the live tree
            data = deepcopy(data)
        return self._reply(ctx, data)

    async def edit_config(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        params = _children(operation, ("target", "default-operation", "test-option", "error-option", "config", "url"))
        ctx.access.datastore = _datastore_name(_required(params, "target"))
        if "url" in params:
            raise RpcError("operation-not-supported", "the :url capability is not supported", type="protocol")
        config = _required(params, "config")
        default_operation = _enum_param(params, "default-operation", ("merge", "replace", "none"), "merge")
        test_option = _enum_param(params, "test-option", ("test-then-set", "set", "test-only"), "test-then-set")
        _error_option(params)
        if (holder := self._running.held_by_other(ctx.principal.session_id)) is not None:
            raise RpcError("in-use", f"running is locked by session {holder.session_id}", type="protocol",
                           info=[info_element("session-id", str(holder.session_id))])
        before = self._running.root
        after = self._apply(before, config, default_operation)
        schema = self._schema
        changes = changed_paths(before, after, schema.key_index, schema.leaf_lists)
        ctx.access.writes = tuple(DataWrite(c.path, _ACCESS_OF_CHANGE[c.operation], tuple(sorted(c.namespaces.items())),
                                            c.value if c.value is not None else c.old)
                                  for c in changes)
        self._gate.check_write(ctx.principal, ctx.access.writes)
        # "set" skips nothing here: a datastore that fails the schema is never installed
        self._validate(after)
        for check in self._services.config_checks:
            check(after)
        if test_option != "test-only" and changes:
            try:
                self._running.commit(after, ctx.principal, changes)
            except StorageError as error:
                raise RpcError("resource-denied", str(error), type="application") from None
        return None

    def _apply(self, before: etree._Element, config: etree._Element, default_operation: str) -> etree._Element:
        schema = self._schema
        try:
            return apply_edit(before, config, default_operation=default_operation, keys=schema.key_index,
                              leaf_lists=schema.leaf_lists, opaque=schema.opaque)
        except EditError as error:
            raise RpcError(error.error_tag, error.error_message, type="application", path=error.error_path,
                           path_namespaces=error.path_namespaces,
                           info=[info_element(k, v) for k, v in error.error_info.items()]) from None

    def _validate(self, data: etree._Element) -> None:
        try:
            self._schema.validate_config(data)
        except ValidationError as error:
            raise RpcError(error.error_tag, error.error_message, type="application", app_tag=error.error_app_tag,
                           path=error.error_path, path_namespaces=self._schema.prefix_namespaces) from None

    async def validate(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        params = _children(operation, ("source",))
        source = _required(params, "source")
        config = source.find(qn(NC, "config"))
        if config is not None:
            self._validate(self._apply(etree.Element(qn(NC, "data")), config, "merge"))
        else:
            ctx.access.datastore = _datastore_name(source)
            self._validate(self._running.root)
        return None

    async def lock(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        ctx.access.datastore = _datastore_name(_required(_children(operation, ("target",)), "target"))
        try:
            self._running.lock(ctx.principal.session_id)
        except LockError as error:
            raise _lock_denied(error) from None
        return None

    async def unlock(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        ctx.access.datastore = _datastore_name(_required(_children(operation, ("target",)), "target"))
        try:
            self._running.unlock(ctx.principal.session_id)
        except LockError:
            raise RpcError("operation-failed", "this session does not hold the lock on running",
                           type="protocol") from None
        return None

    async def close_session(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        _children(operation, ())
        ctx.session.close_after_reply()
        return None

    async def kill_session(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        value = _text(_required(_children(operation, ("session-id",)), "session-id"))
        target = self._services.sessions.get(int(value)) if value.isdigit() else None
        if target is None or target is ctx.session:
            reason = "a session cannot kill itself" if target is ctx.session else f"no session {value!r}"
            raise RpcError("invalid-value", reason, type="protocol", info=[info_element("bad-element", "session-id")])
        self._running.release(target.session_id)
        target.close(f"killed by session {ctx.principal.session_id}")
        return None

    async def get_schema(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        params = _children(operation, ("identifier", "version", "format"), namespace=NETCONF_MONITORING)
        identifier = _text(_required(params, "identifier"))
        version = _text(params["version"]) or None if "version" in params else None
        fmt = _text(params["format"]).rsplit(":", 1)[-1] if "format" in params else "yang"
        try:
            text = self._schema.schema_text(identifier, version, fmt)
        except KeyError:
            raise RpcError("invalid-value", f"no schema {identifier!r} (version {version or 'any'}, format {fmt})",
                           type="application", info=[info_element("bad-element", "identifier")]) from None
        data = etree.Element(qn(NETCONF_MONITORING, "data"), nsmap={None: NETCONF_MONITORING})
        data.text = text
        return [data]
