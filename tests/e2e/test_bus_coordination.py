"""Data collection coordination and per-consumer processing (issue 11, TS 23.288 §5A) on a real
Master with the nats-server it starts itself, its collector and its bus worker, read by plain
nats-py consumers: requests for data attached to, widening and creating collections, as
operational data says; consumers with different instructions on one collection each getting
their own summaries on their own subjects; ``mso bus fetch``; a second worker taking a topic
over when the first stops."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import nats
import pytest
from lxml import etree

from mso import bus
from mso.date_and_time import parse_epoch
from mso.namespaces import MESSAGE_BUS, NRM, SUBSCRIBED_NOTIFICATIONS, qn
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from mso.schema import Schema
from tests.bus_support import (Consumer, bus_edit, data_polling_job, format_instruct, polling_job, proc_instruct,
                               reporting_job)
from tests.collector_support import free_tcp_port
from tests.conftest import ServerProcess, run, stop_process

MB = MESSAGE_BUS
STATS = "/if:interfaces/if:interface[if:name='{}']/if:statistics/if:in-octets"
OCTETS = "ietf-interfaces:interfaces/interface/statistics/in-octets"
MASTER_ARGS = ["--line-cards", "1", "--ports", "3"]


@pytest.fixture
def bus_url() -> str:
    return f"nats://127.0.0.1:{free_tcp_port()}"


async def connect(master: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect(master.host, master.port, username=master.user, password=master.password)


async def jobs(client: NetconfClient) -> dict[str, dict[str, list[str]]]:
    """Every job's attributes as operational data has them, by id (each leaf as a list of texts)."""
    data = await client.get(subtree=f'<SubNetwork xmlns="{NRM}"/>')
    found: dict[str, dict[str, list[str]]] = {}
    for entry in data.iter(qn(MB, "MessageBusDataReportingJob"), qn(MB, "MessageBusDataPollingJob")):
        attributes: dict[str, list[str]] = {}
        for leaf in entry.find(qn(MB, "attributes")):
            text = (",".join(f"{etree.QName(part).localname}={part.text}" for part in leaf) if len(leaf)
                    else (leaf.text or "").strip())  # a list entry as name=value,...
            attributes.setdefault(etree.QName(leaf).localname, []).append(text)
        found[entry.findtext(qn(MB, "id"))] = attributes
    return found


async def until(client: NetconfClient, ready, timeout: float = 30.0) -> dict[str, dict[str, list[str]]]:
    """The jobs once ``ready(jobs)`` holds (polled, bounded)."""
    for _ in range(int(timeout / 0.2)):
        states = await jobs(client)
        if ready(states):
            return states
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached within {timeout} s: {states}")


def enabled(*ids: str):
    return lambda states: all(states.get(i, {}).get("operationalState") == ["ENABLED"] for i in ids)


async def subscriptions(client: NetconfClient) -> int:
    data = await client.get(subtree=f'<subscriptions xmlns="{SUBSCRIBED_NOTIFICATIONS}"/>')
    return len(list(data.iter(qn(SUBSCRIBED_NOTIFICATIONS, "subscription"))))


def names(record: dict) -> set[str]:
    return {i["name"] for i in record["data"]["ietf-interfaces:interfaces"]["interface"]}


async def topic_record(master: ServerProcess, url: str, topic: str, wanted, timeout: float = 30.0) -> dict:
    """The first periodic record on ``topic`` that ``wanted`` accepts, read as the Master (no
    polling job may name a system-created collection's topic)."""
    password = json.loads((master.state_dir / "bus" / "bus.json").read_text())["passwords"]["mso-master"]
    client = await nats.connect(url, user="mso-master", password=password, allow_reconnect=False)
    received: asyncio.Queue = asyncio.Queue()
    try:
        await client.subscribe(bus.topic_subject(topic), cb=received.put)
        deadline = asyncio.get_running_loop().time() + timeout
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                record = json.loads((await asyncio.wait_for(received.get(), left)).data)
            except asyncio.TimeoutError:
                break
            if record.get("kind") == "periodic" and wanted(record):
                return record
        raise AssertionError(f"no such record on topic {topic!r} within {timeout} s")
    finally:
        await client.close()


