"""A collector process fed by a synthetic three-generator publisher over real UDP: the Master
(publisher 1, which also sends the state notifications) and two line-card agents (2 and 3)."""

from __future__ import annotations

import asyncio
import math
import socket
import time
import urllib.request

import pytest
from lxml import etree

from mso.namespaces import INTERFACES, NETCONF_BASE
from mso.date_and_time import format_epoch
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding, OnChange, Periodic, SubscriptionSpec
from mso.subscription_runner import push_update
from mso.udp_notif import MediaType, encode_message
from server.subscription_state import state_notification
from tests.collector_support import CollectorProcess, SyntheticGenerators, collector_factory  # noqa: F401
from tests.conftest import run

PERIOD = 0.2
PERIOD_CS = 20


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def grid_time() -> float:
    """A recent tick of the 0.2 s epoch grid (anchor-time left to the publisher)."""
    return math.floor(time.time() / PERIOD) * PERIOD


def started(subscription_id: int, generators: list[str], trigger: Periodic | OnChange = Periodic(PERIOD_CS),
            name: str = "subscription-started") -> etree._Element:
    spec = SubscriptionSpec(id=subscription_id, datastore="ds:operational", trigger=trigger)
    return state_notification(name, subscription_id, spec=spec, generators=generators)


def push(subscription_id: int, generator: int) -> etree._Element:
    entries = "".join(f"<interface><name>{generator}/0/{port}</name><enabled>true</enabled></interface>"
                      for port in range(2))
    data = etree.fromstring(f'<data xmlns="{NETCONF_BASE}"><interfaces xmlns="{INTERFACES}">{entries}'
                            "</interfaces></data>")
    return push_update(subscription_id, data, generator)


def names(record: dict) -> list[str]:
    return [i["name"] for i in record["data"]["ietf-interfaces:interfaces"]["interface"]]


def periodic(record: dict) -> bool:
    return record["kind"] == "periodic"


async def publish(schema: Schema, collector: CollectorProcess, steps: list[tuple[int, etree._Element, float]],
                  encoding: Encoding = Encoding.JSON) -> None:
    """Emit (publisher, event, event time) in order, the state notifications a moment ahead."""
    generators = await SyntheticGenerators.open(schema, sorted({p for p, _, _ in steps}), collector.port, encoding)
    try:
        for publisher, event, event_time in steps:
            generators.emit(publisher, event, event_time)
            if etree.QName(event).localname.startswith("subscription-"):
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.1)
    finally:
        generators.close()


@pytest.mark.parametrize("encoding", [Encoding.JSON, Encoding.XML, Encoding.CBOR])
def test_complete_slots_from_three_generators(schema, collector_factory, encoding):
    collector = collector_factory()
    t0 = grid_time()
    steps = [(1, started(11, ["1", "2", "3"]), t0)]
    steps += [(g, push(11, g), t0 + k * PERIOD) for k in range(3) for g in (3, 1, 2)]
    run(publish(schema, collector, steps, encoding))
    records = collector.wait_for(periodic, count=3)
    assert [r["time"] for r in records] == [format_epoch(t0 + k * PERIOD) for k in range(3)]
    for record in records:
        assert record["complete"] and record["generators"]["present"] == ["1", "2", "3"]
        assert names(record) == ["1/0/0", "1/0/1", "2/0/0", "2/0/1", "3/0/0", "3/0/1"]


def test_silent_generator_gives_incomplete_records_naming_it(schema, collector_factory):
    collector = collector_factory()
    t0 = grid_time()
    steps = [(1, started(12, ["1", "2", "3"]), t0)]
    steps += [(g, push(12, g), t0 + k * PERIOD) for k in range(2) for g in (1, 2)]
    run(publish(schema, collector, steps))
    records = collector.wait_for(periodic, count=2)
    for record in records:
        assert record["complete"] is False
        assert record["generators"]["missing"] == ["3"] and record["generators"]["present"] == ["1", "2"]
        assert names(record) == ["1/0/0", "1/0/1", "2/0/0", "2/0/1"]


def test_modified_generator_set_applies_from_the_next_slot(schema, collector_factory):
    collector = collector_factory()
    t0 = grid_time()
    steps = [(1, started(13, ["1", "2", "3"]), t0)]
    steps += [(g, push(13, g), t0) for g in (1, 2, 3)]
    steps += [(1, started(13, ["1", "2"], name="subscription-modified"), t0 + PERIOD / 2)]  # a line card left
    steps += [(g, push(13, g), t0 + k * PERIOD) for k in (1, 2) for g in (1, 2)]
    run(publish(schema, collector, steps))
    first, *later = collector.wait_for(periodic, count=3)
    assert first["complete"] and first["generators"]["expected"] == ["1", "2", "3"]
    for record in later:
        assert record["complete"] and record["generators"]["expected"] == ["1", "2"]
    assert "subscription-modified id=13" in collector.log()


def test_on_change_updates_pass_through_in_event_time_order(schema, collector_factory):
    """The push-updates of an on-change subscription (sync-on-start, resync) are not slotted."""
    collector = collector_factory(["--reorder-window", "0.3"])
    t0 = time.time()
    steps = [(1, started(14, ["2", "3"], OnChange()), t0),
             (3, push(14, 3), t0 + 0.02),
             (2, push(14, 2), t0 + 0.01)]  # observed first, sent second
    run(publish(schema, collector, steps))
    first, second = collector.wait_for(lambda r: r["kind"] == "on-change", count=2)
    assert (first["generator"], second["generator"]) == ("2", "3")
    assert first["time"] < second["time"]
    assert names(first) == ["2/0/0", "2/0/1"]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def metrics_port(collector: CollectorProcess) -> int:
    for line in collector.log().splitlines():
        if "event=metrics-listening" in line:
            return int(line.rsplit(":", 1)[1])
    raise AssertionError(collector.log())


def test_gaps_are_lost_and_duplicates_dropped_per_generator_in_the_metrics(schema, collector_factory):
    collector = collector_factory(["--metrics", "127.0.0.1:0"])
    t0 = grid_time()
    run(publish(schema, collector, [(1, started(15, ["5"]), t0)]))
    codec = EnvelopeCodec(schema)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for k, message_id in enumerate([100, 101, 101, 104]):  # a duplicate, then 102 and 103 lost
            payload = codec.encode(push(15, 5), event_time=format_epoch(t0 + k * PERIOD),
                                   sequence_number=message_id, encoding=Encoding.JSON)
            (datagram,) = encode_message(payload, publisher_id=5, message_id=message_id, media_type=MediaType.JSON)
            sender.sendto(datagram, ("127.0.0.1", collector.port))
    finally:
        sender.close()
    port = metrics_port(collector)
    deadline = time.monotonic() + 10
    samples = scrape(port)
    while time.monotonic() < deadline and samples.get('mso_collector_lost_messages_total{generator="5"}') != 2:
        time.sleep(0.2)
        samples = scrape(port)
    assert samples['mso_collector_lost_messages_total{generator="5"}'] == 2
    assert samples['mso_collector_duplicate_messages_total{generator="5"}'] == 1
    assert samples['mso_collector_messages_total{generator="5"}'] == 3
    assert samples['mso_collector_records_total{status="complete"}'] == 3
    assert samples["mso_collector_datagrams_total"] == 5  # the started notification and four pushes
    assert samples['mso_collector_record_latency_seconds_count'] == 3
