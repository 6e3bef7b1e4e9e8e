"""``mso bus``: the consumer side of the message bus, and its formatting and processing stage.

- ``mso bus poll --job ID`` prints a polling job's records (or, for a job with instructions,
  its deliveries) as JSON lines, resuming from the job's durable position;
- ``mso bus fetch --job ID`` prints what a consTrigNotif job buffered, and how much expired;
- ``mso bus worker`` runs the stage that formats and summarises for the jobs with instructions
  (``mso server`` runs one; more share the topics).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime

from collector.bus_poll import JobAccess, PollError, Start, describe_job, fetch_buffered, poll
from mso import bus
from mso.cli import until_stopped
from mso.cli_args import CliError, positive_int
from mso.date_and_time import parse_datetime

HELP = "read the message bus as a polling job's consumer (3GPP message-bus data polling MnS), or run its bus worker"


def _date_and_time(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _consumer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", required=True, metavar="ID", help="the MessageBusDataPollingJob id")
    parser.add_argument("--user", required=True, metavar="CONSUMER",
                        help=f"its consumerId; the consumerSecret is read from ${bus.PASSWORD_VARIABLE}")
    parser.add_argument("--bus", default=bus.DEFAULT_ENDPOINT, metavar="URL",
                        help=f"the broker (default {bus.DEFAULT_ENDPOINT})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    reading = actions.add_parser("poll", help="print a polling job's records as JSON lines and acknowledge them")
    _consumer_arguments(reading)
    start = reading.add_mutually_exclusive_group()
    start.add_argument("--from-start", action="store_true",
                       help="read every record the broker holds again (the durable position stays as it is)")
    start.add_argument("--since", type=_date_and_time, metavar="TIME",
                       help="read again from TIME (RFC 3339), leaving the durable position as it is")
    reading.add_argument("--follow", action="store_true", help="keep waiting for new records")
    reading.add_argument("--count", type=positive_int, metavar="N", help="stop after N records")
    fetching = actions.add_parser("fetch", help="print the deliveries a consTrigNotif polling job buffered, as JSON "
                                  "lines, and say how many expired unfetched")
    _consumer_arguments(fetching)
    working = actions.add_parser("worker", help="format and summarise for the polling jobs with instructions")
    working.add_argument("--bus", default=bus.DEFAULT_ENDPOINT, metavar="URL",
                         help=f"the broker (default {bus.DEFAULT_ENDPOINT})")
    working.add_argument("--user", default=bus.WORKER_USER, metavar="NAME",
                         help=f"its user on the broker (default {bus.WORKER_USER}); the password, if the broker has "
                         f"users, is read from ${bus.PASSWORD_VARIABLE}")


def _password() -> str:
    password = os.environ.get(bus.PASSWORD_VARIABLE)
    if not password:
        raise CliError(f"give the consumer's secret in the environment variable {bus.PASSWORD_VARIABLE}")
    return password


def _write(record: bytes) -> None:
    out = sys.stdout.buffer
    out.write(record + b"\n")
    out.flush()


async def _as_consumer(args: argparse.Namespace, password: str) -> int:
    client = await bus.connect(args.bus, user=args.user, password=password, name=f"mso-bus-{args.action}-{args.user}",
                               inbox=bus.inbox_prefix(args.user), reconnect=False)
    try:
        access: JobAccess = await describe_job(client, args.user, args.job)
        if args.action == "poll":
            await poll(client, access, Start(args.from_start, args.since), _write, follow=args.follow, limit=args.count)
            return 0
        outcome = await fetch_buffered(client, args.user, access, _write)
        total = "" if outcome.expired_total is None else f" ({outcome.expired_total} in all)"
        print(f"mso bus fetch: {outcome.fetched} deliveries fetched; {outcome.expired} expired unfetched since the "
              f"last fetch{total}", file=sys.stderr)
        return 0
    finally:
        await client.close()


async def _work(args: argparse.Namespace) -> int:
    from collector.bus_worker import BusWorker  # the schema is loaded only for the worker
    from collector.merge import list_keys
    from mso.schema import Schema

    schema = Schema.load()
    keys = list_keys(schema)
    modules = {module.namespace: module.name for module in schema.modules}  # a job's dataSelection by member names
    password = os.environ.get(bus.PASSWORD_VARIABLE)
    client = await bus.connect(args.bus, user=args.user if password else None, password=password,
                               name="mso-bus-worker", inbox=bus.inbox_prefix(args.user))
    worker = BusWorker(client, keys, modules)
    try:
        await worker.start()
        print(f"mso bus worker: serving the polling jobs' instructions from {args.bus}", file=sys.stderr, flush=True)
        stopped = asyncio.ensure_future(until_stopped())
        failed = asyncio.ensure_future(worker.failed.wait())
        await asyncio.wait((stopped, failed), return_when=asyncio.FIRST_COMPLETED)
        for waiting in (stopped, failed):
            waiting.cancel()
        if worker.failed.is_set():
            print(f"mso bus worker: {worker.failure}", file=sys.stderr)
            return 1
        return 0
    finally:
        await worker.close()
        await client.close()


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "worker":
            return asyncio.run(_work(args))
        password = _password()
        return asyncio.run(_as_consumer(args, password))
    except CliError as error:
        print(f"mso bus: {error}", file=sys.stderr)
        return 2
    except (bus.BusError, PollError) as error:
        print(f"mso bus: {error}", file=sys.stderr)
        return 1
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
