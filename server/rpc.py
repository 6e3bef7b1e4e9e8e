"""Operation dispatch: one registry of handlers, the authorisation check, and observers.

A handler receives the request context and the operation element and returns the reply's
content (``None`` means ``<ok/>``). Observers see every completed RPC — a structured logger
today, NACM accounting or a 3GPP logging NRM later — without any handler knowing about them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from mso.rpc_error import RpcError, info_element
from server.authz import AccessControl, Principal

if TYPE_CHECKING:
    from server.session import NetconfSession

Reply = Sequence[etree._Element] | None
Handler = Callable[["RpcContext", etree._Element], Awaitable[Reply]]


@dataclass
class RpcContext:
    """What a handler may know about the request it serves."""

    session: "NetconfSession"
    principal: Principal
    message_id: str | None
    services: Any  # the Master: datastores, schema, sessions (typed there, to keep imports one-way)


@dataclass(frozen=True)
class RpcEvent:
    """One completed RPC, as observers see it."""

    session_id: int
    user: str
    operation: str
    message_id: str | None
    error: RpcError | None
    seconds: float


Observer = Callable[[RpcEvent], None]


@dataclass
class Dispatcher:
    access: AccessControl
    handlers: dict[str, Handler] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    known_namespaces: set[str] = field(default_factory=set)

    def register(self, operation: str, handler: Handler) -> None:
        """Register a handler for an operation given as a Clark name ``{namespace}name``."""
        self.handlers[operation] = handler
        self.known_namespaces.add(etree.QName(operation).namespace or "")

    async def dispatch(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        started = time.perf_counter()
        error: RpcError | None = None
        try:
            handler = self._handler_for(operation)
            self.access.check_operation(ctx.principal, operation.tag)
            return await handler(ctx, operation)
        except RpcError as raised:
            error = raised
            raise
        finally:
            event = RpcEvent(
                ctx.principal.session_id,
                ctx.principal.user,
                etree.QName(operation).localname,
                ctx.message_id,
                error,
                time.perf_counter() - started,
            )
            for observer in self.observers:
                observer(event)

    def _handler_for(self, operation: etree._Element) -> Handler:
        handler = self.handlers.get(operation.tag)
        if handler is not None:
            return handler
        qname = etree.QName(operation)
        if qname.namespace not in self.known_namespaces:
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
