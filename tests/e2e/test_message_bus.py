"""The 3GPP message-bus data reporting and polling MnS on a real Master, with a real nats-server
it starts itself, real agents and real consumers: reporting jobs make telemetry flow to their
topic, polling jobs let exactly their consumer read, and the broker refuses everyone else."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from lxml import etree

from mso.namespaces import MESSAGE_BUS, NRM, qn
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from tests.bus_support import Consumer, bus_edit, polling_job, reporting_job
from tests.collector_support import collector_factory, free_tcp_port, nats_server  # noqa: F401 (fixtures)
from tests.conftest import ServerProcess, run, stop_process

MB = MESSAGE_BUS
PORT_1_0_1 = "/if:interfaces/if:interface[if:name='1/0/1']/if:statistics/if:in-octets"
SECRET_A, SECRET_B = "alice-secret", "bob-secret"


@pytest.fixture
def bus_url() -> str:
    return f"nats://127.0.0.1:{free_tcp_port()}"


async def connect(master: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect(master.host, master.port, username=master.user, password=master.password)


async def job_states(client: NetconfClient) -> dict[str, dict[str, str]]:
    """Every job's (and the function's) read-only attributes, by id."""
    data = await client.get(subtree=f'<SubNetwork xmlns="{NRM}"/>')
    states: dict[str, dict[str, str]] = {}
    for entry in data.iter(qn(MB, "MessageBrokingFunction"), qn(MB, "MessageBusDataReportingJob"),
                           qn(MB, "MessageBusDataPollingJob")):
        attributes = entry.find(qn(MB, "attributes"))
        states[entry.findtext(qn(MB, "id"))] = {etree.QName(a).localname: a.text or "" for a in attributes}
    return states


async def until_enabled(client: NetconfClient, *ids: str, timeout: float = 30.0) -> dict[str, dict[str, str]]:
    for _ in range(int(timeout / 0.2)):
        states = await job_states(client)
        if all(states.get(i, {}).get("operationalState") == "ENABLED" for i in ids):
            return states
        await asyncio.sleep(0.2)
    raise AssertionError(f"not all of {ids} ENABLED: {states}")


def poll_cli(url: str, job: str, user: str, secret: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mso", "bus", "poll", "--job", job, "--user", user, "--bus", url,
                           *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MSO_NATS_PASSWORD": secret})


def test_two_consumers_each_read_every_record_and_one_resumes_where_it_stopped(server_factory, bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  polling_job("a", "alice", SECRET_A, ["ifaces"]),
                                  polling_job("b", "bob", SECRET_B, ["ifaces"])))
        await until_enabled(client, "pm", "a", "b")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        bob = await Consumer(bus_url, "bob", SECRET_B, "b").open()
        alices = await alice.records(4)
        bobs = await bob.records(2)
        await bob.close()  # bob stops; what comes meanwhile waits for him in his durable consumer
        await asyncio.sleep(1.0)
        bob = await Consumer(bus_url, "bob", SECRET_B, "b").open()
        bobs += await bob.records(2)
        assert [r["time"] for r in bobs] == [r["time"] for r in alices]  # one copy, read twice, in order
        assert all(r["complete"] and r["generators"]["present"] == ["1"] for r in alices)
        assert alices[0]["data"]["ietf-interfaces:interfaces"]["interface"][0]["name"] == "1/0/1"
        states = await job_states(client)
        assert int(states["pm"]["messagesPublished"]) >= 4 and states["pm"]["subscriptionId"].isdigit()
        assert states["bus"]["brokerVersion"] and states["bus"]["streams"] == "MSO_BUS_ifaces"
        for _ in range(30):  # consumers' counters are refreshed every second
            if int((await job_states(client))["a"]["delivered"]) >= 4:
                break
            await asyncio.sleep(0.2)
        assert int((await job_states(client))["a"]["delivered"]) >= 4
        await alice.close()
        await bob.close()
        await client.close()

    run(body())


def test_the_broker_refuses_a_consumer_without_a_job_and_a_job_beyond_its_topics(server_factory, bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  reporting_job("pm2", "others", PORT_1_0_1), polling_job("a", "alice", SECRET_A, ["ifaces"])))
        await until_enabled(client, "pm", "pm2", "a")
        await client.close()

    run(body())
    stranger = poll_cli(bus_url, "a", "mallory", "whatever-secret", "--count", "1")
    assert stranger.returncode == 1 and stranger.stderr.strip() == (
        f"mso bus: cannot connect to NATS at {bus_url}: Authorization Violation")
    wrong_secret = poll_cli(bus_url, "a", "alice", "not-her-secret", "--count", "1")
    assert wrong_secret.returncode == 1 and "Authorization Violation" in wrong_secret.stderr
    read = poll_cli(bus_url, "a", "alice", SECRET_A, "--count", "2")
    assert read.returncode == 0, read.stderr
    assert len(read.stdout.splitlines()) == 2

    async def beyond() -> str:
        client = await nats.connect(bus_url, user="alice", password=SECRET_A, inbox_prefix="_INBOX.alice",
                                    allow_reconnect=False)
        try:
            other = await client.jetstream().pull_subscribe_bind("job-a", stream="MSO_BUS_others")
            await other.fetch(1, timeout=2)
            return "read"
        except Exception as error:  # a permissions violation surfaces as a timeout of the pull
            return type(error).__name__
        finally:
            await client.close()

    assert run(beyond()) != "read"
    broker_log = (master.state_dir / "bus" / "nats" / "nats-server.log").read_text()
    assert 'Publish Violation - Subject "$JS.API.CONSUMER.MSG.NEXT.MSO_BUS_others.job-a"' in broker_log


def test_deleting_a_polling_job_cuts_off_that_consumer_only(server_factory, bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> tuple[bool, int]:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  polling_job("a", "alice", SECRET_A, ["ifaces"]),
                                  polling_job("b", "bob", SECRET_B, ["ifaces"])))
        await until_enabled(client, "pm", "a", "b")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        bob = await Consumer(bus_url, "bob", SECRET_B, "b").open()
        await alice.records(1)
        await bob.records(1)
        await client.rpc(bus_edit(None, polling_job("b", "", "", [], operation="delete")))
        for _ in range(50):
            if bob.client is not None and bob.client.is_closed:
                break
            await asyncio.sleep(0.1)
        bob_cut = bob.client is not None and bob.client.is_closed
        alice_more = len(await alice.records(2))
        await alice.close()
        await client.close()
        return bob_cut, alice_more

    bob_cut, alice_more = run(body())
    assert bob_cut, "the broker closes the connection of a consumer whose job is gone"
    assert alice_more == 2
    refused = poll_cli(bus_url, "b", "bob", SECRET_B, "--count", "1")
    assert refused.returncode == 1 and "Authorization Violation" in refused.stderr


def test_a_job_over_two_cards_merges_their_pieces_and_names_a_silent_card(server_factory, agent_factory,
                                                                          bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "0", "--agent-timeout", "3"])
    agent_factory(master, 2, 1, interfaces=2)
    hung = agent_factory(master, 3, 2, interfaces=2)
    selector = "/if:interfaces/if:interface[if:name='1/0/0' or if:name='2/0/0']/if:statistics/if:in-octets"

    async def body() -> tuple[list[dict], list[dict], list[dict]]:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "cards", selector),
                                  polling_job("a", "alice", SECRET_A, ["cards"])))
        await until_enabled(client, "pm", "a")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        complete = await alice.records(2)
        os.kill(hung.process.pid, signal.SIGSTOP)
        try:
            missing = []
            while not missing:
                missing = [r for r in await alice.records(1) if "3" in r["generators"]["missing"]]
            modified = await alice.records(1, kind="state")
        finally:
            os.kill(hung.process.pid, signal.SIGCONT)
        await alice.close()
        await client.close()
        return complete, missing, modified

    complete, missing, modified = run(body())
    assert all(r["complete"] and set(r["generators"]["present"]) >= {"2", "3"} for r in complete)
    names = {i["name"] for i in complete[-1]["data"]["ietf-interfaces:interfaces"]["interface"]}
    assert names == {"1/0/0", "2/0/0"}
    assert missing[0]["complete"] is False
    assert modified[0]["event"] == "ietf-subscribed-notifications:subscription-modified"
    assert "3" not in modified[0]["data"]["ietf-multiple-stream-originators:message-generator-id"]


def test_locking_stops_the_flow_and_a_new_selector_is_announced_on_the_topic(server_factory, bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])
    port_1_0_0 = "/if:interfaces/if:interface[if:name='1/0/0']/if:statistics/if:in-octets"

    async def body() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  polling_job("a", "alice", SECRET_A, ["ifaces"])))
        await until_enabled(client, "pm", "a")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        await alice.records(1)
        await client.rpc(bus_edit(None, reporting_job("pm", "ifaces", port_1_0_0)))
        modified = await alice.records(1, kind="state")
        assert "1/0/0" in modified[0]["data"]["ietf-yang-push:datastore-xpath-filter"]
        (after,) = await alice.records(1)
        assert after["data"]["ietf-interfaces:interfaces"]["interface"][0]["name"] == "1/0/0"
        await client.rpc(bus_edit(None, reporting_job("pm", "ifaces", port_1_0_0, state="LOCKED")))
        states = await job_states(client)
        assert states["pm"]["operationalState"] == "DISABLED"
        assert states["pm"]["operationalStateReason"] == "administrativeState is LOCKED"
        terminated = await alice.records(1, kind="state")
        assert terminated[0]["event"] == "ietf-subscribed-notifications:subscription-terminated"
        with pytest.raises(AssertionError):
            await alice.records(1, timeout=2.0)  # nothing flows while locked
        await alice.close()
        await client.close()

    run(body())


def test_jobs_survive_a_restart_and_consumers_resume(server_factory, bus_url, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    master = server_factory(state_dir, extra_args=["--line-cards", "1", "--ports", "2"])

    async def before() -> list[dict]:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  polling_job("a", "alice", SECRET_A, ["ifaces"])))
        await until_enabled(client, "pm", "a")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        records = await alice.records(2)
        await alice.close()
        await client.close()
        return records

    first = run(before())
    stop_process(master.process)
    master = server_factory(state_dir, extra_args=["--line-cards", "1", "--ports", "2"])
    assert any("message bus: started nats-server" in line for line in master.said)

    async def after() -> list[dict]:
        client = await connect(master)
        await until_enabled(client, "pm", "a")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        records = await alice.records(2)
        await alice.close()
        await client.close()
        return records

    second = run(after())
    assert second[0]["time"] > first[-1]["time"]  # resumed after what was acknowledged, nothing twice
    assert second[0]["subscription-id"] == first[0]["subscription-id"]


def test_errors_of_the_message_bus_configuration(server_factory, bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def refused(client: NetconfClient, edit: str) -> RpcError:
        with pytest.raises(RpcError) as raised:
            await client.rpc(edit)
        return raised.value

    async def body() -> None:
        client = await connect(master)
        unknown = await refused(client, bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                                 polling_job("a", "alice", SECRET_A, ["nowhere"])))
        assert unknown.tag == "invalid-value"
        assert unknown.path == ("/nrm:SubNetwork[nrm:id='device']/mbus:MessageBrokingFunction[mbus:id='bus']"
                                "/mbus:MessageBusDataPollingJob[mbus:id='a']/mbus:attributes/mbus:topics[.='nowhere']")
        twice = await refused(client, bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                               reporting_job("pm2", "ifaces", PORT_1_0_1)))
        assert twice.tag == "data-exists"
        await client.rpc(bus_edit("nats://broker.invalid:4222", reporting_job("pm", "ifaces", PORT_1_0_1)))
        second = await refused(client, bus_edit(None, function="other"))
        assert (second.tag, second.app_tag) == ("operation-failed", "too-many-elements")
        elsewhere = await refused(client, bus_edit(None, function="other", subnetwork="lab"))
        assert (elsewhere.tag, elsewhere.app_tag) == ("operation-failed", "too-many-elements")
        for _ in range(50):
            states = await job_states(client)
            if states["bus"].get("operationalState") == "DISABLED" and "cannot connect" in states["bus"].get(
                    "operationalStateReason", ""):
                break
            await asyncio.sleep(0.2)
        assert states["bus"]["operationalState"] == "DISABLED"
        assert "broker.invalid" in states["bus"]["operationalStateReason"]
        assert states["pm"]["operationalState"] == "DISABLED"
        await client.close()

    run(body())


def test_a_consumer_reads_again_from_the_start_or_a_time_without_moving_its_position(server_factory,
                                                                                       bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def consume(count: int) -> list[dict]:
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        try:
            return await alice.records(count)
        finally:
            await alice.close()

    async def configure() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  polling_job("a", "alice", SECRET_A, ["ifaces"])))
        await until_enabled(client, "pm", "a")
        await client.close()

    run(configure())
    read = run(consume(3))
    again = poll_cli(bus_url, "a", "alice", SECRET_A, "--from-start", "--count", "4")
    assert again.returncode == 0, again.stderr
    replayed = [json.loads(line) for line in again.stdout.splitlines()]
    assert [r["kind"] for r in replayed][:1] == ["state"]  # the subscription's announcement comes first
    assert [r["time"] for r in replayed if r["kind"] == "periodic"] == [r["time"] for r in read]
    since = poll_cli(bus_url, "a", "alice", SECRET_A, "--since", read[1]["time"], "--count", "1")
    assert since.returncode == 0, since.stderr
    assert json.loads(since.stdout)["time"] == read[1]["time"]
    (next_one,) = run(consume(1))
    assert next_one["time"] > read[-1]["time"]  # the durable position did not move


def test_event_stream_jobs_report_events_and_fault_jobs_say_there_is_no_source(server_factory, bus_url) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])
    events = (f"<MessageBusDataReportingJob><id>ev</id><attributes><topic>events</topic>"
              f"<managementDataType>PROPRIETARY</managementDataType></attributes></MessageBusDataReportingJob>")
    faults = (f"<MessageBusDataReportingJob><id>fm</id><attributes><topic>faults</topic>"
              f"<managementDataType>FAULT</managementDataType></attributes></MessageBusDataReportingJob>")

    async def body() -> tuple[list[dict], dict[str, dict[str, str]]]:
        client = await connect(master)
        await client.rpc(bus_edit(bus_url, events, faults, polling_job("a", "alice", SECRET_A, ["events"])))
        await until_enabled(client, "ev", "a")
        alice = await Consumer(bus_url, "alice", SECRET_A, "a").open()
        await client.rpc(bus_edit(None, reporting_job("pm", "ifaces", PORT_1_0_1)))  # a commit: an event
        changes = []
        while not changes:
            changes = [r for r in await alice.records(1, kind="event")
                       if r["event"].endswith("netconf-config-change")]
        states = await job_states(client)
        await alice.close()
        await client.close()
        return changes, states

    changes, states = run(body())
    assert changes[0]["data"]["changed-by"]["username"] == "admin"
    assert states["fm"]["operationalState"] == "DISABLED"
    assert states["fm"]["operationalStateReason"] == "this device has no fault (alarm) source to report"


def test_an_existing_broker_and_collector_serve_the_jobs_instead_of_the_masters_own(server_factory, nats_server,
                                                                                    collector_factory) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        udp_port = probe.getsockname()[1]
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2", "--bus-collector", f"127.0.0.1:{udp_port}"])

    async def configure() -> None:
        client = await connect(master)
        await client.rpc(bus_edit(nats_server, reporting_job("pm", "ifaces", PORT_1_0_1),
                                  polling_job("a", "alice", SECRET_A, ["ifaces"])))
        await until_enabled(client, "pm")
        await client.close()

    run(configure())
    collector_factory(["--nats", nats_server, "--bus-routes", "--netconf", f"127.0.0.1:{master.port}",
                       "--user", master.user, "--password", master.password], listen=f"127.0.0.1:{udp_port}")

    async def read() -> tuple[list[dict], dict[str, dict[str, str]]]:
        reader = await Consumer(nats_server, "alice", SECRET_A, "a").open()
        records = await reader.records(2)
        await reader.close()
        client = await connect(master)
        states = await job_states(client)
        await client.close()
        return records, states

    records, states = run(read())
    assert all(r["complete"] for r in records)
    assert not [line for line in master.said if "nats-server" in line]
    assert states["bus"]["operationalState"] == "ENABLED"
    assert states["a"]["operationalState"] == "DISABLED"
    assert "not the Master's own" in states["a"]["operationalStateReason"]
