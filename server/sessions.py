"""The Master's live NETCONF sessions and the server-wide RFC 6022 statistics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.session import NetconfSession


@dataclass
class ServerStatistics:
    """``/netconf-state/statistics`` (RFC 6022 §2.1.5)."""

    start_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    in_bad_hellos: int = 0
    in_sessions: int = 0
    dropped_sessions: int = 0
    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0


class SessionRegistry:
    def __init__(self) -> None:
        self._ids = count(1)
        self._sessions: dict[int, "NetconfSession"] = {}
        self.statistics = ServerStatistics()

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, session: "NetconfSession") -> None:
        self._sessions[session.info.session_id] = session
        self.statistics.in_sessions += 1

    def remove(self, session: "NetconfSession") -> bool:
        """Forget a session; False when it was never added or is already gone."""
        return self._sessions.pop(session.info.session_id, None) is not None

    def get(self, session_id: int) -> "NetconfSession | None":
        return self._sessions.get(session_id)

    def __iter__(self) -> Iterator["NetconfSession"]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
