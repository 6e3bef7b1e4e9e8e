"""Distributed export on real processes: a Master with no line cards of its own, line-card agents
registering over the control channel, subscriptions decomposed by the Resource-Location Table,
and every agent pushing its own share straight to a UDP receiver of the test."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from mso import control_channel as cc
from mso.namespaces import (
    DATASTORES,
    DISTRIBUTED_EXPORT,
    HARDWARE,
    INTERFACES,
    MSO,
    SUBSCRIBED_NOTIFICATIONS,
    YANG_PUSH,
    qn,
)
from mso.netconf_client import NetconfClient
from mso.sampling import INTERFACE_LIST
from tests.collector_support import collector_factory  # noqa: F401  (fixture)
from tests.conftest import AgentProcess, ServerProcess, run, start_server, stop_process
from tests.e2e.test_configured_subscriptions import UdpReceiver, subscription_config

SN, YP, DX = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, DISTRIBUTED_EXPORT
IF_NS = {"if": INTERFACES}


def establish(xpath: str, period_cs: int = 20, receiver_port: int | None = None, encoding: str = "sn:encode-json") -> str:
    agent_receiver = "" if receiver_port is None else f"""
  <agent-receiver xmlns="{DX}" xmlns:sn="{SN}">
    <address>127.0.0.1</address><port>{receiver_port}</port><encoding>{encoding}</encoding>
  </agent-receiver>"""
    return f"""<establish-subscription xmlns="{SN}">
  <datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational</datastore>
  <datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}"
      xmlns:hw="urn:ietf:params:xml:ns:yang:ietf-hardware">{xpath}</datastore-xpath-filter>
  <periodic xmlns="{YP}"><period>{period_cs}</period></periodic>{agent_receiver}
