"""The one authorisation point every operation passes before and while it runs.

The dispatcher asks ``check_operation`` before any handler runs; handlers that read data pass
their result through ``filter_read`` and handlers that write name the paths they touch in
``check_write``. Today the policy permits everything; NACM (RFC 8341) replaces
``PermitAll`` without touching a handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from mso.rpc_error import RpcError


@dataclass(frozen=True)
class Principal:
    """Who is asking: the authenticated user and the session they ask from."""

    user: str
    session_id: int


@dataclass(frozen=True)
class DataWrite:
    """One node an operation is about to create, change or delete."""

    path: str
    access: str  # "create" | "update" | "delete" (RFC 8341 §3.2 access operations)


class AccessControl(Protocol):
    def check_operation(self, who: Principal, operation: str) -> None:
        """Raise ``access_denied`` unless ``who`` may invoke ``operation`` (a Clark name)."""

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        """Raise ``access_denied`` unless every write is allowed."""

    def filter_read(self, who: Principal, data: etree._Element) -> etree._Element:
        """Return ``data`` without the nodes ``who`` may not read (RFC 8341: silently omitted)."""


class PermitAll:
    """The policy until NACM lands: everything is allowed."""

    def check_operation(self, who: Principal, operation: str) -> None:
        return None

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        return None

    def filter_read(self, who: Principal, data: etree._Element) -> etree._Element:
        return data


def access_denied(message: str) -> RpcError:
    return RpcError("access-denied", message, type="protocol")
