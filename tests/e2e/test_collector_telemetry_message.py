"""``mso collector --format telemetry-message``: the records of a synthetic device and of the
real one, on JSON lines and on NATS JetStream (read back by a plain nats-py consumer), each an
ietf-telemetry-message the modules accept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import orjson
import pytest

from collector.telemetry_structure import MEMBER, MessageSchema
from mso.date_and_time import format_epoch
from mso.schema import Schema
from tests.collector_support import collector_factory, nats_server  # noqa: F401  (fixtures)
from tests.conftest import run, start_server, stop_process
from tests.e2e.test_collector_generators import PERIOD, grid_time, publish, push, started

FORMAT = ["--format", "telemetry-message"]
SUBSCRIPTION = "ietf-yang-push-telemetry-message:yang-push-subscription"
COMPLETENESS = "mso-telemetry-completeness:completeness"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture(scope="module")
def structure(schema: Schema) -> MessageSchema:
    return MessageSchema(schema)


def metadata(message: dict) -> dict:
    return message[MEMBER]["telemetry-message-metadata"]


def completeness(message: dict) -> dict:
    return metadata(message)[COMPLETENESS]


def slotted(message: dict) -> bool:
    return MEMBER in message and "slot" in completeness(message)


async def consume(url: str, subject: str, count: int, timeout: float = 15.0) -> list[dict]:
    """``count`` messages on ``subject``, as any JetStream consumer reads them: nats-py alone."""
    client = await nats.connect(url)
    try:
        subscription = await client.jetstream().pull_subscribe(subject)
        messages: list[dict] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(messages) < count and asyncio.get_running_loop().time() < deadline:
            try:
                batch = await subscription.fetch(count - len(messages), timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in batch:
                messages.append(orjson.loads(message.data))
                await message.ack()
        return messages
    finally:
        await client.close()


def test_merged_and_incomplete_slots_as_telemetry_messages_on_both_outputs(schema, structure, nats_server,
                                                                           collector_factory):
    collector = collector_factory([*FORMAT, "--nats", nats_server])
    t0 = grid_time()
    steps = [(1, started(31, ["1", "2", "3"]), t0)]
    steps += [(g, push(31, g), t0 + k * PERIOD) for k in range(2) for g in (3, 1, 2)]
    steps += [(g, push(31, g), t0 + 2 * PERIOD) for g in (1, 2)]  # generator 3 is silent in the third slot
    steps += [(g, push(31, g), t0 + 3 * PERIOD) for g in (1, 2, 3)]
    run(publish(schema, collector, steps))

    lines = collector.wait_for(slotted, count=4)
    bus = run(consume(nats_server, "mso.telemetry.31", 4))
    assert [metadata(m)["sequence-number"] for m in bus] == [1, 2, 3, 4]  # as published
    lines.sort(key=lambda m: completeness(m)["slot"])  # the incomplete slot waits for its deadline
    bus.sort(key=lambda m: completeness(m)["slot"])
    assert [completeness(m)["slot"] for m in bus] == [completeness(m)["slot"] for m in lines] == [
        format_epoch(t0 + k * PERIOD) for k in range(4)]
    for message in lines + bus:
        structure.validate(message)
        assert metadata(message)["export-address"] == "127.0.0.1"
        assert metadata(message)["collection-port"] == collector.port
        assert metadata(message)[SUBSCRIPTION]["id"] == 31
    complete, incomplete = lines[0], lines[2]
    assert completeness(complete) == {"slot": format_epoch(t0), "complete": True,
                                      "expected-generator": ["1", "2", "3"], "present-generator": ["1", "2", "3"]}
    assert completeness(incomplete)["missing-generator"] == ["3"] and not completeness(incomplete)["complete"]
    assert incomplete[MEMBER]["payload"]["ietf-yang-push:push-update"]["incomplete-update"] == [None]
    assert "telemetry-message-invalid" not in collector.log()


def test_the_real_device_names_itself_and_its_subscription(tmp_path: Path, structure, agent_factory,
                                                           collector_factory):
    master = start_server(tmp_path / "state", ["--line-cards", "0"])
    try:
        agent_factory(master, 2, 1)
        collector = collector_factory([*FORMAT, "--netconf", f"127.0.0.1:{master.port}", "--user", master.user,
                                       "--password", master.password, "--period", "20", "--subscribe",
                                       "/if:interfaces/if:interface[if:name='mgmt0' or if:name='1/0/1']"])
        (message,) = collector.wait_for(lambda m: slotted(m) and completeness(m)["complete"])
        structure.validate(message)
        body = message[MEMBER]
        assert body["network-node-manifest"] == {"name": "MSO-9000", "vendor": "mso Networks"}
        assert completeness(message)["present-generator"] == ["1", "2"]
        subscription = metadata(message)[SUBSCRIPTION]
        assert subscription["xpath-filter"] == ("/ietf-interfaces:interfaces/ietf-interfaces:interface"
                                                "[ietf-interfaces:name='mgmt0' or ietf-interfaces:name='1/0/1']")
        assert subscription["datastore"] == "ietf-datastores:operational"
        assert subscription["periodic"] == {"period": 20}
        assert subscription["module"] == [{"name": "ietf-interfaces", "revision": "2018-02-20"}]
        assert len(subscription["yang-library-content-id"]) > 0
        interfaces = body["payload"]["ietf-yang-push:push-update"]["datastore-contents"]["ietf-interfaces:interfaces"]
        assert sorted(i["name"] for i in interfaces["interface"]) == ["1/0/1", "mgmt0"]
        assert "telemetry-message-invalid" not in collector.log()
    finally:
        stop_process(master.process)
