"""``python -m bench.scaling``: does the Master's cost stay flat as line cards are added?

Real processes on 127.0.0.1: one ``mso server`` that simulates only its main board
(``--line-cards 0``, so its own share is the one interface ``mgmt0``) and 1, 2, 4, 8 ``mso agent``
processes (generators 2..9, slots 1..8) of 1,000 interfaces each, once distributed and once with
``--centralized``. For each agent count a fresh NETCONF session establishes one dynamic periodic
subscription (period 10 = 100 ms) on ds:operational selecting one counter per interface, the
subtree filter ``<interfaces><interface><statistics><in-octets/>`` (~59 KB of JSON per card and
period at 1,000 interfaces; whole interface entries would be ~0.5 MB per card and period, more
than one agent encodes in 100 ms), and an ``agent-receiver`` at a UDP socket of the bench.
The same selection as an XPath filter (``/if:interfaces/if:interface/if:statistics/if:in-octets``)
is measured in the interfaces rows only: the Master samples its own share of an XPath filter
from a snapshot of its whole operational datastore, Resource-Location Table included (one entry
per interface of every card), so there its cost per period grows with the cards' interfaces; the
subtree filter narrows that snapshot to ietf-interfaces and shows the architecture's cost.

What is counted is the push-updates the subscriber gets, whatever the route:
- distributed: each agent pushes its share as UDP-notif (JSON) under its own publisher id to the
  socket; a message counts once complete (reassembled from its 1,400-byte segments), and the
  Master's own share (mgmt0) arrives as NETCONF notifications;
- centralized: every agent sends its data to the Master over the control channel and the Master
  pushes it as its own, so every push-update arrives over the NETCONF session.
A dynamic subscription (rather than a configured one, which would use UDP in both modes) is
chosen because that is the route a subscriber's data takes: in centralized mode the Master's cost
includes encrypting everything on the SSH session, which is what distribution saves it.
Expected is (agents + 1) x 10 updates/s in both modes.

Per (mode, agents) it prints updates/s delivered against expected, the Master's CPU seconds
(the scheduler's run time of all its threads, over the counted window, after a warm-up) per 1,000
delivered updates and as a share of one core, the agents' and the bench client's CPU, any
UDP-notif message lost (a gap in a publisher's message ids); the Master's CPU with all agents
registered and no subscription (its floor: heartbeats); then the distributed/centralized ratio of the Master's CPU per 1,000 updates at each agent count; the
Master's CPU per period with one card of 100 vs 1,000 interfaces, for both kinds of filter; and
how long after an agent is lost the subscriber gets ``subscription-modified``
(``--agent-timeout 1``): killed with -9 (the control connection closes) and stopped with SIGSTOP
(a hung agent, found by the heartbeat timeout; printed minus the timeout). On a 2-core machine
the largest points saturate the CPU: the agents' share of one counter for 1,000 interfaces costs
each ~50 ms of CPU per period, and an agent that cannot keep up skips ticks, which the
delivered/expected column shows. The Master's CPU per 1,000 updates is per update delivered, so
the two modes compare at what they actually delivered. No figure is asserted: targets are
printed beside. ``--quick``: 1 and 2 agents of 200 interfaces, 3 s windows (~1 min).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from bench.push import cpu_seconds
from bench.rpc import PASSWORD, USER, stop
from mso.namespaces import DATASTORES, DISTRIBUTED_EXPORT, INTERFACES, MSO, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.netconf_client import NetconfClient
from mso.udp_notif import Reassembler

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
PUSH_UPDATE = qn(YP, "push-update")
MODIFIED = qn(SN, "subscription-modified")
SUSPENDED = qn(SN, "subscription-suspended")
GENERATOR_ID = qn(MSO, "message-generator-id")
PUSH_UPDATE_JSON = b'"ietf-yang-push:push-update"'
# the same selection, one counter per interface, as each kind of filter
FILTERS = {
    "subtree": (f'<datastore-subtree-filter xmlns="{YP}"><interfaces xmlns="{INTERFACES}"><interface><statistics>'
                "<in-octets/></statistics></interface></interfaces></datastore-subtree-filter>"),
    "xpath": (f'<datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">'
              "/if:interfaces/if:interface/if:statistics/if:in-octets</datastore-xpath-filter>"),
}
MODES = ("distributed", "centralized")
PERIOD_CS = 10
PERIODS_PER_S = 100 / PERIOD_CS
AGENT_TIMEOUT_S = 1.0
RECEIVE_BUFFER = 4 * 1024 * 1024
STARTUP_S = 30.0
MASTER_LINE = re.compile(r"listening on [\d.]+:(\d+) \(agents at [\d.]+:(\d+)")


def establish_request(filter_kind: str, receiver_port: int) -> str:
    return (f'<establish-subscription xmlns="{SN}">'
            f'<datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational</datastore>{FILTERS[filter_kind]}'
            f'<periodic xmlns="{YP}"><period>{PERIOD_CS}</period></periodic>'
            f'<agent-receiver xmlns="{DISTRIBUTED_EXPORT}" xmlns:sn="{SN}"><address>127.0.0.1</address>'
            f"<port>{receiver_port}</port><encoding>sn:encode-json</encoding></agent-receiver>"
            "</establish-subscription>")


def generators(element: etree._Element) -> list[str]:
    return [leaf.text or "" for leaf in element.iter(GENERATOR_ID)]


# --- the device: a Master and its line-card agents, each a real process -------------------------

def first_line(process: subprocess.Popen, log: Path, what: str, expected: str) -> str:
    """The process's first stdout line, which must contain ``expected``; else an error with the
    end of its log (the state directory goes when the bench ends)."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], STARTUP_S)
    line = process.stdout.readline() if readable else ""
    if expected not in line:
        raise RuntimeError(f"{what} did not start: {line!r}\n{log.read_text(errors='replace')[-2000:]}")
    return line


