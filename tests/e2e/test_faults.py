"""Faults on real processes: a line card, the collector, the Master and the bus broker each
killed with SIGKILL mid-stream, and a full disk under the state dir. After each, what was
configured comes back by itself (the same subscription ids, announced with subscription-started;
agents registered again and the decomposition restored; jobs and logs intact), and the collector
says what it did not get rather than making it up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from mso.namespaces import DATASTORES, INTERFACES, NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from tests.bus_support import Consumer, bus_edit, polling_job, reporting_job
from tests.collector_support import collector_factory, free_tcp_port  # noqa: F401 (fixture)
from tests.conftest import ServerProcess, run, start_server, stop_process
from tests.e2e.test_configured_subscriptions import SNR, UNT, UdpReceiver
from tests.e2e.test_logging_nrm import log_info, logging_edit
from tests.e2e.test_message_bus import until_enabled

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
CARDS = "/if:interfaces/if:interface[if:name='1/0/0' or if:name='2/0/0']/if:statistics/if:in-octets"
SECRET = "alice-secret"


def configured(receiver_port: int, sub_id: int = 40) -> str:
    """A configured subscription over both line cards, pushed to ``receiver_port``."""
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<subscriptions xmlns="{SN}"><receiver-instances xmlns="{SNR}"><receiver-instance><name>rx</name>'
            f'<udp-notif-receiver xmlns="{UNT}"><remote-address>127.0.0.1</remote-address>'
            f"<remote-port>{receiver_port}</remote-port></udp-notif-receiver></receiver-instance></receiver-instances>"
            f'<subscription><id>{sub_id}</id><datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational'
            f'</datastore><datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">{CARDS}'
            f'</datastore-xpath-filter><periodic xmlns="{YP}"><period>20</period></periodic>'
            f'<receivers><receiver><name>r</name><receiver-instance-ref xmlns="{SNR}">rx</receiver-instance-ref>'
            f"</receiver></receivers></subscription></subscriptions></config></edit-config>")


async def connect(master: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect(master.host, master.port, username=master.user, password=master.password)


def children(pid: int, program: str) -> list[int]:
    """Pids of the processes whose parent is ``pid`` and whose command line names ``program``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and program in command:
            found.append(int(status.parent.name))
    return found


def gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:"))
    except (OSError, StopIteration):
        return "Z"


def kill_hard(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def publishers_pushing(receiver: UdpReceiver, wanted: set[int], timeout: float = 20.0) -> dict[int, int]:
    """Once every publisher in ``wanted`` pushed subscription 40: how many pushes each sent."""
    pushes: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    for publisher, notification in receiver.messages(timeout=timeout):
        if notification.event.endswith(":push-update") and notification.subscription_id == 40:
            pushes[publisher] = pushes.get(publisher, 0) + 1
            if wanted <= pushes.keys():
                return pushes
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"only {sorted(pushes)} of {sorted(wanted)} pushed within {timeout} s")


def stored_log(state_dir: Path, log_id: str) -> list[dict]:
    """What ``mso logs`` reads from the store on disk (nothing that only lives in memory)."""
    done = subprocess.run([sys.executable, "-m", "mso", "logs", "--state-dir", str(state_dir), "--log", log_id,
                           "--json"], capture_output=True, text=True, timeout=30)
    return [json.loads(line) for line in done.stdout.splitlines()] if done.returncode == 0 else []


@pytest.fixture
def receiver() -> Iterator[UdpReceiver]:
    udp = UdpReceiver()
    yield udp
    udp.sock.close()


