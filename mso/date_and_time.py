"""``yang:date-and-time`` (RFC 6991, a profile of RFC 3339) as every part of mso writes and reads it.

Written always in UTC with ``Z``; read with any offset. Event times carry microseconds, the
times a user gave (anchor-time, stop-time) come back as precise as they were.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


def format_epoch(epoch: float, digits: int = 6) -> str:
    """POSIX time -> ``2026-11-22T02:26:35.211903Z`` with ``digits`` fraction digits (0: none)."""
    scale = 10**digits
    seconds, fraction = divmod(round(epoch * scale), scale)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{fraction:0{digits}d}Z" if digits else stamp + "Z"


def format_datetime(moment: datetime, digits: int | None = None) -> str:
    """An aware datetime in UTC; ``digits`` None keeps microseconds only when it has some."""
    if digits is None:
        digits = 6 if moment.microsecond else 0
    return format_epoch(moment.timestamp(), digits)


def parse_datetime(text: str) -> datetime:
    """``yang:date-and-time`` -> aware datetime; ValueError when it is not one (or has no offset)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"{text.strip()!r} has no time zone offset")
    return moment


def parse_epoch(text: str) -> float:
    """``yang:date-and-time`` -> POSIX time; ValueError when it is not one."""
    return parse_datetime(text).timestamp()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
