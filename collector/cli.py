"""``mso collector``: receive every originator's stream and reassemble it by subscription."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from collector.host_keys import PIN_FILE, HostKeyPolicy
from collector.knowledge import KnowledgeError, parse_time
from collector.master_channel import (KEEPALIVE_COUNT, KEEPALIVE_INTERVAL, FilterError, MasterConfig, MasterError,
                                      SubscribeRequest)
from collector.reassembler_process import PIN_TIMEOUT, ReassemblerConfig, ReassemblerError, ReassemblerService
from collector.receiver import RECEIVE_BUFFER, ReceiveBuffer
from collector.receiver_process import ReceiverConfig, ReceiverError, ReceiverService
from collector.record_formats import FORMATS, RECORD
from collector.service import Collector, CollectorConfig, StartError
from collector.workers import Front, WorkersConfig, WorkersError
from mso import bus
from mso.cli import until_stopped
from mso.cli_args import CliError, host_port, positive_int
from mso.schema import SchemaError

HELP = "receive UDP-notif from the Master and its agents, reassemble records per subscription and slot"


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", type=host_port, default=("127.0.0.1", 10001), metavar="HOST:PORT",
                        help="UDP address for UDP-notif (default 127.0.0.1:10001; port 0 picks a free one)")
    master = parser.add_argument_group("the Master (NETCONF over SSH)")
    master.add_argument("--netconf", type=host_port, metavar="HOST:PORT",
                        help="the Master: read /sn:subscriptions from it, and subscribe with --subscribe")
    master.add_argument("--user", metavar="NAME", help="user name on the Master")
    master.add_argument("--password", metavar="PASSWORD", help="password of --user")
    master.add_argument("--key", type=Path, metavar="FILE", help="private key file of --user")
    master.add_argument("--known-hosts", type=Path, metavar="FILE",
                        help="the Master's host keys, in OpenSSH's known_hosts format (default: trust the key it "
                             f"presents first and pin it in STATE_DIR/{PIN_FILE})")
    master.add_argument("--keepalive", type=positive_float, default=KEEPALIVE_INTERVAL, metavar="SECONDS",
                        help="send an SSH keepalive after this long without a word from the Master; "
                             f"{KEEPALIVE_COUNT} unanswered mean the Master is gone and the collector reconnects "
                             f"(default {KEEPALIVE_INTERVAL:g})")
    master.add_argument("--state-dir", type=Path, default=Path(".mso-state"), metavar="DIR",
                        help="where the collector keeps what it pins (default .mso-state)")
    subscribe = parser.add_argument_group("dynamic subscriptions (need --netconf)")
    subscribe.add_argument("--subscribe", action="append", default=[], metavar="FILTER",
                           help="establish a subscription to the operational datastore selected by an XPath "
                                "(module names or prefixes) or a subtree filter; repeatable")
    subscribe.add_argument("--period", type=positive_int, metavar="CS", help="periodic, every CS centiseconds")
    subscribe.add_argument("--anchor-time", metavar="TIME", help="periodic ticks at TIME + k * period (RFC 3339)")
    subscribe.add_argument("--on-change", action="store_true", help="on-change instead of periodic")
    subscribe.add_argument("--dampening", type=int, default=0, metavar="CS",
                           help="on-change dampening period in centiseconds (default 0)")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--jsonl", metavar="FILE|-",
                         help="one JSON record per line to FILE, or - for standard output "
                              "(the default when no other output is given)")
    outputs.add_argument("--nats", metavar="URL",
                         help="publish records to NATS JetStream at URL, subject mso.telemetry.<subscription-id> "
                              "(stream MSO_TELEMETRY created if no stream stores mso.telemetry.>)")
    outputs.add_argument("--nats-user", metavar="NAME",
                         help=f"log in to NATS as NAME, with the password in ${bus.PASSWORD_VARIABLE}")
    outputs.add_argument("--bus-routes", action="store_true",
                         help="publish each subscription's records (and state changes) to the subject the Master's "
                              f"routes name (KV bucket {bus.ROUTES_BUCKET}): the collector of message-bus reporting jobs")
    outputs.add_argument("--format", choices=FORMATS, default=RECORD,
                         help="the shape of each record on --jsonl and --nats: mso's own record (the default), or "
                              "an ietf-telemetry-message:message (draft-ietf-nmop-message-broker-telemetry-message)")
    outputs.add_argument("--metrics", type=host_port, metavar="HOST:PORT",
                         help="serve Prometheus metrics at http://HOST:PORT/metrics")
    outputs.add_argument("--ui", action="store_true",
                         help="a live view on the terminal: one row per subscription and per generator")
    parser.add_argument("--receive-buffer", type=positive_int, default=RECEIVE_BUFFER // 2**20, metavar="MIB",
                        help="the UDP socket's receive buffer to ask the kernel for, in MiB (default "
                             f"{RECEIVE_BUFFER // 2**20}); what it grants is printed and is a metric")
    scale = parser.add_argument_group("scale-out over NATS JetStream (need --nats)")
    roles = scale.add_mutually_exclusive_group()
    roles.add_argument("--workers", type=positive_int, metavar="N",
                       help="N receiver processes on the --listen address (SO_REUSEPORT) hand the pieces to "
                            "--reassemblers processes over NATS; this process holds the Master's session")
    roles.add_argument("--receiver", action="store_true",
                       help="be one receiver of a scaled-out collector (another host behind the same address)")
    roles.add_argument("--reassembler", action="store_true",
                       help="be one reassembler of a scaled-out collector")
    scale.add_argument("--reassemblers", type=positive_int, default=1, metavar="M",
                       help="reassembler processes with --workers (default 1)")
    scale.add_argument("--partitions", type=positive_int, default=bus.DEFAULT_PARTITIONS, metavar="P",
                       help="subscriptions are spread over P partitions, the reassemblers' units of ownership; "
                            f"the same on every process (default {bus.DEFAULT_PARTITIONS})")
    scale.add_argument("--pin-timeout", type=positive_float, default=PIN_TIMEOUT, metavar="SECONDS",
                       help="a reassembler silent this long loses its partitions to the others "
                            f"(default {PIN_TIMEOUT:g})")
    scale.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # a receiver's socket, from --workers
    scale.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # started by --workers: says nothing
    scale.add_argument("--reassembler-share", type=_share, default=(0, 1), help=argparse.SUPPRESS)
    tuning = parser.add_argument_group("reassembly")
    tuning.add_argument("--deadline", type=positive_float, default=1.5, metavar="PERIODS",
                        help="emit a slot as incomplete this many periods after its first piece (default 1.5)")
    tuning.add_argument("--reorder-window", type=positive_float, default=0.1, metavar="SECONDS",
                        help="hold on-change updates this long to emit them in event-time order (default 0.1)")


def _share(text: str) -> tuple[int, int]:
    """``I/N``: the I-th of N reassemblers started together."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"expected I/N with I < N, got {text!r}")
    return int(index), int(count)