def test_the_master_killed_comes_back_with_its_subscriptions_agents_jobs_and_logs(tmp_path: Path, agent_factory,
                                                                                   receiver: UdpReceiver) -> None:
    state_dir = tmp_path / "state"
    port, agent_port, bus_url = free_tcp_port(), free_tcp_port(), f"nats://127.0.0.1:{free_tcp_port()}"
    args = ["--line-cards", "0", "--agent-listen", f"127.0.0.1:{agent_port}", "--agent-timeout", "2"]
    master = start_server(state_dir, args, port)
    try:
        agents = [agent_factory(master, 2, 1, interfaces=2), agent_factory(master, 3, 2, interfaces=2)]

        async def configure() -> list[dict]:
            client = await connect(master)
            await client.rpc(logging_edit(log_info("ops", categories=("ProvMnS",))))
            await client.rpc(configured(receiver.port))
            await client.rpc(bus_edit(bus_url, reporting_job("pm", "cards", CARDS), polling_job("a", "alice", SECRET,
                                                                                                 ["cards"])))
            await until_enabled(client, "pm", "a")
            for _ in range(100):
                if stored_log(state_dir, "ops"):
                    break
                await asyncio.sleep(0.2)
            alice = await Consumer(bus_url, "alice", SECRET, "a").open()
            records = await alice.records(2)
            await alice.close()
            await client.close()
            return records

        before = run(configure())
        publishers_pushing(receiver, {2, 3})
        logged = stored_log(state_dir, "ops")
        assert logged
        helpers = children(master.process.pid, "nats-server") + children(master.process.pid, "-m mso collector")
        assert len(helpers) == 2

        kill_hard(master.process.pid)
        master.process.wait(10)
        assert gone(helpers)  # its broker and collector went with it
        assert all(agent.process.poll() is None for agent in agents)  # the cards go on, waiting for it

        master = start_server(state_dir, args, port)
        started = receiver.wait_for("subscription-started", timeout=20)
        assert started[0][1].subscription_id == 40
        publishers_pushing(receiver, {2, 3})  # both agents registered again and serve their shares

        async def after() -> list[dict]:
            client = await connect(master)
            await until_enabled(client, "pm", "a")
            alice = await Consumer(bus_url, "alice", SECRET, "a").open()
            records = await alice.records(2, timeout=30)
            await alice.close()
            await client.close()
            return records

        resumed = run(after())
        assert resumed[0]["subscription-id"] == before[0]["subscription-id"]
        assert resumed[0]["time"] > before[-1]["time"]  # after what was acknowledged, nothing twice
        assert stored_log(state_dir, "ops")[:len(logged)] == logged
    finally:
        stop_process(master.process)


def test_the_broker_killed_is_started_again_and_consumers_resume(server_factory) -> None:
    bus_url = f"nats://127.0.0.1:{free_tcp_port()}"
    master = server_factory(extra_args=["--line-cards", "2", "--ports", "2"])

    async def body() -> tuple[list[dict], list[dict]]:
        client = await connect(master)
        alice = await reading_cards(client, bus_url)
        first = await alice.records(2)
        await alice.close()
        (broker,) = children(master.process.pid, "nats-server")
        kill_hard(broker)
        alice = await reopened(Consumer(bus_url, "alice", SECRET, "a"))  # once the new broker listens
        second = await alice.records(2, timeout=30)
        await alice.close()
        await client.close()
        return first, second

    first, second = run(body())
    assert second[0]["time"] > first[-1]["time"]
    assert "bus-broker-exited" in master.log()


async def reading_cards(client, bus_url: str) -> Consumer:
    """Reporting job 'pm' of the cards' ports and alice's polling job 'a' on it, enabled; her
    consumer open."""
    await client.rpc(bus_edit(bus_url, reporting_job("pm", "cards", CARDS),
                              polling_job("a", "alice", SECRET, ["cards"])))
    await until_enabled(client, "pm", "a")
    return await Consumer(bus_url, "alice", SECRET, "a").open()


async def reopened(consumer: Consumer, attempts: int = 200) -> Consumer:
    """The consumer opened as soon as the broker takes it again (0.1 s between attempts)."""
    for _ in range(attempts - 1):
        try:
            return await consumer.open()
        except (OSError, nats.errors.Error, asyncio.TimeoutError):
            if consumer.client is not None:
                await consumer.client.close()
            await asyncio.sleep(0.1)
    return await consumer.open()


def no_invented_data(record: dict) -> bool:
    """Data only from the generators the record says are present (slot 1 is generator 2's, slot 2 is 3's)."""
    present = set(record["generators"]["present"])
    names = {entry["name"] for entry in record.get("data", {}).get("ietf-interfaces:interfaces", {}).get("interface", [])}
    return all({"1": "2", "2": "3"}[name.split("/")[0]] in present for name in names)


