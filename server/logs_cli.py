"""``mso logs``: print a Logging NRM log's records from the server's state dir (the log store is
SQLite in WAL mode, so this reads while the server writes, or after it has stopped)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import orjson

from mso.cli_args import CliError
from mso.date_and_time import parse_datetime
from server.nrm.log_store import LOG_FILE, LogStore, StoredRecord

HELP = "print the records of a 3GPP Logging NRM log (LogInfo) from the server's state dir"
FOLLOW_SECONDS = 0.5


def _date_and_time(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", required=True, metavar="ID", help="the LogInfo id")
    parser.add_argument("--state-dir", type=Path, default=Path(".mso-state"),
                        help="the server's state dir (default ./.mso-state)")
    parser.add_argument("--since", type=_date_and_time, metavar="TIME", help="records from TIME on (RFC 3339)")
    parser.add_argument("--user", metavar="NAME", help="records of this consumer only")
    parser.add_argument("--follow", action="store_true", help="keep printing records as they are written")
    parser.add_argument("--json", action="store_true", help="one JSON object per record")


def describe(stored: StoredRecord) -> str:
    """One line: when, who, and what."""
    record = stored.record
    who = record.get("consumerIdentification", {})
    head = f"{record.get('logTime', '')} #{stored.seq} {who.get('userName') or '-'}@{who.get('sourceAddress') or '-'}" \
           f" session {who.get('sessionId', 0)}"
    if "operationInvoked" in record:
        operation = record["operationInvoked"]
        outcome = operation.get("result", "")
        if operation.get("errorTag"):
            outcome += f" ({operation['errorTag']})"
        nodes = operation.get("nodes", [])
        listed = f" nodes {len(nodes)}: {' '.join(nodes[:3])}{' ...' if len(nodes) > 3 else ''}" if nodes else ""
        return f"{head} operation {operation.get('name')} {operation.get('datastore', '-')} {outcome}{listed}"
    if "notificationInvoked" in record:
        notification = record["notificationInvoked"]
        count = f" x{notification['count']}" if "count" in notification else ""
        return (f"{head} notification {notification.get('name')}{count} subscription "
                f"{notification.get('subscriptionId')} to {','.join(notification.get('receiver', []))}")
    job = record.get("performanceMetricCollected", {})
    every = f" period {job['period']} cs" if "period" in job else (
        f" dampening {job['dampeningPeriod']} cs" if "dampeningPeriod" in job else "")
    return (f"{head} measurement job {job.get('subscriptionId')} {job.get('change')} {job.get('target')}"
            f"{every} filter {job.get('filter', '-')} to {','.join(job.get('receivers', []))}")


def _print(records: list[StoredRecord], as_json: bool) -> int:
    out = sys.stdout
    for stored in records:
        out.write((orjson.dumps(stored.record).decode() if as_json else describe(stored)) + "\n")
    out.flush()
    return records[-1].seq if records else 0


def run(args: argparse.Namespace) -> int:
    try:
        if not (args.state_dir / LOG_FILE).exists():
            raise CliError(f"no log store in {args.state_dir} (is it the server's --state-dir?)")
        store = LogStore(args.state_dir, read_only=True)
        since = args.since.timestamp() if args.since else None
        records = list(store.read(args.log, since=since, user=args.user))
        if not records and args.log not in store.logs() and not args.follow:
            raise CliError(f"no records of log {args.log!r} (logs with records: {', '.join(store.logs()) or 'none'})")
        last = _print(records, args.json)
        while args.follow:
            time.sleep(FOLLOW_SECONDS)
            last = _print(list(store.read(args.log, since=since, user=args.user, after_seq=last)), args.json) or last
    except CliError as error:
        print(f"mso logs: {error}", file=sys.stderr)
        return 2
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0
