"""``python -m bench.collector``: how much UDP-notif ``mso collector`` takes, in one process and
scaled out over NATS.

A separate sender process (``python -m bench.collector sender``, driven over its stdin; one socket
per publisher, as agents have) pushes pre-encoded UDP-notif at increasing rates to a real ``mso
collector`` process (JSON lines to /dev/null, metrics scraped over HTTP); each step lasts
``--step`` seconds and counts as zero loss when every message sent was received and decoded,
every slot became a complete record, nothing was dropped on the way out, and the collector had
handled all but 3% (or 0.1 s) of the step by the time the sender stopped (so a 64 MB receive
buffer filling up does not pass for keeping up). Rates go up by 1.3 until a loss, then the gap is
halved twice. For

* ~500 B JSON push-updates, one datagram each,
* the same in CBOR (~450 B), and
* ~20 KB XML push-updates, segmented at 1400 B (15 datagrams),

from 1 publisher (every message is a slot of its own) and from 8 (eight pieces merged per
record), it prints the highest zero-loss rate and the collector's CPU time per message. A bare
loop (``python -m bench.collector bare``: blocking ``recvfrom``, count, nothing else) takes the
same datagrams: the ceiling for Python on this machine, and the ratio is taken in the same run.
On two cores the sender itself becomes the limit of that ceiling, so both are also timed working
off a full receive buffer (stopped while the sender fills it, then resumed), alone on the CPU.
Then the collector runs at half its highest JSON rate for ``--memory`` seconds (``--long``: 10
minutes) while its RSS is sampled, a light run measures how long after its last piece a merged
record reaches the collector's JSON lines output, and ``mso collector --workers 1`` and ``2`` run
the 8-publisher JSON ladder through a nats-server of the bench's own.

Every figure is printed with the load average when it was taken: another engineer's test run on
the same two cores shows there, and such a figure is to be measured again. No figure is asserted;
the targets are printed beside them.
"""

from __future__ import annotations

import argparse
import os
import re
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
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson
from lxml import etree

from collector.receiver import open_socket
from mso.bus import Endpoint, nats_server_binary
from mso.namespaces import INTERFACES, NETCONF_BASE
from mso.date_and_time import format_epoch
from mso.namespaces import NOTIF_ENVELOPE
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding
from mso.subscription_runner import push_update
from mso.yang_json import YangJson
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


def started_payload(subscription_id: int, publishers: int, stamp: str, period_cs: int = PERIOD_CS) -> bytes:
    started = {"id": subscription_id, "ietf-yang-push:periodic": {"period": period_cs},
               "ietf-multiple-stream-originators:message-generator-id": [str(p) for p in range(1, publishers + 1)]}
    return orjson.dumps({"ietf-yp-notification:envelope": {
        "event-time": stamp, "contents": {"ietf-subscribed-notifications:subscription-started": started}}})


def cbor_payload(subscription_id: int, publisher_id: int, stamp: str) -> bytes:
    """The JSON message's content in RFC 9254 CBOR (~450 B), as a publisher encodes it."""
    yang, codec = _codecs()
    envelope = orjson.loads(json_payload(subscription_id, publisher_id, stamp))["ietf-yp-notification:envelope"]
    event = yang.json_to_event(envelope["contents"])
    return codec.encode(event, event_time=stamp, sequence_number=0, encoding=Encoding.CBOR)


@lru_cache(maxsize=1)
def _codecs() -> tuple[YangJson, EnvelopeCodec]:
    schema = Schema.load()
    return YangJson(schema), EnvelopeCodec(schema)


