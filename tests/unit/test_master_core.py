"""The Master's core in-process: back-pressure, the operational on-change poll, placement as
agents come and go, and components that fail, with fake sessions and fake agents around the
real code (no SSH, no processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lxml import etree

from mso import control_channel as cc
from mso.namespaces import INTERFACES, qn
from mso.schema import Schema
from tests.conftest import run
from tests.master_fakes import (DS, SN, YP, FakeAgent, FakeSession, component_ids, establish, generators, rpc, running_master,
                                subscription_id)

ALL_PORTS = "/if:interfaces/if:interface"
MGMT0 = "/if:interfaces/if:interface[if:name='mgmt0']"
PORT_1_0_0 = "/if:interfaces/if:interface[if:name='1/0/0']"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def reason(event: etree._Element) -> str | None:
    return event.findtext(qn(SN, "reason"))


def test_a_full_send_buffer_suspends_the_sessions_subscriptions_and_a_drained_one_resumes_them(tmp_path: Path,
                                                                                                schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            session = FakeSession()
            await rpc(master, session, establish(MGMT0, period_cs=5))
            await session.next("push-update")
            master.sessions.paused(session.session_id, True)
            suspended = await session.next("subscription-suspended")
            assert reason(suspended) == "sn:unsupportable-volume"
            quiet_from = len(session.events)
            await asyncio.sleep(0.2)
            assert session.events[quiet_from:] == []  # nothing is buffered while suspended
            master.sessions.paused(session.session_id, False)
            await session.next("subscription-resumed", after=quiet_from)
            await session.next("push-update", after=quiet_from)

    run(body())


def test_originators_that_change_while_suspended_are_served_and_announced_on_resume(tmp_path: Path,
                                                                                     schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1 = FakeAgent(master, 2, 1, ["1/0/0", "1/0/1"])
            session = FakeSession()
            reply = await rpc(master, session, establish(ALL_PORTS, agent_port=9))
            sub = subscription_id(reply)
            assert generators(reply) == ["1", "2"]
            master.sessions.paused(session.session_id, True)
            await session.next("subscription-suspended")
            assert component_ids(card_1.channel, cc.ComponentDelete) == [sub]
            card_2 = FakeAgent(master, 3, 2, ["2/0/0"])
            card_1.leave()
            await asyncio.sleep(0.05)
            assert session.named("subscription-modified") == []  # nothing is said while suspended
            assert card_2.channel.of(cc.ComponentCreate) == []
            master.sessions.paused(session.session_id, False)
            await session.next("subscription-resumed")
            modified = await session.next("subscription-modified")
            assert generators(modified) == ["1", "3"]
            assert component_ids(card_2.channel, cc.ComponentCreate) == [sub]
            subscriptions = (await rpc(master, session, f'<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                                       f'<filter><subscriptions xmlns="{SN}"/></filter></get>'))
            assert generators(subscriptions) == ["1", "3"]

    run(body())


def test_a_volume_suspension_whose_originators_all_left_becomes_no_originator(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1 = FakeAgent(master, 2, 1, ["1/0/0"])
            session = FakeSession()
            await rpc(master, session, establish(PORT_1_0_0, agent_port=9))
            master.sessions.paused(session.session_id, True)
            await session.next("subscription-suspended")
            card_1.leave()
            master.sessions.paused(session.session_id, False)
            await asyncio.sleep(0.05)
            suspensions = session.named("subscription-suspended")
            assert [reason(e) for e in suspensions] == ["sn:unsupportable-volume", "mso-dx:no-originator"]
            assert session.named("subscription-resumed") == []
            FakeAgent(master, 2, 1, ["1/0/0"])
            await session.next("subscription-resumed")

    run(body())


def test_on_change_of_operational_data_is_found_by_the_poll(tmp_path: Path, schema: Schema) -> None:
    """Counters grow with time and nothing announces it: the one-second poll finds the change."""

    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            session = FakeSession()
            await rpc(master, session, establish(f"{MGMT0}/if:statistics/if:in-octets", on_change=True))
            first = await session.next("push-update")  # sync-on-start
            assert first.find(f".//{{{INTERFACES}}}in-octets") is not None
            change = await session.next("push-change-update", timeout=3.0)
            targets = [t.text for t in change.iter("{*}target")]
            assert targets == ["/ietf-interfaces:interfaces/interface=mgmt0/statistics/in-octets"]

    run(body())


def test_placement_follows_agents_as_they_join_and_leave(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1 = FakeAgent(master, 2, 1, ["1/0/0"])
            session = FakeSession()
            reply = await rpc(master, session, establish(ALL_PORTS, agent_port=9))
            sub = subscription_id(reply)
            assert generators(reply) == ["1", "2"]
            assert component_ids(card_1.channel, cc.ComponentCreate) == [sub]
            card_2 = FakeAgent(master, 3, 2, ["2/0/0"])
            assert generators(await session.next("subscription-modified")) == ["1", "2", "3"]
            assert component_ids(card_2.channel, cc.ComponentCreate) == [sub]
            seen = len(session.events)
            card_1.leave()
            assert generators(await session.next("subscription-modified", after=seen)) == ["1", "3"]
            card_only = await rpc(master, session, establish(PORT_1_0_0, agent_port=9))
            assert generators(card_only) == ["1"]  # nobody owns card 1's ports: the Master answers, empty

    run(body())


def test_a_subscription_only_agents_serve_is_suspended_without_them_and_resumed_when_one_returns(
        tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1 = FakeAgent(master, 2, 1, ["1/0/0"])
            session = FakeSession()
            assert generators(await rpc(master, session, establish(PORT_1_0_0, agent_port=9))) == ["2"]
            card_1.leave()
            assert reason(await session.next("subscription-suspended")) == "mso-dx:no-originator"
            FakeAgent(master, 4, 1, ["1/0/0"])
            await session.next("subscription-resumed")
            assert generators(await session.next("subscription-modified")) == ["4"]

    run(body())


def test_a_component_an_agent_cannot_run_leaves_the_announced_generators(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1, card_2 = FakeAgent(master, 2, 1, ["1/0/0"]), FakeAgent(master, 3, 2, ["2/0/0"])
            session = FakeSession()
            sub = subscription_id(await rpc(master, session, establish(ALL_PORTS, agent_port=9)))
            card_2.report(cc.ComponentStatus(sub, "error", "filter not understood"))
            assert generators(await session.next("subscription-modified")) == ["1", "2"]
            table = master.subscriptions.get(sub)
            assert table is not None and table.failed == {"3": "filter not understood"}
            card_3 = FakeAgent(master, 4, 3, ["3/0/0"])  # an ownership change does not retry a failed share
            assert generators(session.named("subscription-modified")[-1]) == ["1", "2", "4"]
            card_2.leave()
            FakeAgent(master, 3, 2, ["2/0/0"])  # a new registration does
            assert generators(session.named("subscription-modified")[-1]) == ["1", "2", "3", "4"]
            assert card_1.channel.of(cc.ComponentDelete) == []  # a share that stays is left running
            assert card_3.link.components == {sub}

    run(body())


def test_modify_reaches_agents_that_keep_a_share_as_a_component_modify(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1, card_2 = FakeAgent(master, 2, 1, ["1/0/0"]), FakeAgent(master, 3, 2, ["2/0/0"])
            session = FakeSession()
            sub = subscription_id(await rpc(master, session, establish(ALL_PORTS, agent_port=9)))
            modify = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id>'
                      f'<datastore xmlns="{YP}" xmlns:ds="{DS}">ds:operational</datastore>'
                      f'<datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">{PORT_1_0_0}'
                      f'</datastore-xpath-filter></modify-subscription>')
            assert generators(await rpc(master, session, modify)) == ["2"]
            modified = [m for m in card_1.channel.of(cc.ComponentModify)]
            assert [m.spec.filter.xpath for m in modified] == [PORT_1_0_0]  # type: ignore[attr-defined]
            assert component_ids(card_2.channel, cc.ComponentDelete) == [sub]
            assert generators(await session.next("subscription-modified")) == ["2"]

    run(body())


def test_ticks_skipped_by_an_overloaded_agent_and_by_the_master_show_per_originator(tmp_path: Path,
                                                                                  schema: Schema) -> None:
    async def body() -> etree._Element:
        async with running_master(tmp_path, schema, line_cards=0, ports=2) as master:
            session = FakeSession()
            agent = FakeAgent(master, 2, 1, ["1/0/0"])
            reply = await rpc(master, session, establish(f"{ALL_PORTS}[if:name='1/0/0' or if:name='mgmt0']",
                                                         period_cs=10, agent_port=9))
            sid = subscription_id(reply)
            agent.report(cc.Heartbeat(skipped=((sid, 7),)))
            master.subscriptions.get(sid).job.skipped_ticks = 3
            data = await rpc(master, session, f'<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><filter>'
                                              f'<subscriptions xmlns="{SN}"/></filter></get>')
            return data[0]

    data = run(body())
    dx = "urn:mso:yang:mso-distributed-export"
    counts = {entry.findtext(qn(dx, "message-generator-id")): entry.findtext(qn(dx, "count"))
              for entry in data.iter(qn(dx, "skipped-ticks"))}
    assert counts == {"1": "3", "2": "7"}