def test_requests_for_data_are_attached_widen_a_collection_or_create_one_and_narrow_it(server_factory,
                                                                                        bus_url) -> None:
    master = server_factory(extra_args=MASTER_ARGS)

    async def body() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", STATS.format("1/0/1"))))
        await until(client, enabled("pm"))
        assert await subscriptions(client) == 1

        await client.rpc(bus_edit(None, data_polling_job("a", "alice", "alice-secret", STATS.format("1/0/1"), 100)))
        states = await until(client, enabled("a"))
        assert states["a"]["servingReportingJob"] == ["pm"] and states["a"]["collectionStatus"] == ["ALREADY_COLLECTED"]
        assert states["pm"]["pollingJobs"] == ["a"] and states["pm"]["systemCreated"] == ["false"]
        assert await subscriptions(client) == 1  # nothing new asked of the source
        alice = await Consumer(bus_url, "alice", "alice-secret", "a").open()
        assert names((await alice.records(1))[0]) == {"1/0/1"}  # the topic of pm

        await client.rpc(bus_edit(None, data_polling_job("b", "bob", "bob-secret", STATS.format("1/0/2"), 100)))
        states = await until(client, enabled("b", "sys-1"))
        assert states["b"]["servingReportingJob"] == ["sys-1"] and states["b"]["collectionStatus"] == ["NOT_COLLECTED"]
        created = states["sys-1"]
        assert (created["systemCreated"], created["topic"], created["reportingPeriod"]) == (["true"], ["sys-1"], ["100"])
        assert created["dataSelector"] == [STATS.format("1/0/2")] and created["pollingJobs"] == ["b"]
        assert await subscriptions(client) == 2
        bob = await Consumer(bus_url, "bob", "bob-secret", "b").open()
        assert names((await bob.records(1))[0]) == {"1/0/2"}

        await client.rpc(bus_edit(None, data_polling_job("c", "carol", "carol-secret", STATS.format("1/0/0"), 50)))
        states = await until(client, lambda s: s.get("sys-1", {}).get("reportingPeriod") == ["50"])
        assert states["c"]["servingReportingJob"] == ["sys-1"] and states["c"]["collectionStatus"] == ["PARTLY_COVERED"]
        assert states["sys-1"]["dataSelector"] == [
            "/if:interfaces/if:interface[if:name='1/0/0' or if:name='1/0/2']/if:statistics/if:in-octets"]
        assert states["sys-1"]["pollingJobs"] == ["b", "c"] and await subscriptions(client) == 2  # widened, not doubled
        assert states["sys-1"]["servedRequests"] == ["pollingJob=b,collectionStatus=NOT_COLLECTED",
                                                     "pollingJob=c,collectionStatus=PARTLY_COVERED"]
        assert states["pm"]["servedRequests"] == ["pollingJob=a,collectionStatus=ALREADY_COLLECTED"]
        # every leaf the Master says is one its module declares, where it declares it
        Schema.load().validate_operational(await client.get(subtree=f'<SubNetwork xmlns="{NRM}"/>'),
                                           present_only=True)
        (modified,) = await bob.records(1, kind="state")
        assert modified["event"] == "ietf-subscribed-notifications:subscription-modified"
        assert "1/0/0" in modified["data"]["ietf-yang-push:datastore-xpath-filter"]
        # the collection's topic carries both ports; each consumer still gets only the port it asked for
        widened = await topic_record(master, bus_url, "sys-1", lambda r: names(r) == {"1/0/0", "1/0/2"})
        carol = await Consumer(bus_url, "carol", "carol-secret", "c").open()
        for consumer, port in ((bob, "1/0/2"), (carol, "1/0/0")):
            while True:
                (record,) = await consumer.records(1)
                interfaces = record["data"].get("ietf-interfaces:interfaces", {}).get("interface", [])
                assert {entry["name"] for entry in interfaces} <= {port}, record  # never another's port
                if parse_epoch(record["time"]) >= parse_epoch(widened["time"]):  # cut from the widened records
                    assert names(record) == {port} and set(interfaces[0]) == {"name", "statistics"}, record
                    break

        await client.rpc(bus_edit(None, polling_job("c", "", "", [], operation="delete")))
        states = await until(client, lambda s: s.get("sys-1", {}).get("reportingPeriod") == ["100"])
        assert states["sys-1"]["dataSelector"] == [STATS.format("1/0/2")]  # narrowed
        await client.rpc(bus_edit(None, polling_job("b", "", "", [], operation="delete")))
        states = await until(client, lambda s: "sys-1" not in s)  # ended with its last consumer
        assert await subscriptions(client) == 1 and states["pm"]["pollingJobs"] == ["a"]
        for consumer in (alice, bob, carol):
            await consumer.close()
        await client.close()

    run(body())