@dataclass
class Device:
    """A Master started with ``master_args`` and the agents added to it; logs go to ``state_dir``."""

    state_dir: Path
    master_args: tuple[str, ...]
    master: subprocess.Popen | None = None
    port: int = 0
    agent_port: int = 0
    agents: dict[int, subprocess.Popen] = field(default_factory=dict)  # by generator id

    def start_master(self) -> None:
        log = self.state_dir / "master.log"
        with log.open("ab") as stderr:
            self.master = subprocess.Popen(
                [sys.executable, "-m", "mso", "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0",
                 "--state-dir", str(self.state_dir), "--user", f"{USER}:{PASSWORD}", "--recovery-user", USER,
                 "--line-cards", "0",
                 "--log-level", "warning", *self.master_args],
                stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
        match = MASTER_LINE.search(first_line(self.master, log, "mso server", "listening on"))
        assert match is not None, "the line announcing the ports changed"
        self.port, self.agent_port = int(match[1]), int(match[2])

    def start_agents(self, generator_ids: list[int], interfaces: int) -> None:
        """Start agents (generator N on slot N - 1) together, then wait until each is registered."""
        for generator in generator_ids:
            with (self.state_dir / f"agent-{generator}.log").open("ab") as stderr:
                self.agents[generator] = subprocess.Popen(
                    [sys.executable, "-m", "mso", "agent", "--id", str(generator), "--slot", str(generator - 1),
                     "--master", f"127.0.0.1:{self.agent_port}", "--interfaces", str(interfaces),
                     "--secret-file", str(self.state_dir / "agent-secret"), "--log-level", "warning"],
                    stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
        for generator in generator_ids:
            first_line(self.agents[generator], self.state_dir / f"agent-{generator}.log", f"mso agent {generator}",
                       "registered with")

    def grow_to(self, count: int, interfaces: int) -> None:
        self.start_agents(list(range(len(self.agents) + 2, count + 2)), interfaces)

    def agent_cpu(self) -> dict[int, float]:
        return {generator: cpu_seconds(agent.pid) for generator, agent in self.agents.items()}

    @property
    def master_pid(self) -> int:
        assert self.master is not None
        return self.master.pid

    def stop_all(self) -> None:
        for agent in self.agents.values():
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGCONT)  # a stopped agent would not act on SIGTERM
                stop(agent)
        if self.master is not None and self.master.poll() is None:
            stop(self.master)


@contextmanager
def device(*master_args: str) -> Iterator[Device]:
    with tempfile.TemporaryDirectory(prefix="mso-scaling-") as state:
        started = Device(Path(state), master_args)
        try:
            started.start_master()
            yield started
        finally:
            started.stop_all()


# --- the subscriber: one NETCONF session and one UDP socket --------------------------------------

class Tally(asyncio.DatagramProtocol):
    """Push-updates of one subscription as they reach the subscriber, over UDP-notif and NETCONF,
    and the arrival time and generator list of each subscription-modified."""

    def __init__(self) -> None:
        self.reassembler = Reassembler()
        self.udp_updates = 0
        self.message_ids: dict[int, list[int]] = {}  # publisher id -> [lowest, highest, messages received]
        self.netconf_updates = 0
        self.suspended = 0
        self.modified: asyncio.Queue[tuple[float, list[str]]] = asyncio.Queue()

    @property
    def updates(self) -> int:
        return self.udp_updates + self.netconf_updates

    @property
    def udp_lost(self) -> int:
        """UDP-notif messages missing between the first and the last received of each publisher."""
        return sum(highest - lowest + 1 - received for lowest, highest, received in self.message_ids.values())

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = self.reassembler.feed(data, addr)
        if message is None:
            return
        seen = self.message_ids.setdefault(message.publisher_id, [message.message_id, message.message_id, 0])
        seen[0], seen[1], seen[2] = min(seen[0], message.message_id), max(seen[1], message.message_id), seen[2] + 1
        if PUSH_UPDATE_JSON in message.payload[:200]:
            self.udp_updates += 1

    def notification(self, notification: etree._Element) -> None:
        event = notification[1]
        if event.tag == PUSH_UPDATE:
            self.netconf_updates += 1
        elif event.tag == MODIFIED:
            self.modified.put_nowait((time.monotonic(), generators(event)))
        elif event.tag == SUSPENDED:
            self.suspended += 1


@dataclass
class Subscriber:
    client: NetconfClient
    transport: asyncio.DatagramTransport
    tally: Tally
    generators: list[str]

    async def close(self) -> None:
        await self.client.close()
        await self.client.wait_closed()
        self.transport.close()


async def subscribe(master_port: int, filter_kind: str) -> Subscriber:
    """A session with one subscription whose agents' share goes to a fresh UDP socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.bind(("127.0.0.1", 0))
    tally = Tally()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: tally, sock=sock)
    client = await NetconfClient.connect("127.0.0.1", master_port, username=USER, password=PASSWORD, timeout=60)
    client.on_notification = tally.notification
    reply = await client.rpc(establish_request(filter_kind, sock.getsockname()[1]), timeout=60)
    return Subscriber(client, transport, tally, generators(reply))


# --- throughput and the Master's CPU ------------------------------------------------------------

@dataclass
class Point:
    mode: str
    filter_kind: str
    agents: int
    interfaces: int
    seconds: float
    updates: int
    suspended: int
    udp_lost: int  # UDP-notif messages lost on the way to the bench's socket, over the whole subscription
    master_cpu: float  # seconds over the window
    agent_cpu: float  # seconds over the window, all agents together
    client_cpu: float  # the bench process

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.seconds

    @property
    def expected_per_s(self) -> float:
        return (self.agents + 1) * PERIODS_PER_S

    @property
    def master_cpu_per_1000(self) -> float:
        return self.master_cpu / max(1, self.updates) * 1000

    @property
    def master_cpu_per_period_ms(self) -> float:
        return self.master_cpu / (self.seconds * PERIODS_PER_S) * 1000

    def share(self, cpu: float) -> float:
        """Of one core."""
        return cpu / self.seconds


async def measure(bench: Device, mode: str, filter_kind: str, interfaces: int, warmup: float,
                  window: float) -> Point:
    subscriber = await subscribe(bench.port, filter_kind)
    agents = len(bench.agents)
    announced = ["1"] if mode == "centralized" else [str(g) for g in range(1, agents + 2)]
    if subscriber.generators != announced:
        print(f"  ! {mode}, {agents} agents: the establish reply lists generators {subscriber.generators}, "
              f"expected {announced}")
    await asyncio.sleep(warmup)
    tally = subscriber.tally
    updates, suspended, started = tally.updates, tally.suspended, time.perf_counter()
    master_cpu, agent_cpu, client_cpu = cpu_seconds(bench.master_pid), bench.agent_cpu(), time.process_time()
    await asyncio.sleep(window)
    seconds = time.perf_counter() - started
    point = Point(mode, filter_kind, agents, interfaces, seconds, tally.updates - updates, tally.suspended - suspended,
                  tally.udp_lost,
                  cpu_seconds(bench.master_pid) - master_cpu,
                  sum(cpu - agent_cpu[generator] for generator, cpu in bench.agent_cpu().items()),
                  time.process_time() - client_cpu)
    await subscriber.close()
    return point


async def idle_master_ms_per_period(bench: Device, window: float) -> float:
    """The Master's CPU per period with its agents registered and no subscription."""
    await asyncio.sleep(1.0)  # the last subscription's session is gone
    before = cpu_seconds(bench.master_pid)
    await asyncio.sleep(window)
    return (cpu_seconds(bench.master_pid) - before) / (window * PERIODS_PER_S) * 1000


async def scale(mode: str, filter_kind: str, agent_counts: list[int], interfaces: int, warmup: float,
                window: float, idle_window: float = 0.0) -> tuple[list[Point], float]:
    """One Master in ``mode``, agents added up to each count in turn, one measurement per count;
    then, if ``idle_window``, the Master's idle CPU ms per period with the last count (else 0)."""
    points = []
    with device(*(["--centralized"] if mode == "centralized" else [])) as bench:
        for count in agent_counts:
            bench.grow_to(count, interfaces)
            points.append(await measure(bench, mode, filter_kind, interfaces, warmup, window))
        return points, await idle_master_ms_per_period(bench, idle_window) if idle_window else 0.0


HEADER = (f"  {'mode':<12}{'agents':>6}{'ifaces':>7}{'updates/s':>11}{'expected':>10}{'delivered':>10}"
          f"{'Master CPU s':>14}{'Master':>8}{'agents':>8}{'bench':>7}")
UNITS = f"  {'':<12}{'':>6}{'/card':>7}{'':>11}{'/s':>10}{'':>10}{'/1,000 upd':>14}{'%core':>8}{'%core':>8}{'%core':>7}"


def row(point: Point) -> str:
    notes = []
    if point.suspended:
        notes.append(f"subscription-suspended x{point.suspended}")
    if point.udp_lost:
        notes.append(f"UDP-notif messages lost x{point.udp_lost}")
    return (f"  {point.mode:<12}{point.agents:>6}{point.interfaces:>7,}{point.updates_per_s:>11.1f}"
            f"{point.expected_per_s:>10.0f}{point.updates_per_s / point.expected_per_s:>10.0%}"
            f"{point.master_cpu_per_1000:>14.3f}{point.share(point.master_cpu):>8.1%}"
            f"{point.share(point.agent_cpu):>8.0%}{point.share(point.client_cpu):>7.0%}   {'; '.join(notes)}").rstrip()


def print_scaling(points: list[Point], idle: dict[str, float]) -> None:
    print(HEADER)
    print(UNITS)
    for point in points:
        print(row(point))
    print(f"  the Master with {points[-1].agents} agents registered and no subscription: "
          + ", ".join(f"{mode} {idle[mode]:.2f} ms" for mode in MODES) + " of CPU per period")
    centralized = {p.agents: p for p in points if p.mode == "centralized"}
    print("  distributed / centralized, Master CPU per 1,000 delivered updates   (target at 8 agents <= 5%)")
    for point in points:
        if point.mode == "distributed" and point.agents in centralized:
            baseline = centralized[point.agents]
            ratio = point.master_cpu_per_1000 / baseline.master_cpu_per_1000
            print(f"    agents {point.agents}: {point.master_cpu_per_1000:.3f} / {baseline.master_cpu_per_1000:.3f} s"
                  f" = {ratio:6.1%}"
                  f"   (Master CPU per period {point.master_cpu_per_period_ms:.2f} / "
                  f"{baseline.master_cpu_per_period_ms:.2f} ms)")


def print_flatness(points: list[Point]) -> None:
    print("Master CPU per period vs interfaces per card, 1 agent   (target: flat in distributed mode)")
    for filter_kind in FILTERS:
        for mode in MODES:
            rows = sorted((p for p in points if (p.filter_kind, p.mode) == (filter_kind, mode)),
                          key=lambda p: p.interfaces)
            figures = "   ".join(f"{p.interfaces:>5,} interfaces: {p.master_cpu_per_period_ms:6.2f} ms "
                                   f"({p.updates_per_s:4.1f} updates/s)" for p in rows)
            growth = rows[-1].master_cpu_per_period_ms / rows[0].master_cpu_per_period_ms
            print(f"  {filter_kind:<8}{mode:<12}{figures}   x{growth:.2f}")


# --- losing an agent ------------------------------------------------------------------------------

async def modified_after(tally: Tally, lost: str, since: float) -> float:
    """Seconds from ``since`` to the subscription-modified that leaves generator ``lost`` out."""
    while True:
        arrived, listed = await asyncio.wait_for(tally.modified.get(), AGENT_TIMEOUT_S + 10)
        if lost not in listed:
            return arrived - since


async def rejoined(tally: Tally, generator: str) -> None:
    while generator not in (await asyncio.wait_for(tally.modified.get(), STARTUP_S))[1]:
        pass


async def agent_loss(repeats: int, interfaces: int) -> tuple[list[float], list[float]]:
    """kill -9 of generator 2 and SIGSTOP of generator 3, ``repeats`` times each, on a distributed
    device of 3 agents; each comes back before the next loss. Seconds to subscription-modified."""
    killed, stopped = [], []
    with device("--agent-timeout", f"{AGENT_TIMEOUT_S:g}") as bench:
        bench.grow_to(3, interfaces)
        subscriber = await subscribe(bench.port, "subtree")
        tally = subscriber.tally
        for _ in range(repeats):
            await asyncio.sleep(1.0)
            os.killpg(bench.agents[2].pid, signal.SIGKILL)
            killed.append(await modified_after(tally, "2", time.monotonic()))
            bench.agents[2].wait()
            await asyncio.to_thread(bench.start_agents, [2], interfaces)
            await rejoined(tally, "2")
            await asyncio.sleep(1.0)
            os.killpg(bench.agents[3].pid, signal.SIGSTOP)
            stopped.append(await modified_after(tally, "3", time.monotonic()))
            os.killpg(bench.agents[3].pid, signal.SIGCONT)  # it finds its connection gone and registers again
            await rejoined(tally, "3")
        await subscriber.close()
    return killed, stopped


def seconds_list(samples: list[float]) -> str:
    return " ".join(f"{sample:.3f}" for sample in samples) + f"   max {max(samples):.3f} s"


def print_agent_loss(killed: list[float], stopped: list[float], interfaces: int) -> None:
    print(f"agent lost -> subscription-modified, --agent-timeout {AGENT_TIMEOUT_S:g}, "
          f"3 agents x {interfaces:,} interfaces")
    print(f"  kill -9:                  {seconds_list(killed)}   (target <= timeout + 1 s = {AGENT_TIMEOUT_S + 1:g} s)")
    print(f"  SIGSTOP, minus timeout:   {seconds_list([s - AGENT_TIMEOUT_S for s in stopped])}   (target <= 1 s; "
          f"heartbeats every timeout/3, so it may be negative)")


# --- the run ---------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> None:
    print(f"period {PERIOD_CS * 10} ms, one in-octets per interface, JSON over UDP-notif; {args.window:g} s counted "
          f"after {args.warmup:g} s warm-up; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    timing = args.warmup, args.window
    points: list[Point] = []
    idle: dict[str, float] = {}
    for mode in MODES:
        scaled, idle[mode] = await scale(mode, "subtree", args.agents, args.interfaces, *timing, args.window)
        points += scaled
    print(f"subtree filter <interfaces><interface><statistics><in-octets/>, {args.interfaces:,} interfaces per card")
    print_scaling(points, idle)
    single = [p for p in points if p.agents == 1]
    for mode in MODES:
        single += (await scale(mode, "xpath", [1], args.interfaces, *timing))[0]
        for filter_kind in FILTERS:
            single += (await scale(mode, filter_kind, [1], args.few_interfaces, *timing))[0]
    print_flatness(single)
    killed, stopped = await agent_loss(args.repeats, args.few_interfaces)
    print_agent_loss(killed, stopped, args.few_interfaces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 2 agents of 200 interfaces, short windows (~1 min)")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.interfaces, args.few_interfaces = [1, 2], 200, 20
        args.warmup, args.window, args.repeats = 0.5, 3.0, 1
    else:
        args.agents, args.interfaces, args.few_interfaces = [1, 2, 4, 8], 1000, 100
        args.warmup, args.window, args.repeats = 1.0, 5.0, 3
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
