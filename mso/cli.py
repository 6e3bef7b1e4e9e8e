"""The ``mso`` command. Subcommands belong to the programs (``server``, ``agent``,
``collector``...) and are found through the ``mso.commands`` entry-point group, so this
package never imports the programs it launches. Each entry point names a module with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from mso import logs


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``. Only the subcommand it names is imported (``mso collector`` does
    not load the Master, nor fail with it); with none named, every one is, for the help."""
    parser = argparse.ArgumentParser(prog="mso", description="YANG-Push telemetry for devices with a main board and line cards.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    found = {entry.name: entry for entry in entry_points(group="mso.commands")}
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    for name in [named] if named in found else sorted(found):
        module = found[name].load()
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                         help="structured log lines on stderr at this level and above (default info)")
        sub.set_defaults(run=module.run)
    return parser


async def until_stopped() -> None:
    """Return when the process is asked to stop (SIGINT or SIGTERM), so a long-running
    subcommand can close its sockets and children in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser(arguments).parse_args(arguments)
    logs.configure(args.log_level)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