def test_the_collector_killed_is_restarted_and_told_the_subscriptions_again(server_factory, agent_factory) -> None:
    bus_url = f"nats://127.0.0.1:{free_tcp_port()}"
    master = server_factory(extra_args=["--line-cards", "0", "--agent-timeout", "2"])
    agent_factory(master, 2, 1, interfaces=2)
    agent_factory(master, 3, 2, interfaces=2)

    async def body() -> tuple[list[dict], list[dict]]:
        client = await connect(master)
        alice = await reading_cards(client, bus_url)
        before = await alice.records(2)
        (collector,) = children(master.process.pid, "-m mso collector")
        kill_hard(collector)
        announced = await alice.records(1, kind="state", timeout=30)
        after = await alice.records(5, timeout=30)
        await alice.close()
        await client.close()
        return before + after, announced

    records, announced = run(body())
    assert announced[0]["event"] == "ietf-subscribed-notifications:subscription-started"
    assert all(no_invented_data(record) for record in records)
    assert records[-1]["complete"] and records[-1]["generators"]["present"] == ["2", "3"]


def test_a_line_card_killed_mid_stream_is_named_missing_then_serves_again(tmp_path: Path, agent_factory,
                                                                          collector_factory) -> None:
    master = start_server(tmp_path / "state", ["--line-cards", "0", "--agent-timeout", "2"])
    try:
        agent_factory(master, 2, 1, interfaces=2)
        card = agent_factory(master, 3, 2, interfaces=2)
        collector = collector_factory(["--netconf", f"127.0.0.1:{master.port}", "--user", master.user,
                                       "--password", master.password, "--subscribe", CARDS, "--period", "20"])
        (whole,) = collector.wait_for(lambda r: r["kind"] == "periodic" and r["complete"])
        assert whole["generators"]["present"] == ["2", "3"]
        kill_hard(card.process.pid)
        (smaller,) = collector.wait_for(lambda r: r["kind"] == "periodic" and r["generators"]["expected"] == ["2"]
                                        and r["complete"])
        assert [i["name"] for i in smaller["data"]["ietf-interfaces:interfaces"]["interface"]] == ["1/0/0"]
        agent_factory(master, 3, 2, interfaces=2)
        (back,) = collector.wait_for(lambda r: r["kind"] == "periodic" and r["generators"]["expected"] == ["2", "3"]
                                     and r["complete"] and r["time"] > smaller["time"], timeout=20)
        assert back["generators"]["present"] == ["2", "3"]
        records = [json.loads(line) for line in collector.jsonl.read_bytes().splitlines() if line.strip()]
        assert all(no_invented_data(record) for record in records)
        gap = [r for r in records if r["kind"] == "periodic" and smaller["time"] <= r["time"] < back["time"]]
        assert gap and all("3" not in r["generators"]["present"] for r in gap)
        assert all(not r["complete"] for r in records if "3" in r["generators"]["missing"])
    finally:
        stop_process(master.process)


@pytest.fixture
def tiny_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state dir on a 2 MiB tmpfs of its own (skipped where mounting is not allowed)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point / "state"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_refuses_the_edit_with_resource_denied_and_keeps_running_whole(server_factory,
                                                                                  tiny_state_dir: Path) -> None:
    master = server_factory(tiny_state_dir, extra_args=["--line-cards", "1", "--ports", "2"])
    description = "x" * 200_000

    async def body() -> None:
        client = await connect(master)
        edit = (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config><interfaces '
                f'xmlns="{INTERFACES}"><interface><name>mgmt0</name><description>{{}}</description><type '
                f'xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type">t:ethernetCsmacd</type></interface></interfaces>'
                "</config></edit-config>")
        await client.rpc(edit.format("stored"))
        running = tiny_state_dir / "running.xml"
        stored = running.read_bytes()
        filler = tiny_state_dir / "filler"
        with open(filler, "wb") as fill:
            try:
                while True:
                    fill.write(b"\0" * 65536)
            except OSError:
                pass
        with pytest.raises(RpcError) as refused:
            await client.rpc(edit.format(description))
        assert (refused.value.tag, refused.value.type) == ("resource-denied", "application")
        assert "No space left on device" in refused.value.message
        assert running.read_bytes() == stored and not (tiny_state_dir / "running.xml.tmp").exists()
        config = await client.rpc(f'<get-config xmlns="{NETCONF_BASE}"><source><running/></source></get-config>')
        assert b"stored" in config.find(f"{{{NETCONF_BASE}}}data")[0].findtext(f".//{{{INTERFACES}}}description",
                                                                               "").encode()
        filler.unlink()
        await client.rpc(edit.format(description))
        assert description.encode() in running.read_bytes()
        await client.close()

    run(body())
