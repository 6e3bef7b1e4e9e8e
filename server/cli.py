"""``mso server``: run the Master publisher."""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
from pathlib import Path

from mso.cli import until_stopped
from mso.cli_args import (
    CliError,
    host_port,
    non_negative_int,
    positive_int,
    positive_seconds,
    user_password,
)
from mso.control_channel import ControlChannelError
from mso.gc_tuning import settle_after_startup
from mso.schema import SchemaError
from mso.subscription_model import AgentReceiver, Encoding, Receiver
from server.datastore import DatastoreError
from server.master import Master, ServerConfig
from server.nrm.message_bus import BusSettings
from server.session import SEND_BUFFER_HIGH
from server.subscription_requests import Limits

ENCODINGS = {"json": Encoding.JSON, "xml": Encoding.XML, "cbor": Encoding.CBOR}
HELP = "run the Master publisher: NETCONF over SSH (RFC 6241/6242)"
log = logging.getLogger("mso.server")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", type=host_port, default=("127.0.0.1", 8300), metavar="HOST:PORT",
                        help="address of the NETCONF SSH server (default 127.0.0.1:8300; port 0 picks a free one)")
    parser.add_argument("--state-dir", type=Path, default=Path(".mso-state"),
                        help="where the host key and the running configuration are kept (default ./.mso-state)")
    parser.add_argument("--user", type=user_password, action="append", default=[], metavar="NAME:PASSWORD",
                        help="a user allowed to log in with a password (repeatable; meant for tests and demos)")
    parser.add_argument("--recovery-user", action="append", default=[], metavar="NAME",
                        help="a user NACM (RFC 8341) does not restrict, to recover from a locked-out "
                             "configuration (repeatable; NACM denies writes to everyone else until rules permit them)")
    parser.add_argument("--authorized-keys", type=Path, metavar="FILE",
                        help="an OpenSSH authorized_keys file of public keys allowed to log in (any user name)")
    parser.add_argument("--max-message-bytes", type=positive_int, default=16 * 1024 * 1024,
                        help="largest NETCONF message accepted; a larger one ends that session (default 16 MiB)")
    parser.add_argument("--no-password", action="store_true",
                        help="offer public-key authentication only (--authorized-keys)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-sessions", type=positive_int, metavar="N",
                        help="NETCONF sessions open at once; more are refused at the SSH channel (default no limit)")
    limits.add_argument("--max-subscriptions", type=positive_int, default=Limits.max_subscriptions, metavar="N",
                        help=f"subscriptions served, dynamic and configured (default {Limits.max_subscriptions:,})")
    limits.add_argument("--max-subscriptions-per-session", type=positive_int,
                        default=Limits.max_subscriptions_per_session, metavar="N",
                        help=f"dynamic subscriptions one session may hold (default {Limits.max_subscriptions_per_session})")
    limits.add_argument("--min-period", type=positive_int, default=Limits.min_period_cs, metavar="CS",
                        help="shortest period accepted, in centiseconds (shorter: period-unsupported with period-hint)")
    limits.add_argument("--max-pending-bytes", type=positive_int, default=SEND_BUFFER_HIGH, metavar="BYTES",
                        help="unsent bytes a session may have before its subscriptions are suspended "
                             f"(unsupportable-volume; default {SEND_BUFFER_HIGH // 2**20} MiB)")
    limits.add_argument("--xpath-budget", type=positive_seconds, default=ServerConfig.xpath_budget, metavar="SECONDS",
                        help="how long a read's costly XPath filter (a predicate that scans all data) may run, in a "
                             f"child process; past it the read gets operation-failed (default {ServerConfig.xpath_budget:g})")
    parser.add_argument("--line-cards", type=non_negative_int, default=3,
                        help="line cards the Master simulates itself, slots 1..N (default 3); give 0 when "
                             "line-card agents (mso agent) serve the cards")
    parser.add_argument("--ports", type=positive_int, default=48,
                        help="interfaces per simulated line card (default 48)")
    parser.add_argument("--agent-listen", type=host_port, default=("127.0.0.1", 8301), metavar="HOST:PORT",
                        help="control channel address the line-card agents register at (default 127.0.0.1:8301)")
    parser.add_argument("--agent-timeout", type=positive_seconds, default=3.0, metavar="SECONDS",
                        help="an agent silent this long is gone and its subscriptions re-decomposed (default 3)")
    parser.add_argument("--dynamic-receiver", type=agent_receiver, metavar="HOST:PORT[:ENCODING]",
                        help="UDP-notif receiver for agents' shares of dynamic subscriptions that name none "
                             "(encoding json, xml or cbor; default json)")
    parser.add_argument("--centralized", action="store_true",
                        help="baseline mode: agents send their data to the Master, which pushes everything itself")
    bus = parser.add_argument_group("message bus (the 3GPP message-bus MnS: mso-3gpp-message-bus)")
    bus.add_argument("--bus-credentials", type=user_password, metavar="USER:PASSWORD",
                     help="log in to an existing broker at the MessageBrokingFunction's brokerEndpoint as USER "
                          "(when the Master starts its own broker it makes its own users)")
    bus.add_argument("--bus-collector", type=host_port, metavar="HOST:PORT",
                     help="a collector already running (mso collector --nats URL --bus-routes) that reassembles "
                          "the reporting jobs' subscriptions, instead of the one the Master starts")


