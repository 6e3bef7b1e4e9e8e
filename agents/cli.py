"""``mso agent``: run one line card's agent process."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from agents.agent import Agent, AgentConfig, RegistrationRefused
from mso import control_channel as cc
from mso.cli_args import host_port, positive_int
from mso.gc_tuning import settle_after_startup
from mso.generators import (
    FIRST_AGENT_ID,
    LAST_PUBLISHER_ID,
    MASTER_GENERATOR,
    is_agent_id,
)
from mso.schema import Schema, SchemaError
from mso.subscription_model import Encoding

HELP = "run a line-card agent: registers with the Master and pushes its card's share of each subscription"


def _generator_id(text: str) -> int:
    value = positive_int(text)
    if not is_agent_id(value):
        raise argparse.ArgumentTypeError(f"a line card's generator id is {FIRST_AGENT_ID}..{LAST_PUBLISHER_ID} "
                                         f"({MASTER_GENERATOR} is the Master)")
    return value


def _slot(text: str) -> int:
    value = positive_int(text)
    if value > 255:
        raise argparse.ArgumentTypeError("slots are 1..255 (0 is the main board)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", type=_generator_id, required=True, metavar="N",
                        help="message-generator-id and UDP-notif publisher id of this card (2 and up)")
    parser.add_argument("--slot", type=_slot, required=True, metavar="S", help="slot of the line card (1..255)")
    parser.add_argument("--master", type=host_port, default=("127.0.0.1", 8301), metavar="HOST:PORT",
                        help="the Master's agent control address (default 127.0.0.1:8301)")
    parser.add_argument("--interfaces", type=positive_int, default=48, metavar="K",
                        help="ports of the simulated card (default 48)")
    parser.add_argument("--min-period", type=positive_int, default=1, metavar="CS",
                        help="shortest period it accepts, in centiseconds (default 1)")
    parser.add_argument("--no-on-change", action="store_true", help="announce no on-change support")
    parser.add_argument("--secret-file", type=Path, default=Path(".mso-state") / cc.SECRET_FILE, metavar="FILE",
                        help=f"the secret shared with the Master: {cc.SECRET_FILE} in its state dir "
                             f"(default .mso-state/{cc.SECRET_FILE})")


def _config(args: argparse.Namespace) -> AgentConfig:
    capability = cc.Capability(tuple(Encoding), args.min_period, not args.no_on_change)
    return AgentConfig(args.id, args.slot, args.master, args.interfaces, capability,
                       secret=cc.read_secret(args.secret_file))


async def _serve(agent: Agent) -> None:
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    announce = asyncio.create_task(_announce(agent))
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        announce.cancel()


async def _announce(agent: Agent) -> None:
    await agent.registered.wait()
    settle_after_startup()  # the schema and the card are built
    config = agent.config
    print(f"mso agent {config.generator_id}: slot {config.slot}, registered with "
          f"{config.master[0]}:{config.master[1]}", flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        agent = Agent(_config(args), Schema.load())
        asyncio.run(_serve(agent))
    except RegistrationRefused as error:
        print(f"mso agent {args.id}: refused by the Master: {error}", file=sys.stderr)
        return 1
    except (SchemaError, cc.ControlChannelError) as error:
        print(f"mso agent {args.id}: {error}", file=sys.stderr)
        return 2
    return 0