def _master(args: argparse.Namespace) -> MasterConfig | None:
    if args.netconf is None:
        if args.subscribe:
            raise CliError("--subscribe needs --netconf HOST:PORT of the Master")
        if args.user or args.password or args.key or args.known_hosts:
            raise CliError("--user, --password, --key and --known-hosts need --netconf HOST:PORT")
        return None
    if not args.user:
        raise CliError("--netconf needs --user NAME and --password or --key")
    if (args.password is None) == (args.key is None):
        raise CliError("give exactly one of --password and --key")
    if args.key is not None and not args.key.is_file():
        raise CliError(f"--key: no such file: {args.key}")
    if args.known_hosts is not None and not args.known_hosts.is_file():
        raise CliError(f"--known-hosts: no such file: {args.known_hosts}")
    host, port = args.netconf
    host_keys = HostKeyPolicy(args.known_hosts, args.state_dir / PIN_FILE)
    return MasterConfig(host, port, args.user, host_keys, args.password, (str(args.key),) if args.key else (),
                        tuple(_requests(args)), keepalive=args.keepalive)


def _requests(args: argparse.Namespace) -> list[SubscribeRequest]:
    if not args.subscribe:
        return []
    if (args.period is None) == (not args.on_change):
        raise CliError("--subscribe needs exactly one of --period CS and --on-change")
    if args.anchor_time is not None:
        if args.period is None:
            raise CliError("--anchor-time applies to --period subscriptions")
        try:
            parse_time(args.anchor_time)
        except KnowledgeError as error:
            raise CliError(f"--anchor-time: {error}") from None
    return [SubscribeRequest(selection, args.period, args.anchor_time, None if args.period else args.dampening)
            for selection in args.subscribe]


Config = CollectorConfig | WorkersConfig | ReceiverConfig | ReassemblerConfig