def test_requests_and_instructions_that_cannot_be_followed_are_refused_at_the_edit(server_factory, bus_url) -> None:
    master = server_factory(extra_args=MASTER_ARGS)
    job_path = ("/nrm:SubNetwork[nrm:id='device']/mbus:MessageBrokingFunction[mbus:id='bus']"
                "/mbus:MessageBusDataPollingJob[mbus:id='p']/mbus:attributes")

    def asking(selector: str = STATS.format("1/0/1"), instructions: str = "", topics: Sequence[str] = ()) -> str:
        return bus_edit(bus_url, reporting_job("pm", "ifaces", STATS.format("1/0/1")),
                        data_polling_job("p", "carol", "carol-secret", selector, 100, instructions, topics))

    def summary(interval: str, attribute: str) -> str:
        return (f"<procInstructs><procInterval>{interval}</procInterval><paramProcInstructs><name>{OCTETS}</name>"
                f"<sumAttrs>{attribute}</sumAttrs></paramProcInstructs></procInstructs>")

    async def refused(client: NetconfClient, edit: str) -> RpcError:
        with pytest.raises(RpcError) as raised:
            await client.rpc(edit)
        return raised.value

    async def body() -> list[RpcError]:
        client = await connect(master)
        errors = [await refused(client, edit) for edit in (
            asking(topics=["ifaces"]),
            asking(selector="/if:interfaces/if:interface[if:name="),
            asking(selector="/nowhere:interfaces"),
            asking(instructions=summary("10", "MEDIAN")),
            asking(instructions=summary("0", "MIN_MAX")),
            asking(instructions=format_instruct(minimum=5, maximum=2)))]
        await client.rpc(asking(instructions=summary("10", "MIN_MAX")))  # and the server still takes a good one
        states = await until(client, enabled("p"))
        assert states["p"]["servingReportingJob"] == ["pm"]
        await client.close()
        return errors

    both, unparsable, unknown_prefix, literal, interval, clubbed = run(body())
    for error in (both, unparsable, unknown_prefix, literal, interval, clubbed):
        assert error.tag == "invalid-value" and error.type == "application", error
    assert both.path == f"{job_path}/mbus:dataSelector" and "not both" in both.message
    assert unparsable.path == f"{job_path}/mbus:dataSelector" and "XPath" in unparsable.message
    assert unknown_prefix.path == f"{job_path}/mbus:dataSelector" and "nowhere" in unknown_prefix.message
    assert "MEDIAN" in literal.message and literal.path.endswith("/mbus:sumAttrs"), literal
    assert "0" in interval.message and interval.path.endswith("/mbus:procInterval"), interval
    assert clubbed.path.endswith("/mbus:maxClubbedNotif") and "greater than" in clubbed.message
    assert "Traceback" not in master.log()


async def deliveries(url: str, user: str, secret: str, subject: str, count: int,
                     timeout: float = 40.0) -> list[dict]:
    """The next ``count`` messages on ``subject`` for a plain nats-py consumer."""
    client = await nats.connect(url, user=user, password=secret, inbox_prefix=f"_INBOX.{user}", allow_reconnect=False)
    queue: asyncio.Queue = asyncio.Queue()
    await client.subscribe(subject, cb=queue.put)
    try:
        return [json.loads((await asyncio.wait_for(queue.get(), timeout)).data) for _ in range(count)]
    finally:
        await client.close()


