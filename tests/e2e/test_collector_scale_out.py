"""A collector scaled out over processes and a real nats-server (``mso collector --workers``):
pieces of one subscription that reach different receiver processes are merged into one record
by a reassembler, a missing generator is still named, and a reassembler killed while it holds
pieces has its partitions taken over without losing them."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nats
import orjson
import pytest
from lxml import etree

from mso import bus
from mso.date_and_time import format_epoch
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding, Periodic
from mso.udp_notif import MediaType, encode_message
from tests.collector_support import CollectorProcess, collector_factory, nats_server, run_cli  # noqa: F401
from tests.conftest import run, start_server, stop_process
from tests.e2e.test_collector_generators import push, started

SUBSCRIPTION = 21  # partition 5 of the default 8


@pytest.fixture(scope="module")
def codec() -> EnvelopeCodec:
    return EnvelopeCodec(Schema.load())


@dataclass
class Flow:
    """One publisher's socket (its source port: what SO_REUSEPORT sorts on) and message ids."""

    sock: socket.socket
    port: int
    publisher_id: int = 0
    message_id: int = 1000

    def send(self, codec: EnvelopeCodec, event: etree._Element, event_time: float) -> None:
        payload = codec.encode(event, event_time=format_epoch(event_time), sequence_number=self.message_id,
                               encoding=Encoding.JSON)
        for datagram in encode_message(payload, publisher_id=self.publisher_id, message_id=self.message_id,
                                       media_type=MediaType.JSON, max_segment_size=300):
            self.sock.sendto(datagram, ("127.0.0.1", self.port))
        self.message_id += 1


@dataclass
class ScaledOut:
    collector: CollectorProcess

    def receivers(self) -> list[int]:
        """Each receiver's metrics port."""
        return [int(port) for port in re.findall(r"role=receiver address=127\.0\.0\.1:(\d+)", self.collector.log())]

    def reassemblers(self) -> dict[str, int]:
        """reassembler "1/2" -> its metrics port (of its latest start)."""
        return dict(re.findall(r"role=reassembler reassembler=(\S+) address=127\.0\.0\.1:(\d+)",
                               self.collector.log()))

    def reassembler_figures(self, share: str) -> dict[str, float]:
        return scrape(int(self.reassemblers()[share]))

    def pid(self, share: str) -> int:
        """The pid of reassembler "I/N", from the front's log."""
        index = int(share.split("/")[0]) - 1
        return int(re.findall(rf"worker=reassembler-{index} pid=(\d+)", self.collector.log())[-1])

    def pins(self, partition: int) -> list[str]:
        """The reassemblers the partition was pinned to, in order."""
        return re.findall(rf"event=partition-pinned partition={partition} reassembler=(\S+)", self.collector.log())

    def receiver_of(self, generator: str) -> int | None:
        """The receiver that counted messages of ``generator``, if one did."""
        for index, port in enumerate(self.receivers()):
            if scrape(port).get(f'mso_collector_messages_total{{generator="{generator}"}}', 0) > 0:
                return index
        return None


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2]) for line in text.splitlines()
            if line and not line.startswith("#")}


