"""``python -m bench.push``: what a YANG-Push subscriber gets from the Master.

Prints, for a real ``mso server`` process on 127.0.0.1:
- the push-update throughput one session sustains, for small, ~1 KB and ~4 KB push-updates:
  hundreds of periodic subscriptions at the smallest period on one session offer more than the
  server can send, and the client counts what arrives; with the server's CPU time per push;
- the baseline in the same run: the same client against a bare asyncssh ``netconf`` subsystem
  that writes one pre-built notification of the same size over and over, as fast as the channel
  allows — the SSH/asyncio floor under our server;
- how late a periodic push with an anchor-time arrives after its tick, and whether its eventTime
  sits exactly on anchor + k·period;
- the establish-subscription (and delete-subscription) round trip;
- many sessions, each with one periodic subscription: what share of the ticks is delivered;
- what the 3GPP Logging NRM and NACM cost the push path: the ~1 KB throughput test with a
  LogInfo for StreamingDataReportingMnS and without, and as a user NACM applies to with NACM on
  and off, each alternated ``ROUNDS`` times in the same run.
No figure is asserted: targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncssh
from lxml import etree

from bench.baseline_session import BareNetconfSession
from bench.rpc import PASSWORD, RESTRICTED_USER, USER, percentiles, start_server, stop
from mso.framing import FrameDecoder, frame_chunked
from mso.namespaces import DATASTORES, INTERFACES, NOTIFICATION, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.netconf_client import NetconfClient

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
PUSH_UPDATE = qn(YP, "push-update")
SUSPENDED = qn(SN, "subscription-suspended")
RESUMED = qn(SN, "subscription-resumed")
EVENT_TIME = qn(NOTIFICATION, "eventTime")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PORT_NAMES = [f"{card}/0/{port}" for card in (1, 2, 3) for port in range(48)]  # the default simulated device


def interface(name: str, leaves: str = "") -> str:
    """One interface in a subtree filter; without ``leaves`` the whole entry is selected."""
    return f"<interface><name>{name}</name>{leaves}</interface>"


def interfaces(*entries: str) -> str:
    return f'<interfaces xmlns="{INTERFACES}">{"".join(entries)}</interfaces>'


# The envelope alone (notification, eventTime, push-update, id, datastore-contents, the interfaces
# container, message-publisher-id) is ~430 bytes, so the smallest useful push-update is ~0.5 KB.
SIZES = {
    "small": interfaces(interface("1/0/1", "<oper-status/><statistics><in-octets/><out-octets/></statistics>")),
    "~1 KB": interfaces(interface("1/0/1")),
    "~4 KB": interfaces(*(interface(name) for name in ("1/0/1", "1/0/2", "2/0/1", "3/0/1"))),
}


def establish_request(subtree: str, period_cs: int, anchor: datetime | None = None) -> str:
    anchor_time = f"<anchor-time>{anchor.isoformat()}</anchor-time>" if anchor else ""
    return (f'<establish-subscription xmlns="{SN}">'
            f'<datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational</datastore>'
            f'<datastore-subtree-filter xmlns="{YP}">{subtree}</datastore-subtree-filter>'
            f'<periodic xmlns="{YP}"><period>{period_cs}</period>{anchor_time}</periodic>'
            "</establish-subscription>")


def delete_request(subscription_id: str) -> str:
    return f'<delete-subscription xmlns="{SN}"><id>{subscription_id}</id></delete-subscription>'


def epoch_micros(event_time: str) -> int:
    stamp = datetime.fromisoformat(event_time)
    return (stamp - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads: the scheduler's own sum (microseconds, from
    /proc/<pid>/task/*/sched) where the kernel has it, else utime + stime from /proc/<pid>/stat
    (fields 14 and 15, in clock ticks of 10 ms, too coarse for a process that works 0.5 ms a
    period)."""
    try:
        return sum(_sum_exec_runtime(task) for task in Path(f"/proc/{pid}/task").iterdir()) / 1000
    except (OSError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def _sum_exec_runtime(task: Path) -> float:
    """Milliseconds a thread has run (se.sum_exec_runtime); ValueError where the kernel lacks it."""
    for line in (task / "sched").read_text().splitlines():
        if line.startswith("se.sum_exec_runtime"):
            return float(line.split(":", 1)[1])
    raise ValueError("no se.sum_exec_runtime")


def spread(samples: list[float]) -> str:
    """p50 / p99 / max of seconds, in ms."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {ordered[len(ordered) // 2] * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms   "
            f"max {ordered[-1] * 1000:6.2f} ms   (n={len(samples)})")


async def connect(port: int, user: tuple[str, str] = (USER, PASSWORD)) -> NetconfClient:
    return await NetconfClient.connect("127.0.0.1", port, username=user[0], password=user[1], timeout=60)


async def end(clients: list[NetconfClient]) -> None:
    """close-session on each, as a collector that leaves politely does."""
    await asyncio.gather(*(client.close() for client in clients))
    await asyncio.gather(*(client.wait_closed() for client in clients))


# --- the baseline: a netconf subsystem that pushes one pre-built notification without end -------

class _Pusher(BareNetconfSession):
    def __init__(self, notification: bytes) -> None:
        super().__init__()
        self._frame = frame_chunked(notification)
        self._decoder = FrameDecoder()
        self._paused = False

    def data_received(self, data: bytes, datatype: object) -> None:
        if not self._decoder.chunked and self._decoder.feed(data):  # the client's hello
            self._decoder.hello_done(True)
            self._push()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._push()

    def connection_lost(self, exc: Exception | None) -> None:
        self._chan = None

    def _push(self) -> None:
        # the channel calls pause_writing from inside write once its buffer passes the high-water mark
        while self._chan is not None and not self._paused:
            self._chan.write(self._frame)


class _PushServer(asyncssh.SSHServer):
    def __init__(self, notification: bytes) -> None:
        self._notification = notification

    def begin_auth(self, username: str) -> bool:
        return False

    def session_requested(self) -> _Pusher:
        return _Pusher(self._notification)


async def run_push_server(notification: bytes) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    acceptor = await asyncssh.create_server(lambda: _PushServer(notification), "127.0.0.1", 0,
                                            server_host_keys=[key], encoding=None)
    print(acceptor.sockets[0].getsockname()[1], flush=True)
    await acceptor.wait_closed()


def start_push_server(notification: bytes) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-m", "bench.push", "--push-server"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(notification)
    process.stdin.close()
    return process, int(process.stdout.readline())


# --- 1, 2, 6: throughput on one session ---------------------------------------------------------

@dataclass
class Tally:
    """Counts what one session receives; keeps the first notifications' sizes and one copy."""

    pushes: int = 0
    suspended: int = 0
    resumed: int = 0
    sizes: list[int] = field(default_factory=list)
    sample: bytes = b""

    def __call__(self, notification: etree._Element) -> None:
        event = notification[1].tag
        if event == PUSH_UPDATE:
            self.pushes += 1
            if len(self.sizes) < 200:
                self.sample = etree.tostring(notification)
                self.sizes.append(len(self.sample))
        elif event == SUSPENDED:
            self.suspended += 1
        elif event == RESUMED:
            self.resumed += 1


@dataclass
class Rate:
    pushes_per_s: float
    notification_bytes: float
    server_cpu_per_push: float  # seconds
    server_cpu_share: float  # of one core
    client_cpu_share: float
    tally: Tally

    def describe(self) -> str:
        return (f"{self.pushes_per_s:8,.0f} pushes/s {self.pushes_per_s * self.notification_bytes / 1e6:6.1f} MB/s   "
                f"server CPU {self.server_cpu_per_push * 1000:.3f} ms/push ({self.server_cpu_share:4.0%} of a core), "
                f"client {self.client_cpu_share:4.0%}")


async def push_rate(port: int, pid: int, subscribe: list[str], warmup: float, window: float,
                    user: tuple[str, str] = (USER, PASSWORD)) -> Rate:
    """Count the push-updates one session receives over ``window`` seconds after ``warmup``;
    ``subscribe`` are the establish-subscription requests sent first, pipelined."""
    client = await connect(port, user)
    tally = Tally()
    client.on_notification = tally
    await asyncio.gather(*(client.rpc(request) for request in subscribe))
    await asyncio.sleep(warmup)
    pushes, server_cpu, client_cpu, started = tally.pushes, cpu_seconds(pid), time.process_time(), time.perf_counter()
    await asyncio.sleep(window)
    elapsed = time.perf_counter() - started
    pushes, server_cpu = tally.pushes - pushes, cpu_seconds(pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    await end([client])
    return Rate(pushes / elapsed, statistics.fmean(tally.sizes), server_cpu / max(1, pushes), server_cpu / elapsed,
                client_cpu / elapsed, tally)


async def throughput(port: int, pid: int, subscriptions: int, warmup: float, window: float) -> None:
    print(f"push-update throughput on one session: {subscriptions} periodic subscriptions at period 1 (10 ms, "
          f"{subscriptions * 100:,} pushes/s offered), {window:g} s counted after {warmup:g} s")
    for size, subtree in SIZES.items():
        ours = await push_rate(port, pid, [establish_request(subtree, 1)] * subscriptions, warmup, window)
        pusher, pusher_port = start_push_server(ours.tally.sample)
        try:
            floor = await push_rate(pusher_port, pusher.pid, [], warmup, window)
        finally:
            stop(pusher)
        target = "   target >= 15,000 pushes/s" if size == "~1 KB" else ""
        print(f"  {size:5} push-update, {ours.notification_bytes:5.0f} B: mso      {ours.describe()}{target}")
        print(f"  {'':22}baseline {floor.describe()}   mso/baseline = {ours.pushes_per_s / floor.pushes_per_s:.2f}x")
        if ours.tally.suspended or ours.tally.resumed:
            print(f"  {'':22}subscription-suspended {ours.tally.suspended}, subscription-resumed {ours.tally.resumed}")
        await asyncio.sleep(1.0)  # let the server drop the closed session's backlog
    print("  target: server CPU <= 0.1 ms per push")


# --- 3: anchor-time lateness --------------------------------------------------------------------

async def anchor_lateness(port: int, count: int) -> None:
    period_us = 100_000
    anchor = datetime.now(timezone.utc).replace(microsecond=30_000)  # .030 s past a whole second
    anchor_us = epoch_micros(anchor.isoformat())
    client = await connect(port)
    arrivals: list[tuple[float, str]] = []
    enough = asyncio.Event()

    def arrived(notification: etree._Element) -> None:
        if notification[1].tag == PUSH_UPDATE:
            arrivals.append((time.time(), notification.findtext(EVENT_TIME)))
            if len(arrivals) == count:
                enough.set()

    client.on_notification = arrived
    await client.rpc(establish_request(SIZES["~1 KB"], period_us // 10_000, anchor))
    await asyncio.wait_for(enough.wait(), count * period_us / 1e6 + 10)
    await end([client])
    ticks = [epoch_micros(event_time) for _, event_time in arrivals[:count]]
    lateness = [received - tick / 1e6 for (received, _), tick in zip(arrivals, ticks)]
    off_grid = [(tick - anchor_us) % period_us for tick in ticks]
    deviation = max(min(offset, period_us - offset) for offset in off_grid)
    print(f"anchor-time lateness at period 10 (100 ms), receive time - eventTime: {spread(lateness)}   "
          "target p99 <= 5 ms")
    print(f"  eventTime off anchor + k*period: max {deviation} us (should be 0); "
          f"distinct ticks {len(set(ticks))}/{len(ticks)}")


# --- 4: establish-subscription round trip -------------------------------------------------------

async def establish_round_trips(port: int, cycles: int) -> None:
    client = await connect(port)
    client.on_notification = lambda notification: None  # each new subscription pushes once at once
    establishing: list[float] = []
    deleting: list[float] = []
    for _ in range(cycles):
        started = time.perf_counter()
        reply = await client.rpc(establish_request(SIZES["small"], 1000))
        established = time.perf_counter()
        await client.rpc(delete_request(reply.findtext(qn(SN, "id"))))
        establishing.append(established - started)
        deleting.append(time.perf_counter() - established)
    await end([client])
    print(f"establish-subscription round trip: {percentiles(establishing)}   target p50 <= 1 ms")
    print(f"delete-subscription round trip:    {percentiles(deleting)}")


# --- 5: many sessions ---------------------------------------------------------------------------

@dataclass
class Subscriber:
    client: NetconfClient
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (receive time, eventTime in us)
    suspended: int = 0

    def __call__(self, notification: etree._Element) -> None:
        event = notification[1].tag
        if event == PUSH_UPDATE:
            self.arrivals.append((time.time(), epoch_micros(notification.findtext(EVENT_TIME))))
        elif event == SUSPENDED:
            self.suspended += 1


async def subscriber(port: int, interface_name: str) -> Subscriber:
    client = await connect(port)
    subscribed = Subscriber(client)
    client.on_notification = subscribed
    await client.rpc(establish_request(interfaces(interface(interface_name)), 10), timeout=60)
    return subscribed


async def many_sessions(port: int, pid: int, sessions: int, window_ticks: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    opened: list[Subscriber] = []
    failures: list[BaseException] = []
    started = time.perf_counter()
    for first in range(0, sessions, 20):
        batch = await asyncio.gather(*(subscriber(port, PORT_NAMES[n % len(PORT_NAMES)])
                                       for n in range(first, min(sessions, first + 20))), return_exceptions=True)
        opened += [s for s in batch if isinstance(s, Subscriber)]
        failures += [s for s in batch if isinstance(s, BaseException)]
    print(f"{sessions} sessions, one periodic subscription (~1 KB, period 10 = 100 ms) each: "
          f"{len(opened)} opened and subscribed in {time.perf_counter() - started:.1f} s")
    if failures:
        print(f"  {len(failures)} failed, first: {failures[0]!r}")
    # the window is a whole number of periods, so every subscription has exactly window_ticks ticks in it
    window_start = time.time() + 1.0
    window_end = window_start + window_ticks / 10
    await asyncio.sleep(window_start - time.time())
    server_cpu = cpu_seconds(pid)
    await asyncio.sleep(window_end - time.time())
    server_cpu = cpu_seconds(pid) - server_cpu
    await asyncio.sleep(2.0)  # pushes of the last ticks still on their way
    first_us, last_us = round(window_start * 1e6), round(window_end * 1e6)
    delivered = [len({tick for _, tick in s.arrivals if first_us <= tick < last_us}) for s in opened]
    lateness = [received - tick / 1e6 for s in opened for received, tick in s.arrivals if first_us <= tick < last_us]
    await end([s.client for s in opened])
    expected = window_ticks * sessions
    worst = min(range(len(opened)), key=delivered.__getitem__)
    seconds = window_ticks / 10
    print(f"  over {seconds:g} s: {sum(delivered):,} of {expected:,} ticks delivered = "
          f"{sum(delivered) / expected:.3%} ({sum(delivered) / seconds:,.0f} of {expected / seconds:,.0f} pushes/s)"
          "   target >= 99.9%")
    print(f"  worst session: {delivered[worst]}/{window_ticks} (session-id {opened[worst].client.session_id}); "
          f"sessions with every tick: {delivered.count(window_ticks)}/{sessions}; "
          f"subscription-suspended: {sum(s.suspended for s in opened)}")
    print(f"  lateness (receive - eventTime): {spread(lateness)}")
    print(f"  server CPU {server_cpu / max(1, sum(delivered)) * 1000:.3f} ms/push "
          f"({server_cpu / seconds:.0%} of a core)")


ROUNDS = 3  # on/off alternations of the cost measurements: the machine's noise is several percent
LOG_NS, NRM_NS = "urn:mso:yang:mso-3gpp-logging", "urn:mso:yang:mso-3gpp-nrm"


def logging_edit(present: bool) -> str:
    """A LogRegistry with one LogInfo for StreamingDataReportingMnS, or its removal."""
    if present:
        registry = (f'<LogRegistry xmlns="{LOG_NS}"><id>bench</id><attributes><maxLogs>1</maxLogs></attributes>'
                    "<LogInfo><id>streams</id><attributes><mNSCategories>StreamingDataReportingMnS</mNSCategories>"
                    "<endTime>2099-01-01T00:00:00Z</endTime><maxSize>10000000</maxSize>"
                    "<logFullAction>wrap</logFullAction></attributes></LogInfo></LogRegistry>")
    else:
        registry = (f'<LogRegistry xmlns="{LOG_NS}" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
                    'nc:operation="remove"><id>bench</id></LogRegistry>')
    return ('<edit-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><target><running/></target><config>'
            f'<SubNetwork xmlns="{NRM_NS}"><id>bench</id>{registry}</SubNetwork></config></edit-config>')


async def logging_cost(port: int, pid: int, subscriptions: int, warmup: float, window: float) -> None:
    print(f"logging cost: the ~1 KB test ({subscriptions} subscriptions at 10 ms) without and with a LogInfo for "
          f"StreamingDataReportingMnS (pushes summarised per subscription and second), alternated {ROUNDS} times")
    client = await connect(port)
    cost: dict[bool, list[float]] = {False: [], True: []}
    for logging_on in (False, True) * ROUNDS:
        await client.rpc(logging_edit(logging_on))
        rate = await push_rate(port, pid, [establish_request(SIZES["~1 KB"], 1)] * subscriptions, warmup, window)
        cost[logging_on].append(rate.server_cpu_per_push)
        print(f"  {'with' if logging_on else 'without':7} LogInfo: {rate.describe()}")
        await asyncio.sleep(1.0)
    await end([client])
    without, with_log = statistics.fmean(cost[False]), statistics.fmean(cost[True])
    print(f"  server CPU per push: {without * 1000:.4f} ms without, {with_log * 1000:.4f} ms with "
          f"({(with_log / without - 1):+.1%})   target <= +5%")


def nacm_edit(enabled: bool) -> str:
    """NACM on, with a read rule for the restricted user's group (so every sample is pruned), or off."""
    rules = ('<groups><group><name>bench</name><user-name>' + RESTRICTED_USER[0] + "</user-name></group></groups>"
             "<rule-list><name>bench</name><group>bench</group><rule><name>no-descriptions</name>"
             '<path xmlns:if="urn:ietf:params:xml:ns:yang:ietf-interfaces">/if:interfaces/if:interface/if:description'
             "</path><access-operations>read</access-operations><action>deny</action></rule></rule-list>")
    return ('<edit-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><target><running/></target><config>'
            '<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
            f' nc:operation="replace"><enable-nacm>{"true" if enabled else "false"}</enable-nacm>{rules}</nacm>'
            "</config></edit-config>")


async def nacm_cost(port: int, pid: int, subscriptions: int, warmup: float, window: float) -> None:
    print(f"NACM cost: the ~1 KB test ({subscriptions} subscriptions at 10 ms) as a user NACM applies to, NACM off "
          f"and on (a read rule for the user's group, so the samples are pruned), alternated {ROUNDS} times")
    admin = await connect(port)
    cost: dict[bool, list[float]] = {False: [], True: []}
    for enabled in (False, True) * ROUNDS:
        await admin.rpc(nacm_edit(enabled))
        rate = await push_rate(port, pid, [establish_request(SIZES["~1 KB"], 1)] * subscriptions, warmup, window,
                               RESTRICTED_USER)
        cost[enabled].append(rate.server_cpu_per_push)
        print(f"  NACM {'on ' if enabled else 'off'}: {rate.describe()}")
        await asyncio.sleep(1.0)
    await admin.rpc(nacm_edit(False))
    await end([admin])
    off, on = statistics.fmean(cost[False]), statistics.fmean(cost[True])
    print(f"  server CPU per push: {off * 1000:.4f} ms off, {on * 1000:.4f} ms on ({(on / off - 1):+.1%})"
          "   target <= +10%")


async def measure(port: int, pid: int, args: argparse.Namespace) -> None:
    if not args.only_sessions:
        await throughput(port, pid, args.subscriptions, args.warmup, args.window)
        await logging_cost(port, pid, args.subscriptions, args.warmup, args.window)
        await nacm_cost(port, pid, args.subscriptions, args.warmup, args.window)
        await anchor_lateness(port, args.anchor_pushes)
        await establish_round_trips(port, args.establish_cycles)
    for sessions in args.sessions:
        await many_sessions(port, pid, sessions, args.session_ticks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--push-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter windows and fewer sessions (~40 s)")
    parser.add_argument("--subscriptions", type=int, default=300, help="on the one session of the throughput test")
    parser.add_argument("--sessions", type=int, action="append", metavar="N",
                        help="sessions of the many-sessions test, repeatable (default 500 and 1,000)")
    parser.add_argument("--only-sessions", action="store_true", help="only the many-sessions test")
    args = parser.parse_args()
    args.sessions = args.sessions or [500, 1000]
    if args.push_server:
        asyncio.run(run_push_server(sys.stdin.buffer.read()))
        return
    quick = args.quick
    args.warmup, args.window = (0.5, 2.0) if quick else (1.0, 5.0)
    args.anchor_pushes, args.establish_cycles = (20, 100) if quick else (60, 300)
    args.session_ticks = 30 if quick else 100
    if quick:
        args.sessions = [min(n, 100) for n in args.sessions]

    with tempfile.TemporaryDirectory() as state:
        server, port = start_server(Path(state))
        try:
            asyncio.run(measure(port, server.pid, args))
        finally:
            stop(server)


if __name__ == "__main__":
    main()
