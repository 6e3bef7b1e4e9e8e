"""``python -m bench.collector``: how much UDP-notif one ``mso collector`` process takes.

A separate sender process (``python -m bench.collector sender``, driven over its stdin) pushes
pre-encoded UDP-notif at increasing rates to a real ``mso collector`` process (JSON lines to
/dev/null, metrics scraped over HTTP); each step lasts ``--step`` seconds and counts as zero loss
when every message sent was received and decoded, every slot became a complete record, and the
collector had handled all but 3% (or 0.1 s) of the step by the time the sender stopped (so a
64 MB receive buffer filling up does not pass for keeping up). For

* ~500 B JSON push-updates, one datagram each, and
* ~20 KB XML push-updates, segmented at 1400 B (15 datagrams),

from 1 publisher (every message is a slot of its own) and from 8 (eight pieces merged per
record), it prints the highest zero-loss rate and the collector's CPU time per 100k messages.
A bare loop (``python -m bench.collector bare``: blocking ``recvfrom``, count, nothing else)
takes the same datagrams: the ceiling for Python on this machine. On two cores the sender
itself becomes the limit of that ceiling, so both are also timed working off a full receive
buffer (stopped while the sender fills it, then resumed), alone on the CPU, and the ratio is
taken there. Then the collector runs at half its highest JSON rate for ``--memory`` seconds
(``--long``: 10 minutes) while its RSS is sampled, and a light run measures how long after its
last piece a merged record reaches the collector's JSON lines output (read from its stdout).
No figure is asserted; the targets are printed beside them.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from lxml import etree

from collector.receiver import open_socket
from mso.namespaces import INTERFACES, NETCONF_BASE
from mso.date_and_time import format_epoch
from mso.namespaces import NOTIF_ENVELOPE
from mso.subscription_runner import push_update
from mso.udp_notif import MediaType, encode_message

PERIOD_CS = 1  # the smallest period: slots 10 ms apart in event time
SUBSCRIPTIONS = 100
IN_FLIGHT = (0.03, 0.1)  # when the sender stops, at most 3% of a step or 0.1 s of traffic unhandled
BARE_KEPT_UP = 0.05  # seconds the bare loop may take to answer a probe sent when the sender stops
STAMP_LENGTH = len(format_epoch(0.0))
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
_MESSAGE_ID = struct.Struct("!I")
_PROBE = b"?"  # a one-octet datagram asks the bare loop for its count


# --- messages ---------------------------------------------------------------------------------

def json_payload(subscription_id: int, publisher_id: int, stamp: str) -> bytes:
    """~500 B: one interface with its counters, in the notif-envelope."""
    entry = {"name": f"{publisher_id}/0/{subscription_id}", "enabled": True, "oper-status": "up",
             "statistics": {"in-octets": "107170623653", "in-unicast-pkts": "207931868", "in-discards": 141,
                            "out-octets": "37420051424", "out-unicast-pkts": "73610410", "out-discards": 60,
                            "discontinuity-time": "2026-11-22T03:43:50.428104Z"}}
    update = {"id": subscription_id, "datastore-contents": {"ietf-interfaces:interfaces": {"interface": [entry]}},
              "ietf-distributed-notif:message-publisher-id": publisher_id}
    return orjson.dumps({"ietf-yp-notification:envelope": {"event-time": stamp,
                                                           "contents": {"ietf-yang-push:push-update": update}}})


def xml_payload(subscription_id: int, publisher_id: int, stamp: str) -> bytes:
    """~20 KB: 40 interfaces with their counters, in the notif-envelope."""
    counters = "".join(f"<{name}>{value}</{name}>" for name, value in (
        ("in-octets", 107170623653), ("in-unicast-pkts", 207931868), ("in-broadcast-pkts", 505464),
        ("in-multicast-pkts", 9713928), ("in-discards", 141), ("in-errors", 0), ("out-octets", 37420051424),
        ("out-unicast-pkts", 73610410), ("out-discards", 60), ("out-errors", 0)))
    entries = "".join(
        f"<interface><name>{publisher_id}/{subscription_id}/{port}</name><enabled>true</enabled>"
        f"<oper-status>up</oper-status><statistics><discontinuity-time>2026-11-22T03:43:50.428104Z"
        f"</discontinuity-time>{counters}</statistics></interface>" for port in range(40))
    data = etree.fromstring(f'<data xmlns="{NETCONF_BASE}"><interfaces xmlns="{INTERFACES}">{entries}'
                            "</interfaces></data>")
    event = etree.tostring(push_update(subscription_id, data, publisher_id))
    return (f'<envelope xmlns="{NOTIF_ENVELOPE}"><event-time>{stamp}</event-time><contents>'.encode()
            + event + b"</contents></envelope>")


def started_payload(subscription_id: int, publishers: int, stamp: str) -> bytes:
    started = {"id": subscription_id, "ietf-yang-push:periodic": {"period": PERIOD_CS},
               "ietf-multiple-stream-originators:message-generator-id": [str(p) for p in range(1, publishers + 1)]}
    return orjson.dumps({"ietf-yp-notification:envelope": {
        "event-time": stamp, "contents": {"ietf-subscribed-notifications:subscription-started": started}}})


KINDS = {"json": (json_payload, MediaType.JSON, None), "xml": (xml_payload, MediaType.XML, 1400)}


@dataclass
class Template:
    """The datagrams of one (subscription, publisher) message, patched in place per send."""

    datagrams: list[bytearray]
    stamp_at: int  # offset of the event time in the first datagram


def template(kind: str, subscription_id: int, publisher_id: int) -> Template:
    build, media_type, segment = KINDS[kind]
    marker = format_epoch(0.0)
    payload = build(subscription_id, publisher_id, marker)
    datagrams = [bytearray(d) for d in encode_message(payload, publisher_id=publisher_id, message_id=0,
                                                      media_type=media_type, max_segment_size=segment)]
    stamp_at = bytes(datagrams[0]).index(marker.encode())
    return Template(datagrams, stamp_at)


# --- the sender process -----------------------------------------------------------------------

class Sender:
    """Sends message n as (tick n // (S*N), subscription, publisher) so the N pieces of a slot
    leave together and no slot repeats; message ids are contiguous per publisher."""

    def __init__(self, kind: str, publishers: int, port: int) -> None:
        self.publishers = publishers
        self.target = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * 1024 * 1024)
        self.templates = [[template(kind, s, p) for p in range(1, publishers + 1)] for s in range(SUBSCRIPTIONS)]
        self.message_ids = [0] * (publishers + 1)
        self.base = time.time() // 1 - 3600  # event times run ahead of the clock from an hour ago
        self.next_message = 0
        self.last_sent: list[tuple[int, float, float]] = []  # (subscription, slot time, send time)

    def announce(self) -> None:
        """subscription-started for every subscription, from the Master (publisher 1)."""
        stamp = format_epoch(self.base)
        for s in range(SUBSCRIPTIONS):
            (datagram,) = encode_message(started_payload(s, self.publishers, stamp), publisher_id=1,
                                         message_id=self._next_id(1), media_type=MediaType.JSON)
            self.sock.sendto(datagram, self.target)

    def _next_id(self, publisher_id: int) -> int:
        message_id = self.message_ids[publisher_id]
        self.message_ids[publisher_id] = message_id + 1
        return message_id

    def run(self, rate: float, duration: float, record_slots: bool = False) -> tuple[int, float]:
        """Send ``rate`` messages/s for ``duration`` s; returns (messages, seconds taken)."""
        total = int(rate * duration) // self.publishers * self.publishers  # whole slots only
        per_tick = SUBSCRIPTIONS * self.publishers
        sendto, target, pack = self.sock.sendto, self.target, _MESSAGE_ID.pack_into
        period = PERIOD_CS / 100
        start = time.perf_counter()
        stamp_tick, stamp = -1, b""
        # pace every half millisecond of traffic, at slot boundaries: a slot's pieces leave together
        burst = max(1, int(rate / 2000) // self.publishers) * self.publishers
        for offset in range(total):
            n = self.next_message + offset
            tick, within = divmod(n, per_tick)
            subscription, publisher_index = divmod(within, self.publishers)
            if tick != stamp_tick:
                stamp_tick, stamp = tick, format_epoch(self.base + tick * period).encode()
            message = self.templates[subscription][publisher_index]
            first = message.datagrams[0]
            first[message.stamp_at:message.stamp_at + STAMP_LENGTH] = stamp
            message_id = self._next_id(publisher_index + 1)
            for datagram in message.datagrams:
                pack(datagram, 8, message_id)
                sendto(datagram, target)
            if record_slots and publisher_index == self.publishers - 1:
                self.last_sent.append((subscription, self.base + tick * period, time.time()))
            if offset % burst == 0:
                ahead = offset / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        self.next_message += total
        return total, time.perf_counter() - start


def sender_main(args: argparse.Namespace) -> None:
    """Commands on stdin, one per line: ``announce``, ``run RATE SECONDS``, ``probe RATE SECONDS``
    (which also prints each slot's last send time), ``quit``."""
    sender = Sender(args.kind, args.publishers, args.port)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *values = line.split()
        if command == "announce":
            sender.announce()
            print("ok", flush=True)
        elif command in ("run", "probe"):
            sent, elapsed = sender.run(float(values[0]), float(values[1]), record_slots=command == "probe")
            print(orjson.dumps({"sent": sent, "elapsed": elapsed, "slots": sender.last_sent}).decode(), flush=True)
            sender.last_sent = []
        else:
            return


# --- the bare loop process --------------------------------------------------------------------

def bare_main(args: argparse.Namespace) -> None:
    """Count datagrams; answer a one-octet probe with the count so far."""
    sock = open_socket("127.0.0.1", 0)  # the collector's socket: same receive buffer
    sock.setblocking(True)
    print(sock.getsockname()[1], flush=True)
    count = 0
    receive = sock.recvfrom
    while True:
        data, source = receive(65535)
        if len(data) == 1:
            sock.sendto(str(count).encode(), source)
        else:
            count += 1


# --- the driver -------------------------------------------------------------------------------

@dataclass
class Process:
    popen: subprocess.Popen

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK

    def rss_mb(self) -> float:
        return int(Path(f"/proc/{self.popen.pid}/statm").read_text().split()[1]) * PAGE / 2**20

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def spawn(args: list[str], **kwargs) -> Process:
    return Process(subprocess.Popen([sys.executable, "-m", *args], **kwargs))


class SenderControl:
    def __init__(self, kind: str, publishers: int, port: int) -> None:
        self.process = spawn(["bench.collector", "sender", "--kind", kind, "--publishers", str(publishers),
                              "--port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._read() == "ready"

    def _read(self) -> str:
        assert self.process.popen.stdout is not None
        return self.process.popen.stdout.readline().strip()

    def command(self, line: str) -> str:
        assert self.process.popen.stdin is not None
        self.process.popen.stdin.write(line + "\n")
        self.process.popen.stdin.flush()
        return self._read()

    def run(self, rate: float, seconds: float, probe: bool = False) -> dict:
        return orjson.loads(self.command(f"{'probe' if probe else 'run'} {rate} {seconds}"))

    def stop(self) -> None:
        try:
            self.command("quit")
        except (BrokenPipeError, OSError):
            pass
        self.process.stop()


class CollectorUnderTest:
    def __init__(self, workdir: Path, jsonl: str = "/dev/null", stdout: int | None = None) -> None:
        self.log_path = workdir / f"collector-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.process = spawn(["mso", "collector", "--listen", "127.0.0.1:0", "--jsonl", jsonl,
                                  "--metrics", "127.0.0.1:0"], stderr=log, stdout=stdout)
        self.port, self.metrics_port = self._addresses()

    def _addresses(self) -> tuple[int, int]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            if "listening on" in text and "metrics-listening" in text:
                udp = int(text.split("mso collector: listening on ")[1].split()[0].rsplit(":", 1)[1])
                metrics = int(text.split("event=metrics-listening address=")[1].split()[0].rsplit(":", 1)[1])
                return udp, metrics
            time.sleep(0.05)
        raise RuntimeError(f"the collector did not start:\n{self.log_path.read_text()}")

    def figures(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                base = name.split("{")[0]
                if base in ("mso_collector_messages_total", "mso_collector_lost_messages_total",
                            "mso_collector_datagrams_total", "mso_collector_decode_errors_total"):
                    totals[base] = totals.get(base, 0.0) + float(value)
                elif base == "mso_collector_records_total":
                    totals[name] = float(value)
        return totals

    def settle(self) -> dict[str, float]:
        """Figures once the datagram count has stopped moving (at most 5 s)."""
        figures = self.figures()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.3)
            again = self.figures()
            if again.get("mso_collector_datagrams_total") == figures.get("mso_collector_datagrams_total"):
                return again
            figures = again
        return figures

    def stop(self) -> None:
        self.process.stop()


@dataclass
class Step:
    rate: float  # asked
    achieved: float  # what the sender managed
    sent: int
    received: int
    complete: int
    cpu_per_100k: float
    kept_up: bool = True  # had received nearly all by the time the sender stopped

    @property
    def lossless(self) -> bool:
        """Everything arrived, and not only thanks to the receive buffer: a receiver that had
        fallen behind when the sender stopped would lose messages on a longer run."""
        return self.received == self.sent and self.kept_up


@dataclass
class Ladder:
    best: Step | None
    sender_limited: bool


def kept_up(sent: int, handled: int, rate: float) -> bool:
    """Whether the collector had kept up when the sender stopped: what it had not handled yet is
    no more than what is naturally in flight."""
    share, seconds = IN_FLIGHT
    return sent - handled <= max(share * sent, seconds * rate)


def rates(start: float, factor: float) -> Iterator[float]:
    rate = start
    while True:
        yield rate
        rate *= factor


def climb_collector(kind: str, publishers: int, start: float, step: float, factor: float, workdir: Path) -> Ladder:
    collector = CollectorUnderTest(workdir)
    sender = SenderControl(kind, publishers, collector.port)
    try:
        sender.command("announce")
        time.sleep(0.5)
        best = None
        before = collector.settle()
        for rate in rates(start, factor):
            cpu = collector.process.cpu_seconds()
            result = sender.run(rate, step)
            at_end = collector.figures()["mso_collector_messages_total"] - before["mso_collector_messages_total"]
            after = collector.settle()
            used = collector.process.cpu_seconds() - cpu
            received = int(after["mso_collector_messages_total"] - before["mso_collector_messages_total"])
            complete_key = 'mso_collector_records_total{status="complete"}'
            complete = int(after.get(complete_key, 0) - before.get(complete_key, 0))
            achieved = result["sent"] / result["elapsed"]
            outcome = Step(rate, achieved, result["sent"], received, complete,
                           used / max(received, 1) * 100_000, kept_up(result["sent"], at_end, rate))
            before = after
            slots_ok = complete * publishers == outcome.sent
            if not (outcome.lossless and slots_ok):
                return Ladder(best, False)
            best = outcome
            if achieved < 0.9 * rate:
                return Ladder(best, True)
    finally:
        sender.stop()
        collector.stop()
    return Ladder(best, False)


def bare_count(port: int, probe: socket.socket) -> int:
    probe.sendto(_PROBE, ("127.0.0.1", port))
    ready, _, _ = select.select([probe], [], [], 10)
    if not ready:
        raise RuntimeError("the bare loop did not answer")
    return int(probe.recv(64))


def start_bare(kind: str) -> tuple[Process, int, SenderControl, socket.socket]:
    """The bare counting loop, a sender aimed at it, and a probe socket to ask it for its count."""
    bare = spawn(["bench.collector", "bare"], stdout=subprocess.PIPE, text=True)
    assert bare.popen.stdout is not None
    port = int(bare.popen.stdout.readline())
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    return bare, port, SenderControl(kind, 1, port), probe


def climb_bare(kind: str, start: float, step: float, factor: float) -> Ladder:
    """The same datagrams into a loop that only counts them; rates in messages/s."""
    bare, port, sender, probe = start_bare(kind)
    segments = len(template(kind, 0, 1).datagrams)
    try:
        best = None
        counted = bare_count(port, probe)
        for rate in rates(start, factor):
            cpu = bare.cpu_seconds()
            result = sender.run(rate, step)
            asked = time.perf_counter()
            now = bare_count(port, probe)  # answered only once the backlog ahead of it is read
            kept_up = time.perf_counter() - asked < BARE_KEPT_UP
            received = (now - counted) // segments
            counted = now
            achieved = result["sent"] / result["elapsed"]
            outcome = Step(rate, achieved, result["sent"], received, 0,
                           (bare.cpu_seconds() - cpu) / max(received, 1) * 100_000, kept_up)
            if not outcome.lossless:
                return Ladder(best, False)
            best = outcome
            if achieved < 0.9 * rate:
                return Ladder(best, True)
    finally:
        probe.close()
        sender.stop()
        bare.stop()
    return Ladder(best, False)


DRAIN_MESSAGES = {"json": 30_000, "xml": 1_500}  # what fits in the 64 MB receive buffer


def drain_collector(kind: str, publishers: int, workdir: Path) -> float:
    """Messages/s the collector works off a full receive buffer, with no sender competing for
    the CPU: stopped (SIGSTOP) while the sender fills its buffer, then resumed and timed."""
    collector = CollectorUnderTest(workdir)
    sender = SenderControl(kind, publishers, collector.port)
    try:
        sender.command("announce")
        time.sleep(0.5)
        counted = collector.settle()["mso_collector_messages_total"]
        messages = DRAIN_MESSAGES[kind]
        os.kill(collector.process.popen.pid, signal.SIGSTOP)
        sender.run(10_000_000, messages / 10_000_000)
        started = time.perf_counter()
        os.kill(collector.process.popen.pid, signal.SIGCONT)
        target, last, last_change = counted + messages, counted, started
        while last < target and time.perf_counter() - last_change < 2:
            time.sleep(0.02)
            now = collector.figures()["mso_collector_messages_total"]
            if now != last:
                last, last_change = now, time.perf_counter()
        return (last - counted) / (last_change - started)
    finally:
        sender.stop()
        collector.stop()


def drain_bare(kind: str) -> float:
    """The same for the bare loop: its answer to a probe queued behind the backlog times it."""
    bare, port, sender, probe = start_bare(kind)
    segments = len(template(kind, 0, 1).datagrams)
    try:
        counted = bare_count(port, probe)
        os.kill(bare.popen.pid, signal.SIGSTOP)
        sender.run(10_000_000, DRAIN_MESSAGES[kind] / 10_000_000)
        started = time.perf_counter()
        os.kill(bare.popen.pid, signal.SIGCONT)
        now = bare_count(port, probe)
        return (now - counted) / segments / (time.perf_counter() - started)
    finally:
        probe.close()
        sender.stop()
        bare.stop()


def memory_run(rate: float, seconds: float, workdir: Path) -> list[float]:
    """RSS (MB) every tenth of the run while the collector takes ``rate`` JSON messages/s."""
    collector = CollectorUnderTest(workdir)
    sender = SenderControl("json", 1, collector.port)
    samples = [collector.process.rss_mb()]
    try:
        sender.command("announce")
        time.sleep(0.5)
        for _ in range(10):
            sender.run(rate, seconds / 10)
            samples.append(collector.process.rss_mb())
    finally:
        sender.stop()
        collector.stop()
    return samples


def latency_run(rate: float, seconds: float, workdir: Path) -> list[float]:
    """Milliseconds from the send of a slot's last piece (8 publishers) to its JSON line."""
    collector = CollectorUnderTest(workdir, jsonl="-", stdout=subprocess.PIPE)
    sender = SenderControl("json", 8, collector.port)
    stdout = collector.process.popen.stdout
    assert stdout is not None
    try:
        sender.command("announce")
        time.sleep(0.5)
        arrivals: dict[tuple[int, str], float] = {}
        fd = stdout.fileno()
        os.set_blocking(fd, False)
        pending = b""
        sender.process.popen.stdin.write(f"probe {rate} {seconds}\n")  # type: ignore[union-attr]
        sender.process.popen.stdin.flush()  # type: ignore[union-attr]
        sender_out = sender.process.popen.stdout
        deadline = time.monotonic() + seconds + 10
        result = None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd, sender_out], [], [], 0.5)
            if fd in ready:
                chunk = os.read(fd, 1 << 20)
                now = time.time()
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    record = orjson.loads(line)
                    arrivals[record["subscription-id"], record["time"]] = now
            if sender_out in ready and result is None:
                result = orjson.loads(sender_out.readline())
            if result is not None and len(arrivals) >= len(result["slots"]):
                break
    finally:
        sender.stop()
        collector.stop()
    assert result is not None
    return [(arrivals[s, format_epoch(t)] - sent) * 1000 for s, t, sent in result["slots"]
            if (s, format_epoch(t)) in arrivals]


