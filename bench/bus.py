"""``python -m bench.bus``: telemetry through the whole message-bus path, publisher to two
consumers, against a bare JetStream path in the same run.

Real processes on 127.0.0.1: ``mso server --line-cards 0`` and two ``mso agent`` processes of
half the interfaces each (1,000 in all by default). A MessageBrokingFunction makes the Master
start its nats-server; one reporting job selects every interface's ``in-octets`` every second
(so each record merges three generators: the Master's mgmt0 and both cards); two polling jobs
let two nats-py consumers read the topic, each through its own durable consumer, acknowledging
every record.

Printed, over the counted window (after a warm-up): records/s and bytes/s each consumer got,
how many were complete, the latency from a record's time (the tick) to a consumer having it
(p50 / p99), and the CPU of the Master, the agents, the Master's collector and nats-server.
The baseline: a bench publisher pushes payloads of the same size at the same rate through a
nats-server of its own to two consumers in the same way, so the extra latency is what
sampling, UDP-notif, reassembly and the bus add. ``--quick``: 200 interfaces, 8 s window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats

from bench.push import cpu_seconds, spread
from bench.rpc import PASSWORD, USER
from bench.scaling import device
from mso import bus
from mso.date_and_time import parse_epoch
from mso.namespaces import INTERFACES, MESSAGE_BUS, NRM
from mso.netconf_client import NetconfClient

PERIOD_CS = 100
CONSUMERS = (("c1", "c1-secret-xyz"), ("c2", "c2-secret-xyz"))
SELECTOR = "/if:interfaces/if:interface/if:statistics/if:in-octets"


@dataclass
class Tally:
    records: int = 0
    complete: int = 0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    size: int = 0  # of the last record


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bus_config(url: str) -> str:
    polling = "".join(f"<MessageBusDataPollingJob><id>{name}</id><attributes><consumerId>{name}</consumerId>"
                      f"<consumerSecret>{secret}</consumerSecret><topics>bench</topics>"
                      "<startPosition>NEW_ONLY</startPosition></attributes></MessageBusDataPollingJob>"
                      for name, secret in CONSUMERS)
    return ('<edit-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><target><running/></target><config>'
            f'<SubNetwork xmlns="{NRM}"><id>bench</id><MessageBrokingFunction xmlns="{MESSAGE_BUS}"><id>bus</id>'
            f"<attributes><brokerEndpoint>{url}</brokerEndpoint></attributes>"
            "<MessageBusDataReportingJob><id>pm</id><attributes><topic>bench</topic>"
            f'<dataSelector xmlns:if="{INTERFACES}">{SELECTOR}</dataSelector>'
            f"<reportingPeriod>{PERIOD_CS}</reportingPeriod></attributes></MessageBusDataReportingJob>"
            f"{polling}</MessageBrokingFunction></SubNetwork></config></edit-config>")


async def wait_enabled(client: NetconfClient, timeout: float = 60.0) -> None:
    namespaces = {"mbus": MESSAGE_BUS}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = await client.get(xpath="//mbus:MessageBusDataReportingJob//mbus:operationalState", namespaces=namespaces)
        if data.xpath("//mbus:operationalState/text()", namespaces=namespaces) == ["ENABLED"]:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the reporting job did not become ENABLED")


async def consume(url: str, consumer: str, secret: str, job: str, until: float, counting_from: float,
                  tally: Tally, stream: str | None = None, durable: str | None = None) -> None:
    """Pull and acknowledge until ``until``; count what has a record time after ``counting_from``."""
    credentials = {"user": consumer, "password": secret, "inbox_prefix": bus.inbox_prefix(consumer)} if secret else {}
    client = await nats.connect(url, **credentials)
    if stream is None:
        access = json.loads((await client.request(bus.job_subject(consumer, job), b"", timeout=5)).data)
        stream, durable = access["streams"][0], access["durable"]
    reader = await client.jetstream().pull_subscribe_bind(durable, stream=stream)
    while time.time() < until:
        try:
            messages = await reader.fetch(10, timeout=0.5)
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            continue
        received = time.time()
        for message in messages:
            record = json.loads(message.data)
            await message.ack()
            if record.get("kind") not in ("periodic", "baseline"):
                continue
            moment = parse_epoch(record["time"])
            if moment < counting_from:
                continue
            tally.records += 1
            tally.complete += bool(record.get("complete", True))
            tally.bytes += len(message.data)
            tally.size = len(message.data)
            tally.latencies.append(received - moment)
    await client.close()


def children(pid: int) -> dict[str, int]:
    """The Master's children by what they run: its collector and its nats-server."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            found["nats-server" if "nats-server" in command else "collector"] = int(child)
    return found


