"""``mso bus``: the consumer side of the message bus. ``mso bus poll --job ID`` prints a polling
job's records as JSON lines, resuming from the job's durable position."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime

from collector.bus_poll import JobAccess, PollError, Start, describe_job, poll
from mso import bus
from mso.cli_args import CliError, positive_int
from mso.date_and_time import parse_datetime

HELP = "read the message bus as a polling job's consumer (3GPP message-bus data polling MnS)"


def _date_and_time(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    reading = actions.add_parser("poll", help="print a polling job's records as JSON lines and acknowledge them")
    reading.add_argument("--job", required=True, metavar="ID", help="the MessageBusDataPollingJob id")
    reading.add_argument("--user", required=True, metavar="CONSUMER",
                         help=f"its consumerId; the consumerSecret is read from ${bus.PASSWORD_VARIABLE}")
    reading.add_argument("--bus", default=bus.DEFAULT_ENDPOINT, metavar="URL",
                         help=f"the broker (default {bus.DEFAULT_ENDPOINT})")
    start = reading.add_mutually_exclusive_group()
    start.add_argument("--from-start", action="store_true",
                       help="read every record the broker holds again (the durable position stays as it is)")
    start.add_argument("--since", type=_date_and_time, metavar="TIME",
                       help="read again from TIME (RFC 3339), leaving the durable position as it is")
    reading.add_argument("--follow", action="store_true", help="keep waiting for new records")
    reading.add_argument("--count", type=positive_int, metavar="N", help="stop after N records")


def _password() -> str:
    password = os.environ.get(bus.PASSWORD_VARIABLE)
    if not password:
        raise CliError(f"give the consumer's secret in the environment variable {bus.PASSWORD_VARIABLE}")
    return password


async def _poll(args: argparse.Namespace, password: str) -> int:
    client = await bus.connect(args.bus, user=args.user, password=password, name=f"mso-bus-poll-{args.user}",
                               inbox=bus.inbox_prefix(args.user), reconnect=False)
    out = sys.stdout.buffer
    try:
        access: JobAccess = await describe_job(client, args.user, args.job)

        def write(record: bytes) -> None:
            out.write(record + b"\n")
            out.flush()

        return await poll(client, access, Start(args.from_start, args.since), write, follow=args.follow,
                          limit=args.count)
    finally:
        await client.close()


def run(args: argparse.Namespace) -> int:
    try:
        password = _password()
        asyncio.run(_poll(args, password))
    except CliError as error:
        print(f"mso bus: {error}", file=sys.stderr)
        return 2
    except (bus.BusError, PollError) as error:
        print(f"mso bus: {error}", file=sys.stderr)
        return 1
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0