def label(kind: str, publishers: int) -> str:
    size = "~500 B JSON" if kind == "json" else "~20 KB XML (15 segments)"
    return f"{size}, {publishers} publisher{'s' if publishers > 1 else ''}"


def row(name: str, ladder: Ladder, unit: str = "msg/s") -> str:
    if ladder.best is None:
        return f"  {name:<34} loss at the first step"
    best = ladder.best
    limited = " (sender-limited)" if ladder.sender_limited else ""
    return (f"  {name:<34} {best.achieved:>10,.0f} {unit}{limited:<17} "
            f"CPU {best.cpu_per_100k:6.2f} s/100k msgs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.collector", description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="bench", choices=("bench", "sender", "bare"))
    parser.add_argument("--kind", choices=tuple(KINDS), default="json")
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--step", type=float, default=2.0, help="seconds per rate step (default 2)")
    parser.add_argument("--memory", type=float, default=20.0, help="seconds of the memory run (default 20)")
    parser.add_argument("--long", action="store_true", help="a 10-minute memory run")
    args = parser.parse_args(argv)
    if args.role == "sender":
        sender_main(args)
        return
    if args.role == "bare":
        bare_main(args)
        return
    run_bench(args)


def run_bench(args: argparse.Namespace) -> None:
    memory_seconds = 600.0 if args.long else args.memory
    print(f"mso collector on {os.cpu_count()} cores; steps of {args.step} s, rates x1.3 until a loss")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ladders = {(kind, publishers): climb_collector(kind, publishers, start, args.step, 1.3, workdir)
                   for kind, start in (("json", 15_000), ("xml", 200)) for publishers in (1, 8)}
        bare = {kind: climb_bare(kind, start, args.step, 1.3) for kind, start in (("json", 20_000), ("xml", 1_000))}
        drains = {(kind, publishers): drain_collector(kind, publishers, workdir)
                  for kind in ("json", "xml") for publishers in (1, 8)}
        bare_drains = {kind: drain_bare(kind) for kind in ("json", "xml")}
        json_best = ladders["json", 1].best
        half = (json_best.achieved if json_best else 10_000) / 2
        memory = memory_run(half, memory_seconds, workdir)
        latencies = latency_run(2_000, 3.0, workdir)
    print("\nhighest zero-loss rate, the sender running alongside (received, decoded, reassembled, "
          "written to JSON lines):")
    for (kind, publishers), ladder in ladders.items():
        print(row(label(kind, publishers), ladder))
    for kind, ladder in bare.items():
        print(row(f"bare recvfrom loop, {kind} datagrams", ladder))
    print("\nworking off a full receive buffer, alone on the CPU (no sender competing):")
    for (kind, publishers), rate in drains.items():
        print(f"  {label(kind, publishers):<34} {rate:>10,.0f} msg/s")
    for kind, rate in bare_drains.items():
        print(f"  {'bare recvfrom loop, ' + kind + ' datagrams':<34} {rate:>10,.0f} msg/s")
    for kind in ("json", "xml"):
        print(f"  collector / bare loop ({kind}, 1 publisher): {drains[kind, 1] / bare_drains[kind]:.0%}")
    print(f"\nmemory at {half:,.0f} msg/s (half the highest JSON rate) over {memory_seconds:.0f} s: "
          f"RSS {memory[0]:.1f} MB at start, {memory[1]:.1f} MB after a tenth, {memory[-1]:.1f} MB at the end, "
          f"max {max(memory):.1f} MB")
    if latencies:
        ordered = sorted(latencies)
        print(f"last piece sent -> merged record on the collector's stdout (8 publishers, 2,000 msg/s): "
              f"median {statistics.median(ordered):.2f} ms, p99 {ordered[int(len(ordered) * 0.99) - 1]:.2f} ms, "
              f"max {ordered[-1]:.2f} ms over {len(ordered)} records")
    print("targets: >= 100,000 JSON msg/s and >= 40% of the bare loop; >= 5,000 XML msg/s; flat memory; <= 50 ms")


if __name__ == "__main__":
    main()