async def mso_path(interfaces: int, warmup: float, window: float) -> tuple[list[Tally], dict[str, float]]:
    url = f"nats://127.0.0.1:{free_port()}"
    with device() as dev:
        dev.start_agents([2, 3], interfaces // 2)
        client = await NetconfClient.connect("127.0.0.1", dev.port, username=USER, password=PASSWORD)
        await client.rpc(bus_config(url))
        await wait_enabled(client)
        await client.close()
        pids = {"Master": dev.master_pid, **children(dev.master_pid),
                **{f"agent {g}": agent.pid for g, agent in dev.agents.items()}}
        start = time.time()
        counting_from, until = start + warmup, start + warmup + window
        tallies = [Tally(), Tally()]
        cpu_before: dict[str, float] = {}

        async def sample_cpu() -> None:
            await asyncio.sleep(max(0.0, counting_from - time.time()))
            cpu_before.update({name: cpu_seconds(pid) for name, pid in pids.items()})

        await asyncio.gather(sample_cpu(), *(consume(url, name, secret, name, until, counting_from, tally)
                                             for (name, secret), tally in zip(CONSUMERS, tallies)))
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / window for name, pid in pids.items()}
        return tallies, cpu


async def baseline_path(size: int, warmup: float, window: float) -> list[Tally]:
    """The same record size and rate through a bare nats-server to two durable consumers."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mso-bus-bench-") as store:
        server = subprocess.Popen([bus.nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"nats://127.0.0.1:{port}"
            await asyncio.sleep(0.5)
            publisher = await nats.connect(url)
            jetstream = publisher.jetstream()
            await jetstream.add_stream(name="BASE", subjects=["base"])
            for name, _ in CONSUMERS:
                await jetstream.add_consumer("BASE", durable_name=name, ack_policy="explicit", deliver_policy="new")
            start = time.time()
            counting_from, until = start + warmup, start + warmup + window
            tallies = [Tally(), Tally()]

            async def publish() -> None:
                filler = "x" * max(0, size - 120)
                tick = int(time.time()) + 1
                while tick < until:
                    await asyncio.sleep(max(0.0, tick - time.time()))
                    record = {"kind": "baseline", "time": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(tick))}Z",
                              "data": filler}
                    await jetstream.publish("base", json.dumps(record).encode())
                    tick += PERIOD_CS // 100

            await asyncio.gather(publish(), *(consume(url, name, "", "", until, counting_from, tally, "BASE", name)
                                              for (name, _), tally in zip(CONSUMERS, tallies)))
            await publisher.close()
            return tallies
        finally:
            server.terminate()
            server.wait(10)


def report(name: str, tallies: list[Tally], window: float) -> None:
    for consumer, tally in zip(("consumer 1", "consumer 2"), tallies):
        if not tally.records:
            print(f"  {name:8} {consumer}: nothing received")
            continue
        print(f"  {name:8} {consumer}: {tally.records / window:5.2f} records/s  {tally.bytes / window / 1000:7.1f} kB/s"
              f"  ({tally.size:,} B each)  complete {tally.complete}/{tally.records}"
              f"  tick -> consumer {spread(tally.latencies)}")


async def run(args: argparse.Namespace) -> None:
    interfaces = 200 if args.quick else args.interfaces
    warmup, window = (4.0, 8.0) if args.quick else (6.0, args.seconds)
    print(f"message bus: {interfaces:,} interfaces (2 agents) + mgmt0, one reporting job every {PERIOD_CS / 100:g} s, "
          f"two polling consumers, {window:g} s counted after {warmup:g} s")
    mso, cpu = await mso_path(interfaces, warmup, window)
    report("mso", mso, window)
    print("  CPU: " + "  ".join(f"{name} {share * 100:4.1f}%" for name, share in sorted(cpu.items())) + " of a core")
    base = await baseline_path(max(t.size for t in mso) or 1000, warmup, window)
    report("baseline", base, window)
    mso_p50 = sorted(mso[0].latencies)[len(mso[0].latencies) // 2] if mso[0].latencies else float("nan")
    base_p50 = sorted(base[0].latencies)[len(base[0].latencies) // 2] if base[0].latencies else float("nan")
    print(f"  the device path adds {(mso_p50 - base_p50) * 1000:.1f} ms at p50 (sampling, UDP-notif, reassembly, routing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfaces", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="200 interfaces, 8 s window")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