KINDS = {"json": (json_payload, MediaType.JSON, None), "xml": (xml_payload, MediaType.XML, 1400),
         "cbor": (cbor_payload, MediaType.CBOR, None)}


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

    def __init__(self, kind: str, publishers: int, port: int, period_cs: int = PERIOD_CS) -> None:
        self.publishers = publishers
        self.period_cs = period_cs
        self.target = ("127.0.0.1", port)
        # a socket (a source port) per publisher, as separate agents have: with SO_REUSEPORT the
        # kernel gives each flow to one receiver of a scaled-out collector
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(publishers)]
        for sock in self.sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * 1024 * 1024)
        self.sock = self.sockets[0]  # the Master's (publisher 1): state notifications
        self.templates = [[template(kind, s, p) for p in range(1, publishers + 1)] for s in range(SUBSCRIPTIONS)]
        self.message_ids = [0] * (publishers + 1)
        self.base = time.time() // 1 - 3600  # event times run ahead of the clock from an hour ago
        self.next_message = 0
        self.last_sent: list[tuple[int, float, float]] = []  # (subscription, slot time, send time)

    def announce(self) -> None:
        """subscription-started for every subscription, from the Master (publisher 1)."""
        stamp = format_epoch(self.base)
        for s in range(SUBSCRIPTIONS):
            (datagram,) = encode_message(started_payload(s, self.publishers, stamp, self.period_cs), publisher_id=1,
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
        senders, target, pack = [sock.sendto for sock in self.sockets], self.target, _MESSAGE_ID.pack_into
        period = self.period_cs / 100
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
            sendto = senders[publisher_index]
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
    sender = Sender(args.kind, args.publishers, args.port, args.period_cs)
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
        return cpu_seconds(self.popen.pid)

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


def cpu_seconds(pid: int) -> float:
    """User and system time of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def spawn(args: list[str], **kwargs) -> Process:
    return Process(subprocess.Popen([sys.executable, "-m", *args], **kwargs))


def load() -> str:
    """The 1-minute load average, printed beside each figure. The bench's own sender and
    collector make about 2 on two cores; well above that, something else was running and the
    figure is low."""
    return f"load {os.getloadavg()[0]:.2f}"


class SenderControl:
    def __init__(self, kind: str, publishers: int, port: int, period_cs: int = PERIOD_CS) -> None:
        self.process = spawn(["bench.collector", "sender", "--kind", kind, "--publishers", str(publishers),
                              "--port", str(port), "--period-cs", str(period_cs)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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


SUMMED = ("mso_collector_messages_total", "mso_collector_lost_messages_total", "mso_collector_datagrams_total",
          "mso_collector_decode_errors_total", "mso_collector_output_drops_total")


class CollectorUnderTest:
    """``mso collector`` as a user runs it; with ``extra`` (``--workers N --nats URL``) the front
    and its children, whose figures are summed over every metrics endpoint they serve."""

    def __init__(self, workdir: Path, jsonl: str = "/dev/null", stdout: int | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.log_path = workdir / f"collector-{time.monotonic_ns()}.log"
        self.endpoints = 1 + (int(extra[extra.index("--workers") + 1]) if "--workers" in extra else 0)
        with open(self.log_path, "wb") as log:
            self.process = spawn(["mso", "collector", "--listen", "127.0.0.1:0", "--jsonl", jsonl,
                                  "--metrics", "127.0.0.1:0", *extra], stderr=log, stdout=stdout)
        self.port, self.metrics_ports = self._addresses()

    def _addresses(self) -> tuple[int, list[int]]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            ports = [int(port) for port in re.findall(r"event=metrics-listening .*?address=\S+:(\d+)", text)]
            if "listening on" in text and len(ports) >= self.endpoints:
                return int(re.findall(r"mso collector: listening on \S+:(\d+)", text)[0]), ports
            if self.process.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the collector did not start:\n{self.log_path.read_text()}")

    def pids(self) -> list[int]:
        """This process and, scaled out, its children (as they were last started)."""
        children = dict(re.findall(r"worker=(\S+) pid=(\d+)", self.log_path.read_text()))
        return [self.process.popen.pid, *map(int, children.values())]

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def figures(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for port in self.metrics_ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                text = response.read().decode()
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    base = name.split("{")[0]
                    key = base if base in SUMMED else name if base == "mso_collector_records_total" else None
                    if key is not None:
                        totals[key] = totals.get(key, 0.0) + float(value)
        return totals

    def settle(self) -> dict[str, float]:
        """Figures once the datagram and record counts have stopped moving (at most 10 s)."""
        figures = self.figures()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.3)
            again = self.figures()
            if again == figures:
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
    cpu_per_message_us: float
    kept_up: bool = True  # had received nearly all by the time the sender stopped
    dropped: int = 0  # refused or lost on the way out

    @property
    def lossless(self) -> bool:
        """Everything arrived and left, and not only thanks to the receive buffer: a receiver
        that had fallen behind when the sender stopped would lose messages on a longer run."""
        return self.received == self.sent and self.kept_up and self.dropped == 0


@dataclass
class Ladder:
    best: Step | None
    sender_limited: bool
    load: str = ""


def kept_up(sent: int, handled: int, rate: float) -> bool:
    """Whether the collector had kept up when the sender stopped: what it had not handled yet is
    no more than what is naturally in flight."""
    share, seconds = IN_FLIGHT
    return sent - handled <= max(share * sent, seconds * rate)


def ladder_rates(start: float, factor: float, attempt: Callable[[float], Step | None]) -> Ladder:
    """Rates from ``start`` up by ``factor`` until a loss, then two halvings of the last gap;
    ``attempt`` returns the step, or None when the sender could not reach 90% of the rate."""
    best, rate, failed = None, start, None
    while failed is None:
        step = attempt(rate)
        if step is None or not step.lossless:
            failed = rate
        else:
            best = step
            if step.achieved < 0.9 * rate:
                return Ladder(best, True, load())
            rate *= factor
    low = best.rate if best is not None else start / factor
    for _ in range(2):
        middle = (low + failed) / 2
        step = attempt(middle)
        if step is not None and step.lossless:
            best, low = step, middle
        else:
            failed = middle
    return Ladder(best, False, load())


def climb_collector(kind: str, publishers: int, start: float, step: float, factor: float, workdir: Path,
                    extra: tuple[str, ...] = (), period_cs: int = PERIOD_CS) -> Ladder:
    collector = CollectorUnderTest(workdir, extra=extra)
    sender = SenderControl(kind, publishers, collector.port, period_cs)
    complete_key = 'mso_collector_records_total{status="complete"}'
    try:
        sender.command("announce")
        time.sleep(1.0)
        before = [collector.settle()]

        def attempt(rate: float) -> Step:
            cpu = collector.cpu_seconds()
            result = sender.run(rate, step)
            at_end = collector.figures()["mso_collector_messages_total"] - before[0]["mso_collector_messages_total"]
            after = collector.settle()
            used = collector.cpu_seconds() - cpu
            received = int(after["mso_collector_messages_total"] - before[0]["mso_collector_messages_total"])
            complete = int(after.get(complete_key, 0) - before[0].get(complete_key, 0))
            dropped = int(after.get("mso_collector_output_drops_total", 0)
                          - before[0].get("mso_collector_output_drops_total", 0))
            before[0] = after
            outcome = Step(rate, result["sent"] / result["elapsed"], result["sent"], received, complete,
                           used / max(received, 1) * 1e6, kept_up(result["sent"], at_end, rate), dropped)
            if complete * publishers != outcome.sent:  # a slot came out incomplete: a piece was late
                outcome.dropped += max(1, outcome.sent - complete * publishers)
            return outcome

        return ladder_rates(start, factor, attempt)
    finally:
        sender.stop()
        collector.stop()


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
        counted = [bare_count(port, probe)]

        def attempt(rate: float) -> Step:
            cpu = bare.cpu_seconds()
            result = sender.run(rate, step)
            asked = time.perf_counter()
            now = bare_count(port, probe)  # answered only once the backlog ahead of it is read
            answered_at_once = time.perf_counter() - asked < BARE_KEPT_UP
            received = (now - counted[0]) // segments
            counted[0] = now
            return Step(rate, result["sent"] / result["elapsed"], result["sent"], received, 0,
                        (bare.cpu_seconds() - cpu) / max(received, 1) * 1e6, answered_at_once)

        return ladder_rates(start, factor, attempt)
    finally:
        probe.close()
        sender.stop()
        bare.stop()


DRAIN_MESSAGES = {"json": 30_000, "cbor": 30_000, "xml": 1_500}  # what fits in the 64 MB receive buffer


def socket_backlog(port: int) -> int:
    """Octets waiting in the receive queue of the UDP socket bound to ``port`` (/proc/net/udp)."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}"):
            return int(fields[4].split(":")[1], 16)
    return 0


