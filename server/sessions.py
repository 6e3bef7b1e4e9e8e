"""The Master's live NETCONF sessions: the host every session talks to, and the RFC 6022
server-wide statistics.

Whatever a session held ends with it (its lock on running, its dynamic subscriptions): the
parts that hold such things register a callback in ``on_closed``; those that react to a
session's full send buffer, in ``on_paused``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from itertools import count

from lxml import etree

from mso.rpc_error import RpcError
from server.rpc import Dispatcher, Reply, RpcContext
from server.session import SEND_BUFFER_HIGH, NetconfSession, ServerStatistics

log = logging.getLogger("mso.session")


class SessionRegistry:
    """Implements ``server.session.SessionHost``."""

    def __init__(self, dispatcher: Dispatcher, capabilities: Sequence[str], max_message_bytes: int, *,
                 max_sessions: int | None = None, max_pending_bytes: int = SEND_BUFFER_HIGH) -> None:
        self._dispatcher = dispatcher
        self._max_sessions = max_sessions
        self.max_pending_bytes = max_pending_bytes
        self.capabilities = capabilities
        self.max_message_bytes = max_message_bytes
        self.statistics = ServerStatistics()
        self.on_closed: list[Callable[[int], None]] = []
        self.on_paused: list[Callable[[int, bool], None]] = []
        self._ids = count(1)
        self._sessions: dict[int, NetconfSession] = {}

    # --- SessionHost ----------------------------------------------------------------------------

    def new_session_id(self) -> int:
        return next(self._ids)

    def admits(self) -> bool:
        if self._max_sessions is None or len(self._sessions) < self._max_sessions:
            return True
        self.statistics.refused_sessions += 1
        return False

    def opened(self, session: NetconfSession) -> None:
        self._sessions[session.info.session_id] = session
        self.statistics.in_sessions += 1
        info = session.info
        log.info("session-open", extra={"fields": {"session-id": info.session_id, "user": info.user,
                                                   "source": info.source_host}})

    def closed(self, session: NetconfSession, dropped: bool) -> None:
        info = session.info
        if self._sessions.pop(info.session_id, None) is None:
            return
        if dropped:
            self.statistics.dropped_sessions += 1
        log.info("session-close", extra={"fields": {"session-id": info.session_id, "user": info.user}})
        for callback in self.on_closed:
            callback(info.session_id)

    def paused(self, session_id: int, paused: bool) -> None:
        for callback in self.on_paused:
            callback(session_id, paused)

    async def dispatch(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        return await self._dispatcher.dispatch(ctx, operation)

    def refused(self, ctx: RpcContext, operation: str | None, error: RpcError) -> None:
        self._dispatcher.refused(ctx, operation, error)

    # --- lookups ----------------------------------------------------------------------------------

    def get(self, session_id: int) -> NetconfSession | None:
        return self._sessions.get(session_id)

    def close_all(self, reason: str) -> None:
        for session in list(self._sessions.values()):
            session.close(reason)

    def __iter__(self) -> Iterator[NetconfSession]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
