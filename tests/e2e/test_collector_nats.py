"""Records on the message bus: a real nats-server with JetStream, a collector process with
--nats, and a synthetic Master and line card pushing over UDP."""

from __future__ import annotations

import asyncio

import nats
import orjson
import pytest

from mso.schema import Schema
from tests.collector_support import collector_factory, free_tcp_port, nats_server, run_cli  # noqa: F401
from tests.conftest import run
from tests.e2e.test_collector_generators import PERIOD, grid_time, publish, push, started


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


async def consume(url: str, subject: str, count: int, timeout: float = 15.0) -> tuple[list[dict], list[str]]:
    """``count`` messages of the stream on ``subject``, and the names of the streams."""
    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        subscription = await jetstream.pull_subscribe(subject)
        records: list[dict] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            try:
                messages = await subscription.fetch(count - len(records), timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                records.append(orjson.loads(message.data))
                await message.ack()
        return records, [info.config.name for info in await jetstream.streams_info()]
    finally:
        await client.close()


def test_records_arrive_on_the_subscription_subject(schema, nats_server, collector_factory):
    collector = collector_factory(["--nats", nats_server])
    t0 = grid_time()
    steps = [(1, started(21, ["1", "2"]), t0)]
    steps += [(g, push(21, g), t0 + k * PERIOD) for k in range(3) for g in (1, 2)]
    run(publish(schema, collector, steps))
    records, streams = run(consume(nats_server, "mso.telemetry.21", 3))
    assert [r["subscription-id"] for r in records] == [21, 21, 21]
    assert all(r["complete"] and r["generators"]["present"] == ["1", "2"] for r in records)
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)
    assert streams == ["MSO_TELEMETRY"]
    assert "nats-stream-created" in collector.log()


def test_unreachable_broker_is_one_line_and_exit_1(tmp_path):
    result = run_cli("--listen", "127.0.0.1:0", "--nats", f"nats://127.0.0.1:{free_tcp_port()}")
    assert result.returncode == 1 and "cannot connect to NATS" in result.stderr
    assert "Traceback" not in result.stderr