def wait(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def scaled_out(collector_factory, nats_url: str, workers: int, reassemblers: int) -> ScaledOut:
    collector = collector_factory(["--workers", str(workers), "--reassemblers", str(reassemblers), "--nats", nats_url,
                                   "--metrics", "127.0.0.1:0", "--pin-timeout", "1"])
    deployment = ScaledOut(collector)
    wait(lambda: len(deployment.receivers()) == workers and len(deployment.reassemblers()) == reassemblers,
         what=collector.log())
    return deployment


def flows_on_two_receivers(deployment: ScaledOut, codec: EnvelopeCodec, count: int) -> list[Flow]:
    """``count`` flows the kernel does not all give to one receiver. Each new socket sends one
    message as a publisher of its own, and the receivers' counters say which one took it."""
    by_receiver: dict[int, list[Flow]] = {}
    for attempt in range(40):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        probe = Flow(sock, deployment.collector.port, publisher_id=900 + attempt)
        probe.send(codec, push(999, 900 + attempt), time.time())
        wait(lambda: deployment.receiver_of(str(probe.publisher_id)) is not None, 10, "a probe was lost")
        by_receiver.setdefault(deployment.receiver_of(str(probe.publisher_id)), []).append(probe)
        if len(by_receiver) > 1 and sum(map(len, by_receiver.values())) >= count:
            one_each = [flows[0] for flows in by_receiver.values()]
            return (one_each + [flow for flows in by_receiver.values() for flow in flows[1:]])[:count]
    raise AssertionError("the kernel gave 40 sockets' flows to one receiver")


async def telemetry(nats_url: str, subscription_id: int, count: int) -> list[dict]:
    """The first ``count`` records on mso.telemetry.<id>, read with a plain nats-py consumer."""
    client = await nats.connect(nats_url)
    try:
        jetstream = client.jetstream()
        subscription = await jetstream.subscribe(bus.telemetry_subject(subscription_id), deliver_policy="all")
        return [orjson.loads((await subscription.next_msg(timeout=20)).data) for _ in range(count)]
    finally:
        await client.close()


def test_pieces_through_different_receivers_are_merged_and_a_missing_generator_is_named(
        collector_factory, nats_server, codec):
    deployment = scaled_out(collector_factory, nats_server, workers=2, reassemblers=1)
    flows = flows_on_two_receivers(deployment, codec, 3)
    receivers = {deployment.receiver_of(str(flow.publisher_id)) for flow in flows}
    assert receivers == {0, 1}  # so generators 1, 2 and 3 reach both receivers
    for publisher_id, flow in enumerate(flows, start=1):
        flow.publisher_id = publisher_id
    t0 = math.floor(time.time())
    flows[0].send(codec, started(SUBSCRIPTION, ["1", "2", "3"], Periodic(100)), t0 - 1)
    time.sleep(0.5)
    for flow in flows:
        flow.send(codec, push(SUBSCRIPTION, flow.publisher_id), t0)
    for flow in flows[:2]:  # generator 3 is silent in the next slot
        flow.send(codec, push(SUBSCRIPTION, flow.publisher_id), t0 + 1)
    complete, incomplete = deployment.collector.wait_for(lambda r: r["kind"] == "periodic", count=2)
    assert complete["complete"] and complete["generators"]["present"] == ["1", "2", "3"]
    assert [i["name"] for i in complete["data"]["ietf-interfaces:interfaces"]["interface"]] == [
        "1/0/0", "1/0/1", "2/0/0", "2/0/1", "3/0/0", "3/0/1"]
    assert not incomplete["complete"] and incomplete["generators"]["missing"] == ["3"]
    assert {deployment.receiver_of(g) for g in ("1", "2", "3")} == {0, 1}
    on_the_bus = run(telemetry(nats_server, SUBSCRIPTION, 2))
    assert [r["complete"] for r in on_the_bus] == [True, False]
    assert on_the_bus[1]["generators"]["missing"] == ["3"]


def test_a_killed_reassembler_is_started_again_and_gets_the_pieces_it_held(collector_factory, nats_server, codec):
    """With --workers, the front starts a reassembler that died again; its partitions, pinned
    anew (to it or another), come with the pieces it had not acknowledged."""
    deployment = scaled_out(collector_factory, nats_server, workers=1, reassemblers=2)
    flows = []
    for publisher_id in (1, 2, 3):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        flows.append(Flow(sock, deployment.collector.port, publisher_id))
    partition = bus.partition_of(SUBSCRIPTION, bus.DEFAULT_PARTITIONS)
    t0 = math.floor(time.time())
    flows[0].send(codec, started(SUBSCRIPTION, ["1", "2", "3"], Periodic(500)), t0 - 1)  # a 5 s period
    wait(lambda: deployment.pins(partition), what=deployment.collector.log())
    (owner,) = deployment.pins(partition)
    for flow in flows[:2]:
        flow.send(codec, push(SUBSCRIPTION, flow.publisher_id), t0)
    wait(lambda: deployment.reassembler_figures(owner)["mso_collector_slots_open"] == 1, what="the slot is not held")
    os.kill(deployment.pid(owner), signal.SIGKILL)  # holding the pieces of generators 1 and 2, unacknowledged
    wait(lambda: len(deployment.pins(partition)) == 2, what=deployment.collector.log())
    new_owner = deployment.pins(partition)[-1]
    # JetStream hands the unacknowledged pieces to the new owner once their ack wait is over
    wait(lambda: deployment.reassembler_figures(new_owner).get("mso_collector_slots_open") == 1,
         what="the held pieces did not reach the new owner")
    flows[2].send(codec, push(SUBSCRIPTION, 3), t0)
    (record,) = deployment.collector.wait_for(lambda r: r["kind"] == "periodic", timeout=30)
    assert record["complete"] and record["generators"]["present"] == ["1", "2", "3"]


@dataclass
class Lone:
    """A collector process of one role, as on a host of its own."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def lone(tmp_path: Path):
    started: list[Lone] = []

    def start(name: str, *args: str, ready: str) -> Lone:
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "mso", "collector", "--log-level", "info", *args],
                                       stderr=log, start_new_session=True)
        started.append(Lone(process, log_path))
        wait(lambda: ready in started[-1].log() or process.poll() is not None, what=name)
        assert process.poll() is None, started[-1].log()
        return started[-1]

    yield start
    for process in started:
        stop_process(process.process)


def test_lone_reassemblers_take_over_a_dead_one_s_partitions_with_the_pieces_it_held(lone, nats_server, codec,
                                                                                   tmp_path: Path):
    """Receivers and reassemblers on hosts of their own (--receiver, --reassembler): nothing
    restarts a dead reassembler, and the one left standing takes its partitions over."""
    records = tmp_path / "records.jsonl"
    common = ["--nats", nats_server, "--pin-timeout", "1"]
    receiver = lone("receiver", "--receiver", "--listen", "127.0.0.1:0", *common, ready="listening on")
    port = int(re.findall(r"listening on 127\.0\.0\.1:(\d+)", receiver.log())[-1])
    reassemblers = [lone(f"reassembler-{n}", "--reassembler", "--jsonl", str(records), "--metrics", "127.0.0.1:0",
                         *common, ready="mso collector: reassembler") for n in (0, 1)]
    flows = []
    for publisher_id in (1, 2, 3):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        flows.append(Flow(sock, port, publisher_id))
    partition = bus.partition_of(SUBSCRIPTION, bus.DEFAULT_PARTITIONS)
    pinned = f"event=partition-pinned partition={partition} "
    t0 = math.floor(time.time())
    flows[0].send(codec, started(SUBSCRIPTION, ["1", "2", "3"], Periodic(500)), t0 - 1)
    wait(lambda: any(pinned in r.log() for r in reassemblers), what="no pin")
    owner, survivor = sorted(reassemblers, key=lambda r: pinned not in r.log())
    for flow in flows[:2]:
        flow.send(codec, push(SUBSCRIPTION, flow.publisher_id), t0)
    wait(lambda: figures(owner)["mso_collector_slots_open"] == 1, what="the slot is not held")
    os.kill(owner.process.pid, signal.SIGKILL)
    wait(lambda: pinned in survivor.log() and figures(survivor)["mso_collector_slots_open"] == 1,
         what=survivor.log())
    flows[2].send(codec, push(SUBSCRIPTION, 3), t0)
    wait(lambda: records.exists() and b'"periodic"' in records.read_bytes(), what=survivor.log())
    (record,) = [r for r in map(orjson.loads, records.read_bytes().splitlines()) if r["kind"] == "periodic"]
    assert record["complete"] and record["generators"]["present"] == ["1", "2", "3"]


def figures(process: Lone) -> dict[str, float]:
    (port,) = re.findall(r"role=reassembler reassembler=\S+ address=127\.0\.0\.1:(\d+)", process.log())
    return scrape(int(port))


WATCHED = ["mgmt0", "1/0/1", "2/0/1"]


def test_the_whole_device_through_workers(tmp_path: Path, agent_factory, collector_factory, nats_server):
    """The Master's share over NETCONF (held by the front) and the agents' over UDP (the
    receivers') merged by a reassembler, which learned the generators from the front."""
    master = start_server(tmp_path / "state", ["--line-cards", "0"])
    try:
        for generator in (2, 3):
            agent_factory(master, generator, generator - 1)
        xpath = "/if:interfaces/if:interface[" + " or ".join(f"if:name='{n}'" for n in WATCHED) + "]/if:statistics"
        collector = collector_factory(["--workers", "2", "--nats", nats_server, "--netconf", f"127.0.0.1:{master.port}",
                                       "--user", master.user, "--password", master.password, "--subscribe", xpath,
                                       "--period", "20"])
        (whole,) = collector.wait_for(lambda r: r["kind"] == "periodic" and r["complete"], timeout=30)
        assert whole["generators"]["present"] == ["1", "2", "3"]
        assert sorted(i["name"] for i in whole["data"]["ietf-interfaces:interfaces"]["interface"]) == [
            "1/0/1", "2/0/1", "mgmt0"]
    finally:
        stop_process(master.process)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--workers", "2"], "--workers needs --nats URL"),
    (["--receiver", "--nats", "nats://127.0.0.1:1", "--jsonl", "x.jsonl"], "--receiver writes no records"),
    (["--workers", "2", "--nats", "nats://127.0.0.1:1", "--format", "telemetry-message"],
     "need a collector of one process"),
    (["--reassembler", "--nats", "nats://127.0.0.1:1", "--netconf", "127.0.0.1:1", "--user", "u", "--password", "p"],
     "--netconf goes to the process with --workers"),
    (["--workers", "2", "--receiver", "--nats", "nats://127.0.0.1:1"], "not allowed with argument"),
])
def test_scale_out_options_that_do_not_fit_are_one_line(arguments, message):
    result = run_cli(*arguments)
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith(("usage:", " "))]
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr


def test_an_unreachable_broker_is_one_line(tmp_path: Path):
    for role in (["--workers", "1"], ["--receiver"], ["--reassembler"]):
        result = run_cli(*role, "--listen", "127.0.0.1:0", "--nats", "nats://127.0.0.1:1")
        assert result.returncode == 1 and "cannot connect to NATS at nats://127.0.0.1:1" in result.stderr
        assert "Traceback" not in result.stderr