def _config(args: argparse.Namespace) -> Config:
    if args.workers or args.receiver or args.reassembler:
        return _scaled_out(args)
    master = _master(args)
    jsonl = args.jsonl
    if jsonl is None and args.nats is None and not args.ui:
        jsonl = "-"
    if jsonl == "-" and args.ui:
        raise CliError("--ui and --jsonl - both want the terminal: give --jsonl FILE")
    _check_jsonl(jsonl)
    if (args.nats_user or args.bus_routes) and args.nats is None:
        raise CliError("--nats-user and --bus-routes need --nats URL")
    return CollectorConfig(listen=args.listen, jsonl=jsonl, nats=args.nats, nats_user=args.nats_user,
                           nats_password=_nats_password(args), bus_routes=args.bus_routes, metrics=args.metrics,
                           master=master, ui=args.ui, deadline_factor=args.deadline,
                           reorder_window=args.reorder_window, format=args.format,
                           receive_buffer=args.receive_buffer * 2**20)


def _check_jsonl(jsonl: str | None) -> None:
    if jsonl not in (None, "-") and not Path(jsonl).parent.is_dir():
        raise CliError(f"--jsonl: no such directory: {Path(jsonl).parent}")


def _nats_password(args: argparse.Namespace) -> str | None:
    password = os.environ.get(bus.PASSWORD_VARIABLE) if args.nats_user else None
    if args.nats_user and password is None:
        raise CliError(f"--nats-user needs the password in the environment variable {bus.PASSWORD_VARIABLE}")
    return password


def _scaled_out(args: argparse.Namespace) -> WorkersConfig | ReceiverConfig | ReassemblerConfig:
    role = "--workers" if args.workers else "--receiver" if args.receiver else "--reassembler"
    if args.nats is None:
        raise CliError(f"{role} needs --nats URL: the pieces go from the receivers to the reassemblers over NATS")
    if args.format != RECORD or args.bus_routes or args.ui:
        raise CliError(f"{role} writes mso's own records to --nats and --jsonl: "
                       "--format telemetry-message, --bus-routes and --ui need a collector of one process")
    if args.netconf is not None and not args.workers:
        raise CliError("--netconf goes to the process with --workers, which holds the Master's session")
    _check_jsonl(args.jsonl)
    if args.receiver and args.jsonl is not None:
        raise CliError("--receiver writes no records: give --jsonl to the reassemblers")
    if args.jsonl == "-" and args.workers:
        raise CliError("--workers: give --jsonl FILE; the reassemblers write to it together")
    password = _nats_password(args)
    if args.receiver:
        return ReceiverConfig(args.nats, args.partitions, args.listen, args.listen_fd,
                              args.receive_buffer * 2**20, args.nats_user, password, args.metrics)
    if args.reassembler:
        return ReassemblerConfig(args.nats, args.partitions, args.reassembler_share, args.pin_timeout, args.nats_user,
                                 password, args.jsonl, args.metrics, args.deadline, args.reorder_window)
    return WorkersConfig(args.nats, args.workers, args.reassemblers, args.partitions, args.pin_timeout, args.listen,
                         args.receive_buffer * 2**20, args.nats_user, password, args.jsonl, args.metrics,
                         _master(args), args.deadline, args.reorder_window, args.log_level)


def _say_buffer(buffer: ReceiveBuffer) -> None:
    print(f"mso collector: {'warning: ' if buffer.short else ''}{buffer.advice()}", file=sys.stderr)


async def _collect(config: Config, quiet: bool = False) -> None:
    service: Collector | Front | ReceiverService | ReassemblerService
    if isinstance(config, WorkersConfig):
        service = Front(config)
    elif isinstance(config, ReceiverConfig):
        service = ReceiverService(config)
    elif isinstance(config, ReassemblerConfig):
        service = ReassemblerService(config)
    else:
        service = Collector(config)
    try:
        await service.start()
        if not quiet:
            _announce(service)
        await until_stopped()
    finally:
        await service.close()


def _announce(service: Collector | Front | ReceiverService | ReassemblerService) -> None:
    """What the process says on stderr once it runs; the last line names its address, if any."""
    if isinstance(service, ReassemblerService):
        share, config = service.config.share, service.config
        print(f"mso collector: reassembler {share[0] + 1} of {share[1]} on {config.nats}, "
              f"{config.partitions} partitions", file=sys.stderr, flush=True)
        return
    if isinstance(service, Front):
        config = service.config
        print(f"mso collector: {config.workers} receivers and {config.reassemblers} reassemblers on {config.nats}, "
              f"{config.partitions} partitions", file=sys.stderr)
    assert service.receive_buffer is not None
    _say_buffer(service.receive_buffer)
    host, port = service.address
    print(f"mso collector: listening on {host}:{port}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        asyncio.run(_collect(config, quiet=args.child))
    except (CliError, FilterError, SchemaError) as error:
        print(f"mso collector: {error}", file=sys.stderr)
        return 2
    except (MasterError, StartError, WorkersError, ReceiverError, ReassemblerError) as error:
        print(f"mso collector: {error}", file=sys.stderr)
        return 1
    return 0
