"""``python -m bench.soak``: sessions and subscriptions opened and closed, round after round.

A real Master runs in this process (so it can count its own file descriptors, asyncio tasks
and live objects) behind its real SSH port; the clients run in a child process. Each round the
child opens ``--sessions`` sessions with ``--subscriptions`` periodic subscriptions each, lets
them push, then ends every session, half with close-session and half by dropping the
connection. Once the Master has seen every session end, it prints, per round: RSS, open file
descriptors, asyncio tasks, sessions and subscriptions still alive (weak references, after a
full collection) — and, as the baseline, the same figures before the first round.

What must hold whatever the timing (``--json`` for the test that checks it): descriptors and
tasks back to the baseline after every round, no session or subscription alive, and RSS after
the last round within 5 % of RSS after round 3 (the allocator keeps its high-water mark, so a
plateau is the leak test, not the first baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.rpc import PASSWORD, USER, rss_kib
from mso.namespaces import DATASTORES, INTERFACES, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from mso.netconf_client import NetconfClient
from server.master import Master, ServerConfig
from server.subscription_requests import Limits

PLATEAU_ROUND = 3
PLATEAU_TOLERANCE = 0.05


def establish(index: int) -> str:
    name = f"1/0/{index % 4}"
    return (f'<establish-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}"><datastore xmlns="{YANG_PUSH}" '
            f'xmlns:ds="{DATASTORES}">ds:operational</datastore><datastore-xpath-filter xmlns="{YANG_PUSH}" '
            f"xmlns:if=\"{INTERFACES}\">/if:interfaces/if:interface[if:name='{name}']/if:statistics"
            f'</datastore-xpath-filter><periodic xmlns="{YANG_PUSH}"><period>50</period></periodic>'
            "</establish-subscription>")


# --- the clients (a child process) ------------------------------------------------------------

async def client_round(port: int, sessions: int, subscriptions: int) -> None:
    clients = await asyncio.gather(*(NetconfClient.connect("127.0.0.1", port, username=USER, password=PASSWORD)
                                     for _ in range(sessions)))
    await asyncio.gather(*(client.rpc(establish(n)) for client in clients for n in range(subscriptions)))
    await asyncio.sleep(0.6)  # every subscription pushes at least once
    for index, client in enumerate(clients):
        if index % 2:
            client.abort()  # dropped: the connection goes without close-session
        else:
            await client.close()


async def clients(port: int, sessions: int, subscriptions: int) -> None:
    """One round per line on stdin; "done" on stdout after each."""
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        await client_round(port, sessions, subscriptions)
        print("done", flush=True)


# --- the Master and its measurements ------------------------------------------------------------

@dataclass
class Figures:
    round: int
    rss_kib: int
    fds: int
    tasks: int
    sessions_alive: int
    subscriptions_alive: int


class Census:
    """Weak references to every session and subscription the Master ever held."""

    def __init__(self, master: Master) -> None:
        self.sessions: weakref.WeakSet = weakref.WeakSet()
        self.subscriptions: weakref.WeakSet = weakref.WeakSet()
        opened, add = master.sessions.opened, master.subscriptions.add

        def session_opened(session) -> None:  # noqa: ANN001 - wraps SessionRegistry.opened
            self.sessions.add(session)
            opened(session)

        def subscription_added(subscription) -> None:  # noqa: ANN001 - wraps SubscriptionTable.add
            self.subscriptions.add(subscription)
            add(subscription)

        master.sessions.opened = session_opened  # type: ignore[method-assign]
        master.subscriptions.add = subscription_added  # type: ignore[method-assign]

    def figures(self, round_number: int) -> Figures:
        gc.collect()
        return Figures(round_number, rss_kib(os.getpid()), len(os.listdir("/proc/self/fd")), len(asyncio.all_tasks()),
                       len(self.sessions), len(self.subscriptions))


async def settled(master: Master, timeout: float = 30.0) -> None:
    """Until the Master has seen every session end and every subscription go."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(True for _ in master.sessions) or any(True for _ in master.subscriptions):
        if loop.time() > deadline:
            raise RuntimeError("sessions or subscriptions outlived their clients")
        await asyncio.sleep(0.05)
    for _ in range(20):  # the closing callbacks asyncssh and the sessions schedule
        await asyncio.sleep(0.01)


async def soak(rounds: int, sessions: int, subscriptions: int, state_dir: Path) -> list[Figures]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    master = Master(ServerConfig(port=0, agent_port=0, state_dir=state_dir, users=((USER, PASSWORD),),
                                 recovery_users=(USER,), line_cards=1, ports_per_card=4,
                                 limits=Limits(max_subscriptions_per_session=subscriptions)))
    await master.start()
    census = Census(master)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.soak", "--clients", str(master.port), "--sessions", str(sessions),
        "--subscriptions", str(subscriptions), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    figures = [census.figures(0)]
    try:
        for round_number in range(1, rounds + 1):
            child.stdin.write(b"go\n")
            await child.stdin.drain()
            if (await child.stdout.readline()).strip() != b"done":
                raise RuntimeError("the client process failed")
            await settled(master)
            figures.append(census.figures(round_number))
    finally:
        child.stdin.close()
        await child.wait()
        await master.close()
    return figures


def verdict(figures: list[Figures]) -> list[str]:
    """What did not hold, in words (empty: all held)."""
    baseline, rounds = figures[0], figures[1:]
    problems = [f"round {f.round}: {f.fds} fds, baseline {baseline.fds}" for f in rounds if f.fds != baseline.fds]
    problems += [f"round {f.round}: {f.tasks} tasks, baseline {baseline.tasks}" for f in rounds
                 if f.tasks != baseline.tasks]
    problems += [f"round {f.round}: {f.sessions_alive} sessions and {f.subscriptions_alive} subscriptions alive"
                 for f in rounds if f.sessions_alive or f.subscriptions_alive]
    if len(rounds) >= PLATEAU_ROUND:
        plateau, last = figures[PLATEAU_ROUND].rss_kib, rounds[-1].rss_kib
        if abs(last - plateau) > PLATEAU_TOLERANCE * plateau:
            problems.append(f"RSS after the last round {last} KiB, after round {PLATEAU_ROUND} {plateau} KiB "
                            f"(more than {PLATEAU_TOLERANCE:.0%} apart)")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=5, help="per session")
    parser.add_argument("--json", action="store_true", help="one JSON object per round, then the verdict")
    parser.add_argument("--clients", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the child's role
    args = parser.parse_args()
    if args.clients:
        asyncio.run(clients(args.clients, args.sessions, args.subscriptions))
        return
    with tempfile.TemporaryDirectory() as work:
        figures = asyncio.run(soak(args.rounds, args.sessions, args.subscriptions, Path(work) / "state"))
    problems = verdict(figures)
    if args.json:
        for row in figures:
            print(json.dumps(asdict(row)))
        print(json.dumps({"problems": problems}))
    else:
        print(f"{args.sessions} sessions x {args.subscriptions} subscriptions, {args.rounds} rounds "
              "(round 0: the baseline, before any session)")
        print("round   RSS MiB   fds  tasks  sessions alive  subscriptions alive")
        for row in figures:
            print(f"{row.round:5}  {row.rss_kib / 1024:8.1f}  {row.fds:4}  {row.tasks:5}  {row.sessions_alive:14}  "
                  f"{row.subscriptions_alive:19}")
        print("held: fds and tasks at the baseline, nothing alive, RSS plateau" if not problems
              else "did not hold:\n  " + "\n  ".join(problems))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