def test_two_consumers_with_different_instructions_get_their_own_summaries_on_their_own_subjects(
        server_factory, bus_url) -> None:
    master = server_factory(extra_args=MASTER_ARGS)
    both = "/if:interfaces/if:interface[if:name='1/0/0' or if:name='1/0/1']/if:statistics/if:in-octets"
    per_interface = proc_instruct(2, (OCTETS, ["MIN_MAX", "OCCURRENCES"], "ENTRY", []))
    overall = proc_instruct(3, (OCTETS, ["AVG_VAR", "SPACING"], "ALL", []))

    async def body() -> tuple[list[dict], list[dict], dict]:
        client = await connect(master)
        await client.rpc(bus_edit(
            bus_url, reporting_job("pm", "ifaces", both, period_cs=50),
            polling_job("sa", "alice", "alice-secret", ["ifaces"]).replace("</attributes>", per_interface + "</attributes>"),
            data_polling_job("sb", "bob", "bob-secret", STATS.format("1/0/1"), 100,
                             instructions=format_instruct(minimum=2) + overall)))
        states = await until(client, enabled("pm", "sa", "sb"))
        assert states["sb"]["servingReportingJob"] == ["pm"] and states["pm"]["pollingJobs"] == ["sa", "sb"]
        alices, bobs = await asyncio.gather(deliveries(bus_url, "alice", "alice-secret", "mso.out.sa", 2),
                                            deliveries(bus_url, "bob", "bob-secret", "mso.out.sb", 1))
        await client.close()
        return alices, bobs, states

    alices, bobs, _ = run(body())
    for message in alices:
        assert message["kind"] == "delivery" and message["job"] == "sa"
        (summary,) = message["notifications"]
        assert (summary["kind"], summary["topic"], summary["procInterval"]) == ("summary", "ifaces", 2)
        entries = {r["entry"]: r for r in summary["eventReports"]}
        assert set(entries) <= {"interface[name='1/0/0']", "interface[name='1/0/1']"}
        for report in entries.values():
            assert report["name"] == OCTETS and report["count"] >= 1
            assert int(report["minValue"]) <= int(report["maxValue"])
    assert alices[0]["notifications"][0]["stopTime"] <= alices[1]["notifications"][0]["startTime"]
    (message,) = bobs
    assert message["job"] == "sb" and len(message["notifications"]) == 2  # minClubbedNotif 2
    first, second = message["notifications"]
    assert first["procInterval"] == 3 and first["stopTime"] == second["startTime"]
    (report,) = second["eventReports"]
    assert set(report) == {"name", "avgAndVar", "spacing"} and report["avgAndVar"]["variance"] >= 0
    assert report["spacing"]["number"] >= 0.5 and (report["spacing"]["number"] * 2) % 1 < 1e-9  # slots 0.5 s apart

    async def refused(error: Exception) -> None:
        """The broker's permissions violation, which the server log shows below."""

    async def alice_on_bobs_subject() -> None:
        client = await nats.connect(bus_url, user="alice", password="alice-secret", inbox_prefix="_INBOX.alice",
                                    allow_reconnect=False, error_cb=refused)
        received: asyncio.Queue = asyncio.Queue()
        await client.subscribe("mso.out.sb", cb=received.put)
        await asyncio.sleep(4.0)  # bob gets a message in this time; alice must not
        await client.close()
        assert received.empty()

    run(alice_on_bobs_subject())

    async def topic_readers() -> list[str]:
        password = json.loads((master.state_dir / "bus" / "bus.json").read_text())["passwords"]["mso-master"]
        client = await nats.connect(bus_url, user="mso-master", password=password, allow_reconnect=False)
        try:
            return sorted(info.name for info in await client.jetstream().consumers_info("MSO_BUS_ifaces"))
        finally:
            await client.close()

    assert run(topic_readers()) == ["bus-worker"]  # two jobs with instructions, the topic read once
    broker_log = (master.state_dir / "bus" / "nats" / "nats-server.log").read_text()
    assert '"mso.out.sb"' in broker_log and "Subscription Violation" in broker_log
    read = subprocess.run([sys.executable, "-m", "mso", "bus", "poll", "--job", "sa", "--user", "alice", "--bus",
                           bus_url, "--count", "1"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MSO_NATS_PASSWORD": "alice-secret"})
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["notifications"][0]["kind"] == "summary"  # the job's own deliveries, durably


def fetch_cli(url: str, job: str, user: str, secret: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mso", "bus", "fetch", "--job", job, "--user", user, "--bus", url],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "MSO_NATS_PASSWORD": secret})


def test_a_consumer_fetches_what_its_job_buffered_and_hears_what_expired(server_factory, bus_url) -> None:
    master = server_factory(extra_args=MASTER_ARGS)

    async def configure() -> list[dict]:
        client = await connect(master)
        await client.rpc(bus_edit(
            bus_url, reporting_job("pm", "ifaces", STATS.format("1/0/1"), period_cs=50),
            polling_job("plain", "dave", "dave-secret", ["ifaces"]),
            data_polling_job("f", "carol", "carol-secret", STATS.format("1/0/1"), 50,
                             instructions=format_instruct(fetch=True, expiry=2))))
        await until(client, enabled("pm", "f"))
        await client.close()
        return await deliveries(bus_url, "carol", "carol-secret", "mso.out.f", 3)

    instructions = run(configure())
    assert [m["kind"] for m in instructions] == ["fetch-instruction"] * 3
    ids = [int(m["fetchCorrIds"][0]) for m in instructions]
    assert ids == sorted(ids) and all(m["expiry"] > m["time"] for m in instructions)
    fetched = fetch_cli(bus_url, "f", "carol", "carol-secret")
    assert fetched.returncode == 0, fetched.stderr
    lines = [json.loads(line) for line in fetched.stdout.splitlines()]
    assert len(lines) >= 2 and all(m["kind"] == "delivery" and m["job"] == "f" for m in lines), fetched.stderr
    times = [m["notifications"][0]["time"] for m in lines]
    assert times == sorted(times) and all(m["notifications"][0]["kind"] in ("periodic", "state") for m in lines)
    assert f"{len(lines)} deliveries fetched" in fetched.stderr
    run(asyncio.sleep(3.5))  # records keep coming every 0.5 s and expire 2 s after: the first ones waited too long
    again = fetch_cli(bus_url, "f", "carol", "carol-secret")
    assert again.returncode == 0, again.stderr
    report = re.fullmatch(r"mso bus fetch: (\d+) deliveries fetched; (\d+) expired unfetched since the last fetch "
                          r"\((\d+) in all\)\n", again.stderr)
    assert report, again.stderr
    count, expired, total = map(int, report.groups())
    later = [json.loads(line) for line in again.stdout.splitlines()]
    assert count == len(later) >= 1 and expired >= 1 and total >= expired  # about 3 s of records: some of each
    assert later[0]["notifications"][0]["time"] > times[-1]  # nothing fetched twice
    refused = fetch_cli(bus_url, "plain", "dave", "dave-secret")
    assert refused.returncode == 1 and refused.stderr.startswith("mso bus: job 'plain' does not buffer")
    assert len(refused.stderr.strip().splitlines()) == 1


def worker_pid(master: ServerProcess) -> int:
    """The pid of the bus worker the Master runs (its child whose command is ``mso bus ... worker``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == master.process.pid and b"bus" in command and b"worker" in command:
            return int(entry.name)
    raise AssertionError("the Master runs no bus worker")


def test_a_second_worker_takes_a_topic_over_when_the_first_stops_pulling(server_factory, bus_url,
                                                                         tmp_path: Path) -> None:
    master = server_factory(extra_args=MASTER_ARGS)

    async def configure() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(
            bus_url, reporting_job("pm", "ifaces", STATS.format("1/0/1"), period_cs=50),
            data_polling_job("s", "erin", "erin-secret", STATS.format("1/0/1"), 50,
                             instructions=proc_instruct(1, (OCTETS, ["OCCURRENCES"], "ALL", [])))))
        await until(client, enabled("pm", "s"))
        await client.close()

    run(configure())
    run(deliveries(bus_url, "erin", "erin-secret", "mso.out.s", 1))  # the Master's worker serves the topic
    password = json.loads((master.state_dir / "bus" / "bus.json").read_text())["passwords"]["mso-bus-worker"]
    log_path = tmp_path / "second-worker.log"
    with open(log_path, "wb") as log:
        second = subprocess.Popen([sys.executable, "-m", "mso", "bus", "--log-level", "info", "worker", "--bus", bus_url],
                                  stdout=log, stderr=log, start_new_session=True,
                                  env={**os.environ, "MSO_NATS_PASSWORD": password})
    first = worker_pid(master)
    try:
        run(deliveries(bus_url, "erin", "erin-secret", "mso.out.s", 1))
        os.kill(first, signal.SIGSTOP)  # the first stops pulling; after the pin timeout the second is pinned
        try:
            after = run(deliveries(bus_url, "erin", "erin-secret", "mso.out.s", 2, timeout=60.0))
        finally:
            os.kill(first, signal.SIGCONT)
    finally:
        stop_process(second)
    assert all(m["notifications"][0]["kind"] == "summary" for m in after)
    assert after[0]["notifications"][0]["stopTime"] <= after[1]["notifications"][0]["startTime"]
    assert "serving the polling jobs' instructions" in log_path.read_text()