</establish-subscription>"""


def generators(element: etree._Element) -> list[str]:
    return [leaf.text for leaf in element.iter(qn(MSO, "message-generator-id"))]


async def next_notification(client: NetconfClient, name: str, timeout: float = 10.0) -> etree._Element:
    """The next notification whose event is ``name`` (others, e.g. push-updates, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        notification = await asyncio.wait_for(client.notifications.get(), max(0.1, deadline - time.monotonic()))
        event = next(child for child in notification if etree.QName(child).localname != "eventTime")
        if etree.QName(event).localname == name:
            return event


def interface_names(notification_body: dict) -> set[str]:
    contents = notification_body.get("datastore-contents", {})
    return {entry["name"] for entry in contents.get("ietf-interfaces:interfaces", {}).get("interface", [])}


def pushed_names(receiver: UdpReceiver, publishers: set[int], timeout: float = 5.0) -> dict[int, set[str]]:
    """Interface names in the latest push-update of each publisher, once all ``publishers`` pushed."""
    latest: dict[int, set[str]] = {}
    for publisher, notification in receiver.messages(timeout=timeout):
        if notification.event == "ietf-yang-push:push-update":
            latest[publisher] = interface_names(notification.body)
            if publishers <= latest.keys():
                break
    return latest


def names_pushed_by(receiver: UdpReceiver, publisher: int, wanted: set[str], timeout: float = 5.0) -> set[str]:
    """Interface names in ``publisher``'s push-updates, until all of ``wanted`` came."""
    names: set[str] = set()
    for sender, notification in receiver.messages(timeout=timeout):
        if sender == publisher and notification.event == "ietf-yang-push:push-update":
            names |= interface_names(notification.body)
            if wanted <= names:
                break
    return names


def drain(receiver: UdpReceiver) -> None:
    receiver.sock.setblocking(False)
    try:
        while True:
            receiver.sock.recv(65535)
    except BlockingIOError:
        pass
    finally:
        receiver.sock.setblocking(True)


@pytest.fixture
def receiver() -> Iterator[UdpReceiver]:
    udp = UdpReceiver()
    yield udp
    udp.sock.close()


@pytest.fixture
def device(tmp_path: Path, agent_factory) -> Iterator[tuple[ServerProcess, dict[int, AgentProcess]]]:
    """A Master that simulates only its main board, and agents 2, 3, 4 for slots 1, 2, 3."""
    master = start_server(tmp_path / "state", ["--line-cards", "0", "--agent-timeout", "1"])
    agents = {generator: agent_factory(master, generator, generator - 1) for generator in (2, 3, 4)}
    yield master, agents
    for agent in agents.values():
        if agent.process.poll() is None:
            os.killpg(agent.process.pid, signal.SIGCONT)
    stop_process(master.process)


async def connect(master: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect("127.0.0.1", master.port, username=master.user, password=master.password)


def test_a_filter_spanning_two_cards_is_served_by_exactly_those_agents(device, receiver: UdpReceiver) -> None:
    master, _ = device

    async def body() -> tuple[list[str], dict[int, set[str]], int]:
        client = await connect(master)
        reply = await client.rpc(establish("/if:interfaces/if:interface[if:name='1/0/1' or if:name='2/0/2']",
                                           receiver_port=receiver.port))
        pushed = await asyncio.to_thread(pushed_names, receiver, {2, 3})
        over_netconf = client.notifications.qsize()
        await client.close()
        return generators(reply), pushed, over_netconf

    reply_generators, pushed, over_netconf = run(body())
    assert reply_generators == ["2", "3"]
    assert pushed == {2: {"1/0/1"}, 3: {"2/0/2"}}  # each card pushes its own port
    assert over_netconf == 0  # and nothing of theirs goes through the Master


def test_a_filter_on_master_data_only_is_not_decomposed(device) -> None:
    master, _ = device

    async def body() -> tuple[list[str], etree._Element, str]:
        client = await connect(master)
        reply = await client.rpc(establish("/hw:hardware/hw:component[hw:name='chassis']"))
        push = await next_notification(client, "push-update")
        table = await client.get(subtree=f'<resource-location-table xmlns="{DX}"/>')
        await client.close()
        return generators(reply), push, etree.tostring(table).decode()

    reply_generators, push, table = run(body())
    assert reply_generators == ["1"]
    assert push.findtext(f".//{{{HARDWARE}}}name") == "chassis"
    components = etree.fromstring(table.encode()).iter(qn(DX, "component-subscriptions"))
    assert [c.text for c in components] == ["1", "0", "0", "0"]  # the Master runs it; no agent does


def test_an_agent_reads_its_card_once_per_instant_for_subscriptions_due_together(device,
                                                                                receiver: UdpReceiver) -> None:
    """Issue 11 (§5A.2): two subscriptions of different filters on one card, on one anchor and
    period, cost the agent one reading of its card per tick, which the table shows."""
    master, _ = device
    anchor = "<anchor-time>2026-01-01T00:00:00Z</anchor-time></periodic>"
    filters = ("/if:interfaces/if:interface[if:name='1/0/1']/if:statistics",
               "/if:interfaces/if:interface[if:name='1/0/2']/if:oper-status")

    async def body() -> dict[str, tuple[int, int]]:
        client = await connect(master)
        for xpath in filters:
            await client.rpc(establish(xpath, 10, receiver.port).replace("</periodic>", anchor))
        pushed = await asyncio.to_thread(names_pushed_by, receiver, 2, {"1/0/1", "1/0/2"})
        counts: dict[str, tuple[int, int]] = {}
        for _ in range(100):  # heartbeats every 1/3 s carry the counters
            table = await client.get(subtree=f'<resource-location-table xmlns="{DX}"/>')
            counts = {entry.findtext(qn(DX, "message-generator-id")):
                      (int(entry.findtext(qn(DX, "samples-taken"))), int(entry.findtext(qn(DX, "sampling-instants"))))
                      for entry in table.iter(qn(DX, "originator"))}
            if counts["2"][1] >= 10:
                break
            await asyncio.sleep(0.1)
        await client.close()
        assert pushed == {"1/0/1", "1/0/2"}  # each subscription got its own share
        return counts

    counts = run(body())
    taken, instants = counts["2"]
    assert instants >= 10 and taken <= instants + 1  # one reading per tick for both (the first may be apart)
    assert counts["3"] == (0, 0)  # a card with nothing to serve read nothing


def test_get_gathers_every_cards_interfaces(device) -> None:
    master, _ = device

    async def body() -> list[str]:
        client = await connect(master)
        data = await client.get(xpath="/if:interfaces/if:interface/if:name", namespaces=IF_NS)
        await client.close()
        return [leaf.text for leaf in data.iter(qn(INTERFACES, "name"))]

    names = run(body())
    assert sorted(names) == sorted(["mgmt0"] + [f"{slot}/0/{port}" for slot in (1, 2, 3) for port in range(4)])


def test_agent_data_without_a_receiver_is_refused(device) -> None:
    master, _ = device

    async def body() -> etree._Element:
        client = await connect(master)
        reply = await client.send(establish("/if:interfaces/if:interface[if:name='3/0/0']"))
        await client.close()
        return reply

    reply = run(body())
    assert reply.findtext(".//{*}error-app-tag") == "mso-distributed-export:no-agent-receiver"
    assert reply.findtext(".//{*}error-tag") == "invalid-value"


def test_killed_agent_is_left_out_then_back_when_restarted(device, receiver: UdpReceiver, agent_factory) -> None:
    master, agents = device

    async def body() -> tuple[list[str], list[str], list[str]]:
        client = await connect(master)
        reply = await client.rpc(establish("/if:interfaces/if:interface[if:name='1/0/0' or if:name='3/0/0']",
                                           receiver_port=receiver.port))
        os.killpg(agents[4].process.pid, signal.SIGKILL)
        without = await next_notification(client, "subscription-modified")
        await asyncio.to_thread(agent_factory, master, 4, 3)
        back = await next_notification(client, "subscription-modified")
        await client.close()
        return generators(reply), generators(without), generators(back)

    assert run(body()) == (["2", "4"], ["2"], ["2", "4"])


def test_hung_agent_is_dropped_after_the_heartbeat_timeout_and_rejoins(device) -> None:
    master, agents = device
    agent = agents[3]

    async def body() -> tuple[list[str], list[str]]:
        client = await connect(master)
        await client.rpc(establish("/if:interfaces/if:interface[if:name='2/0/1' or if:name='1/0/1']",
                                   receiver_port=9))
        os.killpg(agent.process.pid, signal.SIGSTOP)
        without = await next_notification(client, "subscription-modified")
        os.killpg(agent.process.pid, signal.SIGCONT)  # it finds its connection gone and registers again
        back = await next_notification(client, "subscription-modified")
        await client.close()
        return generators(without), generators(back)

    assert run(body()) == (["2"], ["2", "3"])
    assert "no heartbeat for 1 s" in master.log()


def test_moving_an_interface_re_decomposes_and_its_data_follows(device, receiver: UdpReceiver) -> None:
    master, _ = device
    move = f"""<move-resource xmlns="{DX}"><path>/if:interfaces/if:interface[if:name='1/0/2']</path>
      <to>3</to></move-resource>"""

    async def body() -> tuple[list[str], list[str], dict[int, set[str]]]:
        client = await connect(master)
        reply = await client.rpc(establish("/if:interfaces/if:interface[if:name='1/0/2']", receiver_port=receiver.port))
        await client.rpc(move)
        modified = await next_notification(client, "subscription-modified")
        pushed = await asyncio.to_thread(pushed_names, receiver, {3})
        await client.close()
        return generators(reply), generators(modified), pushed

    reply_generators, modified, pushed = run(body())
    assert (reply_generators, modified) == (["2"], ["3"])
    assert pushed[3] == {"1/0/2"}  # the port now comes from card 3's agent, with its name unchanged


def test_no_originator_left_suspends_until_one_returns(device, agent_factory, receiver: UdpReceiver) -> None:
    master, agents = device

    async def body() -> tuple[str | None, dict[int, set[str]]]:
        client = await connect(master)
        await client.rpc(establish("/if:interfaces/if:interface[if:name='3/0/3']", receiver_port=receiver.port))
        os.killpg(agents[4].process.pid, signal.SIGKILL)
        suspended = await next_notification(client, "subscription-suspended")
        await asyncio.to_thread(agent_factory, master, 4, 3)
        await next_notification(client, "subscription-resumed")
        drain(receiver)  # what the killed agent had sent
        pushed = await asyncio.to_thread(pushed_names, receiver, {4})
        await client.close()
        return suspended.findtext(qn(SN, "reason")), pushed

    reason, pushed = run(body())
    assert reason == "mso-dx:no-originator"
    assert pushed == {4: {"3/0/3"}}  # the restarted card serves it again


def test_duplicate_generator_id_is_refused_with_the_reason(device, agent_factory) -> None:
    master, _ = device
    duplicate = agent_factory(master, 3, 7, wait=False)

    assert duplicate.process.wait(30) == 1
    assert "refused by the Master: generator id 3 is already registered" in duplicate.log()


def test_configured_subscription_is_decomposed_the_same_way(device, receiver: UdpReceiver) -> None:
    master, _ = device
    config = subscription_config(receiver.port).replace(
        "<name>2/0/3</name>", "<name>2/0/3</name></interface><interface><name>3/0/1</name>")

    async def body() -> None:
        client = await connect(master)
        await client.rpc(f"""<edit-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
          <target><running/></target>{config}</edit-config>""")
        await client.close()

    run(body())
    started = receiver.wait_for("subscription-started")
    publisher, notification = started[0]
    assert publisher == 1  # state notifications come from the Master only
    assert notification.body["ietf-multiple-stream-originators:message-generator-id"] == ["3", "4"]
    assert pushed_names(receiver, {3, 4}) == {3: {"2/0/3"}, 4: {"3/0/1"}}


def test_centralized_mode_pushes_everything_from_the_master(tmp_path: Path, agent_factory, receiver: UdpReceiver) -> None:
    master = start_server(tmp_path / "central", ["--line-cards", "0", "--centralized"])
    try:
        agent_factory(master, 2, 1)
        agent_factory(master, 3, 2)

        async def body() -> list[str]:
            client = await connect(master)
            reply = await client.rpc(establish("/if:interfaces/if:interface[if:name='1/0/1' or if:name='2/0/1']"))
            names = set()
            while len(names) < 2:
                push = await next_notification(client, "push-update")
                names |= {leaf.text for leaf in push.iter(qn(INTERFACES, "name"))}
                assert push.findtext("{*}message-publisher-id") == "1"
            await client.close()
            return generators(reply)

        assert run(body()) == ["1"]
    finally:
        stop_process(master.process)


async def raw_agent(master: ServerProcess, generator: int, slot: int, ports: list[str],
                    secret: bytes | None = None) -> tuple[cc.Channel, cc.Message]:
    """A hand-driven agent on the real control channel: answer the challenge with a proof of
    ``secret`` (the Master's own by default), register and return the Master's reply."""
    secret = cc.read_secret(master.state_dir / cc.SECRET_FILE) if secret is None else secret
    reader, writer = await asyncio.open_connection("127.0.0.1", master.agent_port)
    channel = cc.Channel(reader, writer)
    challenge = await channel.receive()
    assert isinstance(challenge, cc.Challenge)
    nonce = cc.new_nonce()
    channel.send(cc.Register(generator, slot, tuple((INTERFACE_LIST, (port,)) for port in ports), nonce=nonce,
                             proof=cc.agent_proof(secret, challenge.nonce, nonce, generator)))
    return channel, await channel.receive()


def resource_owners(table: etree._Element) -> dict[str, str]:
    return {entry.findtext(qn(DX, "path")): entry.findtext(qn(DX, "message-generator-id"))
            for entry in table.iter(qn(DX, "resource"))}


def test_control_channel_refusals_and_registered_resources(device) -> None:
    master, _ = device

    async def body() -> tuple[cc.Message, cc.Message, cc.Message, dict[str, str]]:
        _, taken = await raw_agent(master, 9, 9, ["1/0/0"])  # a port agent 2 owns
        channel, accepted = await raw_agent(master, 9, 9, ["9/0/0", "9/0/1"])
        assert isinstance(accepted, cc.RegisterReply) and accepted.accepted
        channel.send(cc.Heartbeat())
        client = await connect(master)
        owners = resource_owners(await client.get(subtree=f'<resource-location-table xmlns="{DX}"/>'))
        _, impostor = await raw_agent(master, 8, 8, ["8/0/0"], secret=b"not the secret")
        reader, writer = await asyncio.open_connection("127.0.0.1", master.agent_port)
        stranger = cc.Channel(reader, writer)
        await stranger.receive()  # the challenge
        stranger.send(cc.Heartbeat())  # not a registration
        not_first = await stranger.receive()
        await client.close()
        channel.close()
        return taken, impostor, not_first, owners

    taken, impostor, not_first, owners = run(body())
    assert isinstance(impostor, cc.RegisterReply) and not impostor.accepted
    assert impostor.reason == "authentication failed: the agent does not hold the Master's agent secret"
    assert "/if:interfaces/if:interface[if:name='8/0/0']" not in owners
    assert isinstance(taken, cc.RegisterReply) and not taken.accepted
    assert "1/0/0" in taken.reason and "owned by 2" in taken.reason
    assert isinstance(not_first, cc.RegisterReply) and not not_first.accepted
    assert not_first.reason == "the first message must be register, not heartbeat"
    assert owners["/if:interfaces/if:interface[if:name='9/0/0']"] == "9"
    assert owners["/if:interfaces/if:interface[if:name='9/0/1']"] == "9"
    assert owners["/if:interfaces/if:interface[if:name='mgmt0']"] == "1"


def test_a_period_below_a_cards_minimum_is_refused_with_a_hint(device, agent_factory) -> None:
    master, _ = device
    agent_factory(master, 5, 4, extra_args=["--min-period", "50"])

    async def body() -> etree._Element:
        client = await connect(master)
        reply = await client.send(establish("/if:interfaces/if:interface[if:name='4/0/0']", period_cs=20,
                                            receiver_port=9))
        await client.close()
        return reply

    reply = run(body())
    assert reply.findtext(".//{*}error-app-tag") == "ietf-yang-push:period-unsupported"
    assert reply.findtext(f".//{{{YP}}}period-hint") == "50"


def test_deleting_the_global_subscription_removes_every_component(device) -> None:
    master, _ = device

    def components(table: etree._Element) -> dict[str, str]:
        return {entry.findtext(qn(DX, "message-generator-id")): entry.findtext(qn(DX, "component-subscriptions"))
                for entry in table.iter(qn(DX, "originator"))}

    async def body() -> tuple[dict[str, str], dict[str, str]]:
        client = await connect(master)
        reply = await client.rpc(establish("/if:interfaces/if:interface", receiver_port=9))
        during = components(await client.get(subtree=f'<resource-location-table xmlns="{DX}"/>'))
        await client.rpc(f'<delete-subscription xmlns="{SN}"><id>{reply.findtext(qn(SN, "id"))}</id></delete-subscription>')
        after = components(await client.get(subtree=f'<resource-location-table xmlns="{DX}"/>'))
        await client.close()
        return during, after

    during, after = run(body())
    assert during == {"1": "1", "2": "1", "3": "1", "4": "1"}  # mgmt0 is the Master's share
    assert after == {"1": "0", "2": "0", "3": "0", "4": "0"}


def test_an_agent_with_a_wrong_secret_is_refused_with_one_line_on_both_sides(server_factory, agent_factory,
                                                                                tmp_path: Path) -> None:
    master = server_factory(extra_args=["--line-cards", "0"])
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("00" * 32)
    agent = agent_factory(master, 7, 7, extra_args=["--secret-file", str(wrong)], wait=False)
    assert agent.process.wait(30) == 1
    assert agent.log().strip().splitlines()[-1] == (
        "mso agent 7: refused by the Master: authentication failed: the agent does not hold the Master's agent secret")
    assert "agent-refused" in master.log() and "authentication failed" in master.log()
    missing = agent_factory(master, 6, 6, extra_args=["--secret-file", str(tmp_path / "nowhere")], wait=False)
    assert missing.process.wait(30) == 2
    assert "cannot read the agent secret" in missing.log().strip().splitlines()[-1]


# --------------------------------------------------------------------------------------
# Exact distributed export (issue 15)
# --------------------------------------------------------------------------------------

ACROSS_CARDS = "/if:interfaces/if:interface[if:name='1/0/0']/../if:interface[if:name='2/0/1']/if:name"
HW = "urn:ietf:params:xml:ns:yang:ietf-hardware"


def served_whole(state: etree._Element) -> list[str]:
    return [leaf.text or "" for leaf in state.iter(qn(DX, "served-whole"))]


def component_counts(table: etree._Element) -> dict[str, str]:
    return {entry.findtext(qn(DX, "message-generator-id")): entry.findtext(qn(DX, "component-subscriptions"))
            for entry in table.iter(qn(DX, "originator"))}


def test_a_filter_reaching_across_cards_is_served_by_the_card_holding_its_answer(device, receiver: UdpReceiver) -> None:
    """The issue's example: 2/0/1's name is selected because 1/0/0 exists on another card. Card 3
    alone serves it, with a filter that names 2/0/1; a get with the filter says the same."""
    master, _ = device

    async def body() -> tuple[list[str], list[str], dict[int, set[str]]]:
        client = await connect(master)
        data = await client.get(xpath=ACROSS_CARDS, namespaces=IF_NS)
        reply = await client.rpc(establish(ACROSS_CARDS, receiver_port=receiver.port))
        pushed = await asyncio.to_thread(pushed_names, receiver, {3})
        await client.close()
        return [leaf.text for leaf in data.iter(qn(INTERFACES, "name"))], generators(reply), pushed

    got, reply_generators, pushed = run(body())
    assert got == ["2/0/1"]
    assert reply_generators == ["3"]
    assert pushed == {3: {"2/0/1"}}


def test_a_filter_only_the_whole_device_answers_is_served_by_the_master(device) -> None:
    """Which interface is the fifth depends on every card's data: the Master gathers the cards'
    data for each push, names itself alone, and says why in /sn:subscriptions."""
    master, _ = device

    async def body() -> tuple[list[str], list[str], list[str], dict[str, str], list[str]]:
        client = await connect(master)
        fifth = "/if:interfaces/if:interface[5]/if:name"
        reply = await client.rpc(establish(fifth))  # no agent-receiver needed: no card pushes
        push = await next_notification(client, "push-update")
        data = await client.get(xpath=fifth, namespaces=IF_NS)
        state = await client.get(subtree=f'<subscriptions xmlns="{SN}"/>')
        table = await client.get(subtree=f'<resource-location-table xmlns="{DX}"/>')
        await client.close()
        return (generators(reply), [leaf.text for leaf in push.iter(qn(INTERFACES, "name"))],
                [leaf.text for leaf in data.iter(qn(INTERFACES, "name"))], component_counts(table), served_whole(state))

    reply_generators, pushed, got, counts, why = run(body())
    assert reply_generators == ["1"]
    assert pushed == got == ["1/0/3"]  # mgmt0, then card 1's 1/0/0..1/0/3
    assert counts == {"1": "1", "2": "0", "3": "0", "4": "0"}
    assert len(why) == 1 and "position" in why[0]


def test_a_filter_no_originator_can_evaluate_is_refused_with_a_hint(device) -> None:
    master, _ = device

    async def body() -> etree._Element:
        client = await connect(master)
        reply = await client.send(establish("/if:interfaces/if:interface[re-match(if:name, '1/.*')]",
                                            receiver_port=9))
        await client.close()
        return reply

    reply = run(body())
    assert reply.findtext(".//{*}error-app-tag") == "ietf-subscribed-notifications:filter-unsupported"
    assert "re-match() is a YANG XPath function" in (reply.findtext(f".//{{{YP}}}filter-failure-hint") or "")


def sensor_names(notification_body: dict) -> set[str]:
    contents = notification_body.get("datastore-contents", {})
    return {entry["name"] for entry in contents.get("ietf-hardware:hardware", {}).get("component", [])}


def test_a_card_module_and_sensor_move_and_survive_re_registration(device, receiver: UdpReceiver,
                                                                     agent_factory) -> None:
    """A line card's module and sensor move like a port: the subscription that selects them is
    modified, the new card pushes them unchanged; when that card leaves they fall back to their
    home card, and when it registers again it takes them back. The home card registering again
    meanwhile is not refused for what was moved away from it."""
    master, agents = device
    module = "/hw:hardware/hw:component[hw:name='line-card-1']"
    sensor = "/hw:hardware/hw:component[hw:name='line-card-1-temperature']"

    def move(path: str) -> str:
        return f'<move-resource xmlns="{DX}" xmlns:hw="{HW}"><path>{path}</path><to>3</to></move-resource>'

    async def body() -> tuple[list[list[str]], str | None, etree._Element, etree._Element]:
        client = await connect(master)
        before = await client.get(subtree=f'<hardware xmlns="{HW}"><component><name>line-card-1</name></component>'
                                          "</hardware>")
        await client.rpc(establish(f"{module} | {sensor}", receiver_port=receiver.port))
        await client.rpc(move(module))
        await client.rpc(move(sensor))
        seen = []
        modified = await next_notification(client, "subscription-modified")
        seen.append(generators(modified))
        effective = modified.findtext(qn(DX, "effective-time"))
        while seen[-1] != ["3"]:
            seen.append(generators(await next_notification(client, "subscription-modified")))
        os.killpg(agents[3].process.pid, signal.SIGKILL)  # the adopter leaves: back to card 1
        seen.append(generators(await next_notification(client, "subscription-modified")))
        os.killpg(agents[2].process.pid, signal.SIGKILL)
        await next_notification(client, "subscription-suspended")
        await asyncio.to_thread(agent_factory, master, 2, 1)  # home card again, all its own
        await next_notification(client, "subscription-resumed")
        await asyncio.to_thread(agent_factory, master, 3, 2)  # the adopter again: takes them back
        while seen[-1] != ["3"]:
            seen.append(generators(await next_notification(client, "subscription-modified")))
        after = await client.get(subtree=f'<hardware xmlns="{HW}"><component><name>line-card-1</name></component>'
                                         "</hardware>")
        drain(receiver)
        pushed = await asyncio.to_thread(pushed_components, receiver, 3)
        await client.close()
        return seen, effective, before, after, pushed

    seen, effective, before, after, pushed = run(body())
    assert seen[0] in (["2", "3"], ["3"]) and seen[-1] == ["3"]
    assert ["2"] in seen  # fell back to its home card while the adopter was away
    assert effective is not None  # announced ahead of the slot it serves from
    assert etree.tostring(before) == etree.tostring(after)  # the module reads the same on either card
    assert pushed == {"line-card-1", "line-card-1-temperature"}


def pushed_components(receiver: UdpReceiver, publisher: int, timeout: float = 5.0) -> set[str]:
    """The hardware components in the first push-update of ``publisher`` that has some."""
    for source, notification in receiver.messages(timeout=timeout):
        if source == publisher and notification.event == "ietf-yang-push:push-update":
            names = sensor_names(notification.body)
            if names:
                return names
    return set()


def test_a_card_joining_after_a_receiverless_subscription_is_served_through_the_master(server_factory,
                                                                                        agent_factory) -> None:
    """Established while no card held its data, the subscription has no agent receiver: when a
    card joins with that data, the Master gathers it and pushes it, and says so."""
    master = server_factory(extra_args=["--line-cards", "0"])

    async def body() -> tuple[list[str], list[str], list[str]]:
        client = await connect(master)
        reply = await client.rpc(establish("/if:interfaces/if:interface[if:name='1/0/1']/if:name", period_cs=20))
        await asyncio.to_thread(agent_factory, master, 2, 1)
        names: list[str] = []
        for _ in range(50):
            push = await next_notification(client, "push-update")
            names = [leaf.text for leaf in push.iter(qn(INTERFACES, "name"))]
            if names:
                break
        state = await client.get(subtree=f'<subscriptions xmlns="{SN}"/>')
        await client.close()
        return generators(reply), names, served_whole(state)

    reply_generators, names, why = run(body())
    assert reply_generators == ["1"]
    assert names == ["1/0/1"]
    assert len(why) == 1 and "agent-receiver" in why[0]


def test_the_collector_reports_each_slot_around_a_move_as_promised(device, collector_factory) -> None:
    """A port moves between two slots: the collector's records name exactly the generators the
    Master promised for each slot, card 2 before and card 3 after, none missing, none unexpected."""
    master, _ = device
    collector = collector_factory(["--netconf", f"127.0.0.1:{master.port}", "--user", master.user,
                                   "--password", master.password, "--subscribe",
                                   "/if:interfaces/if:interface[if:name='1/0/2']", "--period", "20"])
    periodic = [r for r in collector.wait_for(lambda r: r["kind"] == "periodic", count=3)]

    async def move() -> None:
        client = await connect(master)
        await client.rpc(f'<move-resource xmlns="{DX}"><path>/if:interfaces/if:interface[if:name=\'1/0/2\']'
                         "</path><to>3</to></move-resource>")
        await client.close()

    run(move())
    deadline = time.monotonic() + 15
    while sum(r["generators"]["expected"] == ["3"] for r in periodic) < 3 and time.monotonic() < deadline:
        periodic += [r for r in collector.new_records() if r["kind"] == "periodic"]  # every slot, none skipped
        time.sleep(0.05)
    assert {tuple(r["generators"]["expected"]) for r in periodic} == {("2",), ("3",)}
    for record in periodic:
        assert record["generators"]["present"] == record["generators"]["expected"], record
        assert record["generators"]["missing"] == [] and record["generators"]["unexpected"] == [], record
        assert [i["name"] for i in record["data"]["ietf-interfaces:interfaces"]["interface"]] == ["1/0/2"]