def drain_collector(kind: str, publishers: int, workdir: Path) -> float:
    """Messages/s the collector works off a full receive buffer, with no sender competing for
    the CPU: stopped (SIGSTOP) while the sender fills its buffer, then resumed and timed until its
    socket's queue is empty (read from /proc/net/udp: scraping the metrics meanwhile would slow it)."""
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
        deadline = started + 30
        while socket_backlog(collector.port) > 0 and time.perf_counter() < deadline:
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        return (collector.settle()["mso_collector_messages_total"] - counted) / elapsed
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


class Broker:
    """A nats-server with JetStream for the scaled-out runs, on a free port, its store in ``home``."""

    def __init__(self, home: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = Process(subprocess.Popen([nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                                 "-sd", str(home)], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 15
        while not Endpoint("127.0.0.1", self.port).listening(0.2):
            if time.monotonic() > deadline or self.process.popen.poll() is not None:
                raise RuntimeError("nats-server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def label(kind: str, publishers: int) -> str:
    size = {"json": "~500 B JSON", "cbor": "~450 B CBOR", "xml": "~20 KB XML (15 segments)"}[kind]
    return f"{size}, {publishers} publisher{'s' if publishers > 1 else ''}"


def row(name: str, ladder: Ladder, unit: str = "msg/s") -> str:
    if ladder.best is None:
        return f"  {name:<36} loss at the first step{'':<30}{ladder.load}"
    best = ladder.best
    limited = " (sender-limited)" if ladder.sender_limited else ""
    return (f"  {name:<36} {best.achieved:>10,.0f} {unit}{limited:<17} "
            f"CPU {best.cpu_per_message_us:7.2f} us/msg   {ladder.load}")


def rate_of(ladder: Ladder) -> float:
    return ladder.best.achieved if ladder.best is not None else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.collector", description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="bench", choices=("bench", "sender", "bare"))
    parser.add_argument("--kind", choices=tuple(KINDS), default="json")
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--period-cs", type=int, default=PERIOD_CS)
    parser.add_argument("--step", type=float, default=2.0, help="seconds per rate step (default 2)")
    parser.add_argument("--memory", type=float, default=20.0, help="seconds of the memory run (default 20)")
    parser.add_argument("--long", action="store_true", help="a 10-minute memory run")
    parser.add_argument("--only", choices=("one-process", "scale-out"),
                        help="only the one-process figures, or only the scaled-out ones")
    args = parser.parse_args(argv)
    if args.role == "sender":
        sender_main(args)
        return
    if args.role == "bare":
        bare_main(args)
        return
    print(f"mso collector on {os.cpu_count()} cores; steps of {args.step} s, rates x1.3 until a loss, then two "
          f"halvings; {load()} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only != "scale-out":
            one_process(args, workdir)
        if args.only != "one-process":
            scale_out(args, workdir)


STARTS = {"json": (15_000, 30_000), "cbor": (15_000, 30_000), "xml": (1_000, 1_500)}  # (collector, bare loop)


def one_process(args: argparse.Namespace, workdir: Path) -> None:
    ladders = {(kind, publishers): climb_collector(kind, publishers, STARTS[kind][0], args.step, 1.3, workdir)
               for kind in KINDS for publishers in (1, 8)}
    bare = {kind: climb_bare(kind, STARTS[kind][1], args.step, 1.3) for kind in KINDS}
    drains = {kind: (drain_collector(kind, 1, workdir), load()) for kind in KINDS}
    bare_drains = {kind: drain_bare(kind) for kind in KINDS}
    json_best = ladders["json", 1].best
    half = (json_best.achieved if json_best else 10_000) / 2
    memory = memory_run(half, 600.0 if args.long else args.memory, workdir)
    latencies = latency_run(2_000, 3.0, workdir)
    print("\nhighest zero-loss rate, the sender running alongside on the other core (every message received, "
          "decoded, reassembled into complete slots and written to JSON lines; CPU of the collector per message):")
    for (kind, publishers), ladder in ladders.items():
        print(row(label(kind, publishers), ladder))
    for kind, ladder in bare.items():
        print(row(f"bare recvfrom loop, {kind} datagrams", ladder))
    for kind in KINDS:
        share = rate_of(ladders[kind, 1]) / max(rate_of(bare[kind]), 1)
        print(f"  collector / bare loop, {kind}, 1 publisher: {share:.0%}"
              f"{'  (both sender-limited)' if ladders[kind, 1].sender_limited and bare[kind].sender_limited else ''}")
    print("\nworking off a full receive buffer, alone on the CPU (no sender competing), 1 publisher:")
    for kind in KINDS:
        (rate, at), bare_rate = drains[kind], bare_drains[kind]
        print(f"  {label(kind, 1):<36} {rate:>10,.0f} msg/s   bare loop {bare_rate:>10,.0f} msg/s   "
              f"{rate / max(bare_rate, 1):4.0%}   {at}")
    print(f"\nmemory at {half:,.0f} msg/s (half the highest JSON rate) over {args.memory if not args.long else 600:.0f} "
          f"s: RSS {memory[0]:.1f} MB at start, {memory[1]:.1f} MB after a tenth, {memory[-1]:.1f} MB at the end, "
          f"max {max(memory):.1f} MB")
    if latencies:
        ordered = sorted(latencies)
        print(f"last piece sent -> merged record on the collector's stdout (8 publishers, 2,000 msg/s): "
              f"median {statistics.median(ordered):.2f} ms, p99 {ordered[int(len(ordered) * 0.99) - 1]:.2f} ms, "
              f"max {ordered[-1]:.2f} ms over {len(ordered)} records")
    print("targets: JSON and CBOR >= 100,000 msg/s and >= 40% of the bare loop; XML >= 5,000 msg/s; flat memory; "
          "<= 50 ms")


def scale_out(args: argparse.Namespace, workdir: Path) -> None:
    """``--workers 1`` and ``--workers 2`` (one reassembler) on a nats-server of the bench's own,
    8 publishers (8 flows) of JSON; 100 ms periods, so a piece's trip through the broker is well
    within its slot's deadline. CPU is the collector's processes', the broker's apart."""
    print("\nscaled out: mso collector --workers N --nats URL (1 reassembler), ~500 B JSON, 8 publishers, "
          "100 ms periods; the whole way: receivers, NATS JetStream, a reassembler, records to mso.telemetry.<id>:")
    for workers in (1, 2):
        broker = Broker(workdir / f"nats-{workers}")
        try:
            cpu = broker.process.cpu_seconds()
            ladder = climb_collector("json", 8, 5_000, args.step, 1.3, workdir,
                                     extra=("--workers", str(workers), "--nats", broker.url), period_cs=10)
            broker_cpu = broker.process.cpu_seconds() - cpu
        finally:
            broker.process.stop()
        print(row(f"{workers} receiver{'s' if workers > 1 else ''}", ladder)
              + f"   nats-server CPU {broker_cpu:.1f} s in all")


if __name__ == "__main__":
    main()
