"""Structured logs: one logfmt line per event (``ts=… level=… event=session-open session-id=3``).

Call sites log an event name as the message and put the fields in ``extra={"fields": {...}}``,
so the lines stay machine-readable without a logging dependency.
"""

from __future__ import annotations

import logging
import sys

from mso.date_and_time import format_epoch


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = format_epoch(record.created, digits=3)
        parts = [f"ts={stamp}", f"level={record.levelname.lower()}", f"logger={record.name}",
                 f"event={_quote(record.getMessage())}"]
        parts += [f"{key}={_quote(value)}" for key, value in getattr(record, "fields", {}).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += " exception=" + _quote(self.formatException(record.exc_info))
        return line


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("asyncssh").setLevel(max(logging.WARNING, root.level))
