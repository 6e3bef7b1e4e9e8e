"""Operation dispatch: one registry of handlers, the gate's operation check, and the RPC events
the observers see.

A handler receives the request context and the operation element and returns the reply's
content (``None`` means ``<ok/>``). It notes in ``ctx.access`` which datastore it worked on and
what it read or wrote; the dispatcher turns that into one ``RpcEvent`` per RPC. Messages a
session refuses before any handler could run are reported through ``refused`` the same way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from mso.rpc_error import RpcError, info_element
from server.authz import DataWrite, Gate, Principal
from server.observation import NodePaths, Observers, RpcEvent

Reply = Sequence[etree._Element] | None
Handler = Callable[["RpcContext", etree._Element], Awaitable[Reply]]


class SessionHandle(Protocol):
    """What an operation may do with the session it came on."""

    @property
    def session_id(self) -> int: ...

    def send_notification(self, message: bytes) -> None:
        """Queue one complete ``<notification>`` document."""

    def close_after_reply(self) -> None:
        """close-session: end the session once the reply is out."""

    def close(self, reason: str) -> None:
        """End the session from the server side (kill-session)."""


@dataclass
class AccessRecord:
    """What an operation touched, for the observers."""

    datastore: str | None = None
    read: etree._Element | None = None
    writes: tuple[DataWrite, ...] = ()


@dataclass
class RpcContext:
    """What a handler may know about the request it serves."""

    session: SessionHandle
    principal: Principal
    message_id: str | None
    access: AccessRecord = field(default_factory=AccessRecord)


class Dispatcher:
    def __init__(self, gate: Gate, observers: Observers, node_paths: NodePaths | None = None) -> None:
        self._gate = gate
        self._observers = observers
        self._node_paths = node_paths
        self._handlers: dict[str, Handler] = {}
        self._namespaces: set[str] = set()

    def register(self, operation: str, handler: Handler) -> None:
        """Register a handler for an operation given as a Clark name ``{namespace}name``."""
        self._handlers[operation] = handler
        self._namespaces.add(etree.QName(operation).namespace or "")

    async def dispatch(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        started = time.perf_counter()
        error: RpcError | None = None
        try:
            handler = self._handler_for(operation)
            self._gate.check_operation(ctx.principal, operation.tag)
            return await handler(ctx, operation)
        except RpcError as raised:
            error = raised
            raise
        finally:
            self._observe(ctx, operation.tag, error, time.perf_counter() - started)

    def refused(self, ctx: RpcContext, operation: str | None, error: RpcError) -> None:
        """A message answered with ``error`` before dispatch (``operation`` when it named one)."""
        self._observe(ctx, operation, error, 0.0)

    def _observe(self, ctx: RpcContext, operation: str | None, error: RpcError | None, seconds: float) -> None:
        access = ctx.access
        self._observers.rpc(RpcEvent(ctx.principal, operation, ctx.message_id, access.datastore, error, seconds,
                                     access.read if error is None else None, access.writes, self._node_paths))

    def _handler_for(self, operation: etree._Element) -> Handler:
        handler = self._handlers.get(operation.tag)
        if handler is not None:
            return handler
        qname = etree.QName(operation)
        if qname.namespace not in self._namespaces:
            raise RpcError(
                "unknown-namespace",
                f"no operation is defined in namespace {qname.namespace!r}",
                type="protocol",
                info=[info_element("bad-element", qname.localname), info_element("bad-namespace", qname.namespace or "")],
            )
        raise RpcError(
            "operation-not-supported",
            f"operation {qname.localname!r} is not supported",
            type="protocol",
            info=[info_element("bad-element", qname.localname)],
        )
