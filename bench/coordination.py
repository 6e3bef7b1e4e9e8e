"""``python -m bench.coordination``: what collecting once at the source saves an agent (issue 11,
TS 23.288 §5A.2).

One line card's agent runtime, in this process: the card of ``--ports`` interfaces, the shared
runner's periodic jobs and a real UDP-notif publisher sending JSON to a socket of the bench,
which counts what arrives. 1, 10 and 100 periodic subscriptions (period ``--period`` cs, one
anchor) of overlapping subtree filters: subscription i names the ``--window`` ports starting at
port 7·i (so neighbours share most of their ports) and asks for their oper-status and octet
counters. Each count is run twice in the same run:
- coordination on: ``UnionSampler``, one reading of the card per instant for every filter due
  then, each subscription cutting its share from it;
- coordination off: ``SharedSampler``, one reading per distinct filter (today's sharing of
  identical filters only).
For each it prints the card readings per period (the agent's own counter, as the Master shows
it in ``samples-taken`` / ``sampling-instants``), the agent's CPU per period (process time over
the measured periods, after one warm-up period), the pushes received against expected, and the
CPU of n subscriptions over one's. Target: with coordination, 100 subscriptions cost <= 2x one.
No figure is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from agents.agent import CardReader
from agents.card_data import CardData
from mso.namespaces import INTERFACES
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import (
    Encoding,
    FilterSpec,
    Periodic,
    Receiver,
    SubscriptionSpec,
)
from mso.subscription_runner import (
    PeriodicJob,
    SharedSampler,
    SourceSampler,
    UnionSampler,
)
from mso.udp_notif_sender import ReceiversEmitter, UdpNotifPublisher

LEAVES = "<oper-status/><statistics><in-octets/><out-octets/></statistics>"
STRIDE = 7  # subscription i starts at port STRIDE·i


@dataclass
class Figures:
    readings_per_period: float
    cpu_per_period_ms: float
    received: int
    expected: int


def window_filter(first: int, window: int, ports: int) -> FilterSpec:
    names = (f"1/0/{(first + k) % ports}" for k in range(window))
    entries = "".join(f"<interface><name>{name}</name>{LEAVES}</interface>" for name in names)
    return FilterSpec("subtree", f'<interfaces xmlns="{INTERFACES}">{entries}</interfaces>'.encode())


class Counter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams = 0

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.datagrams += 1


async def run_once(schema: Schema, subscriptions: int, coordinated: bool, args: argparse.Namespace) -> Figures:
    card = CardData(1, args.ports, schema.key_index, boot_time=time.time() - 3600)
    reader = CardReader(card, schema)
    sampler = UnionSampler(reader) if coordinated else SharedSampler(SourceSampler(reader))
    loop = asyncio.get_running_loop()
    counter = Counter()
    sink, _ = await loop.create_datagram_endpoint(lambda: counter, local_addr=("127.0.0.1", 0))
    sink.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    port = sink.get_extra_info("sockname")[1]
    publisher = await UdpNotifPublisher.open(2, EnvelopeCodec(schema, hostname="bench-lc1"))
    receiver = Receiver("bench", "127.0.0.1", port, True, 65_000)  # whole messages, one datagram each
    anchor = datetime(2026, 1, 1, tzinfo=timezone.utc)
    jobs = [PeriodicJob(SubscriptionSpec(id=n + 1, datastore="ds:operational",
                                         filter=window_filter(STRIDE * n, args.window, args.ports),
                                         trigger=Periodic(args.period, anchor), encoding=Encoding.JSON,
                                         receivers=(receiver,)),
                        sampler, ReceiversEmitter(publisher, (receiver,), Encoding.JSON), publisher_id=2)
            for n in range(subscriptions)]
    period = args.period / 100
    for job in jobs:
        job.start()
    await asyncio.sleep(period * 2)  # the first ticks (and the filters' parsing) are warm-up
    # the window runs from 0.6 periods after a tick, when its pushes are out, for whole periods
    offset = (time.time() - anchor.timestamp()) % period
    await asyncio.sleep((0.6 * period - offset) % period)
    reads, instants, datagrams = sampler.reads, sampler.instants, counter.datagrams
    cpu = time.process_time()
    await asyncio.sleep(period * args.periods)
    cpu = time.process_time() - cpu
    reads, instants = sampler.reads - reads, sampler.instants - instants
    received = counter.datagrams - datagrams
    for job in jobs:
        job.stop()
    publisher.close()
    sink.close()
    return Figures(reads / max(1, instants), cpu / max(1, instants) * 1000, received, subscriptions * instants)


async def main(args: argparse.Namespace) -> None:
    schema = Schema.load()
    print(f"one agent, a card of {args.ports} interfaces; subscriptions of {args.window} ports each "
          f"(oper-status, in/out-octets), starting {STRIDE} ports apart; period {args.period / 100:g} s, "
          f"{args.periods} periods measured; load average {os.getloadavg()[0]:.2f}")
    print(f"{'subscriptions':>13}  {'coordination':>12}  {'readings/period':>15}  {'CPU/period':>11}  "
          f"{'pushes':>11}  {'CPU vs one':>10}")
    ones: dict[bool, float] = {}
    for subscriptions in args.subscriptions:
        for coordinated in (True, False):
            figures = await run_once(schema, subscriptions, coordinated, args)
            ones.setdefault(coordinated, figures.cpu_per_period_ms)
            ratio = figures.cpu_per_period_ms / ones[coordinated]
            print(f"{subscriptions:>13}  {'on' if coordinated else 'off':>12}  {figures.readings_per_period:>15.2f}  "
                  f"{figures.cpu_per_period_ms:>8.2f} ms  {figures.received:>5}/{figures.expected:<5}  {ratio:>9.2f}x")
    print("target: with coordination on, 100 subscriptions <= 2x the CPU of one")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.coordination", description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=1000, help="interfaces on the card (default 1,000)")
    parser.add_argument("--window", type=int, default=100, help="ports each subscription names (default 100)")
    parser.add_argument("--period", type=int, default=100, help="period in centiseconds (default 100 = 1 s)")
    parser.add_argument("--periods", type=int, default=5, help="periods measured per run (default 5)")
    parser.add_argument("--subscriptions", type=int, action="append", metavar="N",
                        help="subscription counts, repeatable (default 1, 10, 100; the first is the base)")
    args = parser.parse_args(argv)
    args.subscriptions = args.subscriptions or [1, 10, 100]
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
