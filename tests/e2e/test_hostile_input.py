"""Hostile input on a real Master, tried as a user who may log in would: each costly request
gets its RFC error while a second session keeps getting answers (it is answered while the
costly request is still running: the event loop never waits for it)."""

from __future__ import annotations

import asyncio

import pytest
from lxml import etree

from mso.namespaces import DATASTORES, INTERFACES, NETCONF_BASE, NETCONF_MONITORING, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.netconf_client import NetconfClient, raise_for_errors
from mso.rpc_error import RpcError
from tests.conftest import PASSWORD, USER, ServerProcess, run

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
IF = f'xmlns:if="{INTERFACES}"'
CANARY = f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface></interfaces>'


async def connect(master: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect(master.host, master.port, username=USER, password=PASSWORD)


async def answered_meanwhile(canary: NetconfClient, costly: asyncio.Future) -> int:
    """How many of the canary's gets were answered while ``costly`` was still unanswered (at most
    50). A blocked event loop answers none in that time but the one already sent."""
    answered = 0
    while answered < 50:
        await canary.get(subtree=CANARY)
        if costly.done():
            break
        answered += 1
    return answered


def xpath_get(select: str) -> str:
    return f'<get><filter type="xpath" {IF} select="{select}"/></get>'


def rpc_error(reply: etree._Element) -> RpcError:
    with pytest.raises(RpcError) as raised:
        raise_for_errors(reply)
    return raised.value


def test_a_scanning_xpath_runs_off_the_loop_and_stops_at_its_budget(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "3", "--ports", "200", "--xpath-budget", "1"])

    async def body() -> None:
        hostile, canary = await connect(master), await connect(master)
        runaway = hostile.send(xpath_get("//*[//*[//*[//*[1]]]]"))
        assert await answered_meanwhile(canary, runaway) >= 3
        error = rpc_error(await runaway)
        assert (error.tag, error.type) == ("operation-failed", "application")
        assert "budget" in error.message and "--xpath-budget" in error.message
        # a costly filter that fits its budget is answered, by the same rules as any other
        data = await hostile.get(xpath="/if:interfaces/if:interface[if:name = /if:interfaces/if:interface"
                                       "[if:name='1/0/2']/if:name]/if:name", namespaces={"if": INTERFACES})
        assert [n.text for n in data.iter(qn(INTERFACES, "name"))] == ["1/0/2"]
        assert len(await canary.get(subtree=CANARY)) == 1
        await hostile.close()
        await canary.close()

    run(body())


def test_100k_attributes_on_rpc_get_too_big_at_once(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> None:
        hostile, canary = await connect(master), await connect(master)
        attributes = " ".join(f'a{i}="x"' for i in range(100_000))
        reply = await hostile.send_raw(f'<rpc xmlns="{NETCONF_BASE}" message-id="7" {attributes}><get/></rpc>'.encode())
        assert reply.get("message-id") == "7" and len(reply.attrib) == 1
        error = rpc_error(reply)
        assert (error.tag, error.type) == ("too-big", "rpc") and "100001 attributes" in error.message
        assert len(await hostile.get(subtree=CANARY)) == 1  # the session itself goes on
        assert len(await canary.get(subtree=CANARY)) == 1
        await hostile.close()
        await canary.close()

    run(body())


def test_filters_past_the_limits_are_refused_before_they_run(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> None:
        client = await connect(master)
        long_union = " | ".join(["/if:interfaces"] * 500)
        deep = "/if:interfaces" + "[if:interface" * 20 + "]" * 20
        subtree = f'<interfaces xmlns="{INTERFACES}">' + "<interface/>" * 10_001 + "</interfaces>"
        for request, words in ((xpath_get(long_union), "characters long"), (xpath_get(deep), "nests brackets"),
                               (f'<get><filter type="subtree">{subtree}</filter></get>', "more than 10000")):
            with pytest.raises(RpcError) as refused:
                await client.rpc(request)
            assert refused.value.tag == "too-big" and words in refused.value.message
        await client.close()

    run(body())


def establish(xpath: str) -> str:
    return (f'<establish-subscription xmlns="{SN}"><datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational'
            f'</datastore><datastore-xpath-filter xmlns="{YP}" {IF}>{xpath}</datastore-xpath-filter>'
            f'<periodic xmlns="{YP}"><period>100</period></periodic></establish-subscription>')


def test_a_subscription_with_a_scanning_filter_is_filter_unsupported_with_a_hint(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> None:
        client = await connect(master)
        with pytest.raises(RpcError) as refused:
            await client.rpc(establish("//if:interface[count(//*) &gt; 0]"))
        error = refused.value
        assert error.app_tag == "ietf-subscribed-notifications:filter-unsupported"
        hint = etree.fromstring(etree.tostring(error.to_element())).findtext(f".//{{{YP}}}filter-failure-hint")
        assert "relative to the node tested" in hint
        reply = await client.rpc(establish("/if:interfaces/if:interface[.//if:name = '1/0/1']"))
        assert reply.findtext(f"{{{SN}}}id")
        await client.close()

    run(body())


def test_refused_messages_count_as_bad_rpcs_not_as_rpcs(server_factory) -> None:
    """RFC 6022: in-rpcs counts correct <rpc> messages; in-bad-rpcs parse and rpc-layer errors."""
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])
    statistics = f'<netconf-state xmlns="{NETCONF_MONITORING}"><statistics/></netconf-state>'

    async def counts(client: NetconfClient) -> tuple[int, int]:
        data = await client.get(subtree=statistics)
        return (int(data.findtext(f".//{{{NETCONF_MONITORING}}}in-rpcs")),
                int(data.findtext(f".//{{{NETCONF_MONITORING}}}in-bad-rpcs")))

    async def body() -> None:
        client = await connect(master)
        rpcs, bad = await counts(client)
        too_many = " ".join(f'a{i}="1"' for i in range(100))
        for message in (b"<rpc",  # not well-formed
                        f'<rpc xmlns="{NETCONF_BASE}"><get/></rpc>'.encode(),  # no message-id
                        f'<hello xmlns="{NETCONF_BASE}"/>'.encode(),  # not an rpc
                        f'<rpc xmlns="{NETCONF_BASE}" message-id="1"><get/><get/></rpc>'.encode(),  # two operations
                        f'<rpc xmlns="{NETCONF_BASE}" message-id="2" {too_many}><get/></rpc>'.encode()):  # too big
            rpc_error(await client.send_raw(message))
        # the get that reads the counters is itself counted before it reads them
        assert await counts(client) == (rpcs + 1, bad + 5)
        await client.close()

    run(body())