def _config(args: argparse.Namespace) -> ServerConfig:
    if not args.user and not args.authorized_keys:
        raise CliError("no user configured: give --user NAME:PASSWORD or --authorized-keys FILE")
    if args.no_password and not args.authorized_keys:
        raise CliError("--no-password leaves no way to log in: give --authorized-keys FILE")
    if args.authorized_keys and not args.authorized_keys.is_file():
        raise CliError(f"--authorized-keys: no such file: {args.authorized_keys}")
    host, port = args.listen
    return ServerConfig(
        host=host,
        port=port,
        state_dir=args.state_dir,
        users=tuple(args.user),
        authorized_keys=args.authorized_keys,
        max_message_bytes=args.max_message_bytes,
        line_cards=args.line_cards,
        ports_per_card=args.ports,
        agent_host=args.agent_listen[0],
        agent_port=args.agent_listen[1],
        agent_timeout=args.agent_timeout,
        centralized=args.centralized,
        dynamic_receiver=args.dynamic_receiver,
        bus=BusSettings(credentials=args.bus_credentials, collector=args.bus_collector),
        recovery_users=tuple(args.recovery_user),
        passwords=not args.no_password,
        max_sessions=args.max_sessions,
        max_pending_bytes=args.max_pending_bytes,
        xpath_budget=args.xpath_budget,
        limits=Limits(min_period_cs=args.min_period, max_subscriptions_per_session=args.max_subscriptions_per_session,
                      max_subscriptions=args.max_subscriptions),
    )


def agent_receiver(text: str) -> AgentReceiver:
    """``HOST:PORT`` or ``HOST:PORT:ENCODING`` (json, xml, cbor)."""
    head, _, last = text.rpartition(":")
    address, name = (head, last) if last in ENCODINGS else (text, "json")
    host, port = host_port(address)
    return AgentReceiver(Receiver("dynamic-receiver", host, port), ENCODINGS[name])


def _raise_fd_limit() -> None:
    """Each session holds a socket: allow as many as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(config: ServerConfig) -> None:
    _raise_fd_limit()
    master = Master(config, announce=lambda line: print(f"mso server: {line}", flush=True))
    await master.start()
    settle_after_startup()
    agents = f"{config.agent_host}:{master.agent_port}"
    print(f"mso server: listening on {config.host}:{master.port} (agents at {agents}, state dir {config.state_dir})",
          flush=True)
    await until_stopped()
    log.info("shutdown")
    await master.close()


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        asyncio.run(_serve(config))
    except (CliError, DatastoreError, SchemaError, ControlChannelError) as error:
        print(f"mso server: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"mso server: cannot listen on {args.listen[0]}:{args.listen[1]}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0
