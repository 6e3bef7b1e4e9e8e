"""RFC 8639/8641 dynamic subscriptions on a real Master, with the draft's message-generator-id."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree
from ncclient import manager
from ncclient.xml_ import to_ele

from mso.namespaces import INTERFACES, MSO, NETCONF_BASE, NOTIFICATION, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from tests.conftest import ServerProcess, run

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
ONE_INTERFACE = f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface></interfaces>'


def establish(datastore: str = "ds:operational", *, period: int | None = 10, on_change: str | None = None,
              subtree: str = ONE_INTERFACE, xpath: str | None = None, extra: str = "") -> str:
    target = f'<datastore xmlns="{YP}" xmlns:ds="{DS}">{datastore}</datastore>'
    if xpath is not None:
        target += f'<datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">{xpath}</datastore-xpath-filter>'
    elif subtree:
        target += f'<datastore-subtree-filter xmlns="{YP}">{subtree}</datastore-subtree-filter>'
    trigger = on_change if on_change is not None else f'<periodic xmlns="{YP}"><period>{period}</period></periodic>'
    return f'<establish-subscription xmlns="{SN}">{target}{trigger}{extra}</establish-subscription>'


async def connect(srv: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect(srv.host, srv.port, username=srv.user, password=srv.password)


async def next_event(client: NetconfClient, name: str, timeout: float = 10.0) -> etree._Element:
    """The next notification whose event is ``name``, skipping others."""
    while True:
        notification = await asyncio.wait_for(client.notifications.get(), timeout)
        event = notification[1]
        if etree.QName(event).localname == name:
            return notification


def event_id(notification: etree._Element) -> int:
    return int(notification[1].findtext("{*}id"))


def generators(element: etree._Element) -> list[str]:
    return [g.text for g in element.iter(qn(MSO, "message-generator-id"))]


def test_establish_reply_has_the_draft_figure_5_shape(server: ServerProcess):
    async def scenario() -> None:
        client = await connect(server)
        reply = await client.rpc(establish(xpath="/if:interfaces/if:interface[if:name='1/0/1']", period=500))
        children = [(etree.QName(c).namespace, etree.QName(c).localname) for c in reply]
        assert children == [(SN, "id"), (MSO, "message-generator-id")]
        assert generators(reply) == ["1"]
        await client.close()

    run(scenario())


def test_periodic_pushes_count_and_carry_the_filtered_interface(server: ServerProcess):
    async def scenario() -> None:
        client = await connect(server)
        reply = await client.rpc(establish(period=10))
        sub_id = int(reply.findtext(qn(SN, "id")))
        pushes = [await next_event(client, "push-update") for _ in range(5)]
        assert {event_id(p) for p in pushes} == {sub_id}
        names = pushes[-1].xpath("//if:interface/if:name/text()", namespaces={"if": INTERFACES})
        assert names == ["1/0/1"]
        publisher = pushes[-1].findtext(".//{urn:ietf:params:xml:ns:yang:ietf-distributed-notif}message-publisher-id")
        assert publisher == "1"  # the Master's own share (draft-ietf-netconf-distributed-notif)
        times = [datetime.fromisoformat(p.findtext(qn(NOTIFICATION, "eventTime")).replace("Z", "+00:00")) for p in pushes]
        assert times == sorted(times) and len(set(times)) == 5
        await client.close()

    run(scenario())


def test_anchor_time_aligns_event_times_to_the_period(server: ServerProcess):
    anchor = datetime(2020, 1, 1, 0, 0, 0, 30_000, tzinfo=timezone.utc)  # .030 s past a whole second

    async def scenario() -> None:
        client = await connect(server)
        trigger = f'<periodic xmlns="{YP}"><period>10</period><anchor-time>{anchor.isoformat()}</anchor-time></periodic>'
        await client.rpc(establish(on_change=trigger))
        for _ in range(3):
            push = await next_event(client, "push-update")
            stamp = datetime.fromisoformat(push.findtext(qn(NOTIFICATION, "eventTime")).replace("Z", "+00:00"))
            offset_ms = round((stamp - anchor).total_seconds() * 1000) % 100
            assert offset_ms == 0, stamp
        await client.close()

    run(scenario())


def test_several_subscriptions_on_one_session_interleaved_with_gets(server: ServerProcess):
    async def scenario() -> None:
        client = await connect(server)
        ids = [int((await client.rpc(establish(period=5))).findtext(qn(SN, "id"))) for _ in range(3)]
        assert len(set(ids)) == 3
        seen: set[int] = set()
        for _ in range(30):
            data = await client.get(subtree=ONE_INTERFACE)
            assert data.findtext(f".//{{{INTERFACES}}}name") == "1/0/1"
            while not client.notifications.empty():
                seen.add(event_id(client.notifications.get_nowait()))
            if seen == set(ids):
                break
            await asyncio.sleep(0.02)
        assert seen == set(ids)
        await client.close()

    run(scenario())


def test_modify_then_delete(server: ServerProcess):
    async def scenario() -> None:
        client = await connect(server)
        sub_id = int((await client.rpc(establish(period=100))).findtext(qn(SN, "id")))
        modify = (f'<modify-subscription xmlns="{SN}"><id>{sub_id}</id>'
                  f'<datastore xmlns="{YP}" xmlns:ds="{DS}">ds:operational</datastore>'
                  f'<periodic xmlns="{YP}"><period>5</period></periodic></modify-subscription>')
        reply = await client.rpc(modify)
        assert generators(reply) == ["1"]
        modified = await next_event(client, "subscription-modified")
        assert event_id(modified) == sub_id and generators(modified) == ["1"]
        assert modified[1].findtext(f"{{{YP}}}periodic/{{{YP}}}period") == "5"
        await client.rpc(f'<delete-subscription xmlns="{SN}"><id>{sub_id}</id></delete-subscription>')
        with pytest.raises(RpcError) as raised:
            await client.rpc(f'<delete-subscription xmlns="{SN}"><id>{sub_id}</id></delete-subscription>')
        assert raised.value.app_tag == "ietf-subscribed-notifications:no-such-subscription"
        await client.close()

    run(scenario())


def test_kill_subscription_from_another_session_sends_terminated(server: ServerProcess):
    async def scenario() -> None:
        owner, operator = await connect(server), await connect(server)
        sub_id = int((await owner.rpc(establish(period=100))).findtext(qn(SN, "id")))
        with pytest.raises(RpcError):  # delete works only from the owning session
            await operator.rpc(f'<delete-subscription xmlns="{SN}"><id>{sub_id}</id></delete-subscription>')
        await operator.rpc(f'<kill-subscription xmlns="{SN}"><id>{sub_id}</id></kill-subscription>')
        terminated = await next_event(owner, "subscription-terminated")
        assert event_id(terminated) == sub_id
        assert terminated[1].findtext(f"{{{SN}}}reason").endswith("no-such-subscription")
        await owner.close()
        await operator.close()

    run(scenario())


def test_on_change_on_running_with_dampening(server: ServerProcess):
    edit = (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name><description>{{}}</description>'
            '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
            "</interface></interfaces></config></edit-config>")
    on_change = f'<on-change xmlns="{YP}"><dampening-period>50</dampening-period></on-change>'

    async def scenario() -> None:
        client = await connect(server)
        await client.rpc(establish("ds:running", on_change=on_change, subtree=f'<interfaces xmlns="{INTERFACES}"/>'))
        sync = await next_event(client, "push-update")  # sync-on-start: the (empty) selection
        assert sync is not None
        await client.rpc(edit.format("first"))
        first = await next_event(client, "push-change-update")
        assert [e.text for e in first.iter(qn(YANG_PUSH, "operation"))] == ["create"]
        targets = [e.text for e in first.iter(qn(YANG_PUSH, "target"))]
        assert targets == ["/ietf-interfaces:interfaces"]  # running was empty: the container is new
        for text in ("second", "third", "fourth"):  # within the 500 ms dampening: one update
            await client.rpc(edit.format(text))
        second = await next_event(client, "push-change-update")
        assert [e.text for e in second.iter(qn(YANG_PUSH, "operation"))] == ["replace"]
        assert second.findtext(f".//{{{INTERFACES}}}description") == "fourth"
        await client.close()

    run(scenario())


def test_resync_sends_a_push_update(server: ServerProcess):
    on_change = f'<on-change xmlns="{YP}"><sync-on-start>false</sync-on-start></on-change>'

    async def scenario() -> None:
        client = await connect(server)
        sub_id = int((await client.rpc(establish("ds:running", on_change=on_change, subtree=""))).findtext(qn(SN, "id")))
        await client.rpc(f'<resync-subscription xmlns="{YP}"><id>{sub_id}</id></resync-subscription>')
        assert event_id(await next_event(client, "push-update")) == sub_id
        with pytest.raises(RpcError) as raised:
            await client.rpc(f'<resync-subscription xmlns="{YP}"><id>999</id></resync-subscription>')
        assert raised.value.app_tag == "ietf-yang-push:no-such-subscription-resync"
        await client.close()

    run(scenario())


def test_stop_time_completes_the_subscription(server: ServerProcess):
    stop = (datetime.now(timezone.utc) + timedelta(milliseconds=400)).isoformat()

    async def scenario() -> None:
        client = await connect(server)
        sub_id = int((await client.rpc(establish(period=10, extra=f"<stop-time>{stop}</stop-time>"))).findtext(qn(SN, "id")))
        completed = await next_event(client, "subscription-completed")
        assert event_id(completed) == sub_id
        await client.close()

    run(scenario())


def test_netconf_stream_carries_config_changes(server: ServerProcess):
    async def scenario() -> None:
        listener, editor = await connect(server), await connect(server)
        await listener.rpc(f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream></establish-subscription>')
        await editor.rpc(
            f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/2</name>'
            '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
            "</interface></interfaces></config></edit-config>")
        change = await next_event(listener, "netconf-config-change")
        assert change.findtext(".//{*}username") == server.user
        target = change.find(".//{*}target")
        assert target.text == "/ietf-interfaces:interfaces"  # running was empty: the container is new
        assert target.nsmap["ietf-interfaces"] == INTERFACES
        assert change.findtext(".//{*}operation") == "create"
        await listener.close()
        await editor.close()

    run(scenario())


@pytest.mark.parametrize(
    "request_xml, tag, app_tag",
    [
        (establish(period=0), "invalid-value", "ietf-yang-push:period-unsupported"),
        (establish("ds:candidate"), "invalid-value", "ietf-yang-push:datastore-not-subscribable"),
        (establish(xpath="/if:interfaces["), "invalid-value", "ietf-subscribed-notifications:filter-unsupported"),
        (establish(on_change=f'<on-change xmlns="{YP}"><excluded-change>teleport</excluded-change></on-change>'),
         "operation-not-supported", "ietf-yang-push:cant-exclude"),
        (establish(extra=f'<encoding xmlns:sn="{SN}">sn:encode-json</encoding>'), "invalid-value",
         "ietf-subscribed-notifications:encoding-unsupported"),
        (establish(extra="<dscp>10</dscp>"), "invalid-value", "ietf-subscribed-notifications:dscp-unavailable"),
        (f'<establish-subscription xmlns="{SN}"><stream>NOPE</stream></establish-subscription>', "invalid-value",
         "ietf-subscribed-notifications:stream-unavailable"),
        (f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream>'
         "<replay-start-time>2020-01-01T00:00:00Z</replay-start-time></establish-subscription>",
         "operation-not-supported", "ietf-subscribed-notifications:replay-unsupported"),
        (f'<modify-subscription xmlns="{SN}"><id>4242</id></modify-subscription>', "invalid-value",
         "ietf-subscribed-notifications:no-such-subscription"),
    ],
)
def test_errors_carry_the_rfc_identities(server: ServerProcess, request_xml: str, tag: str, app_tag: str):
    async def scenario() -> None:
        client = await connect(server)
        with pytest.raises(RpcError) as raised:
            await client.rpc(request_xml)
        assert (raised.value.tag, raised.value.app_tag) == (tag, app_tag)
        await client.close()

    run(scenario())


def test_period_error_offers_a_period_hint(server: ServerProcess):
    async def scenario() -> None:
        client = await connect(server)
        with pytest.raises(RpcError) as raised:
            await client.rpc(establish(period=0))
        info = raised.value.info[0]
        assert etree.QName(info).localname == "establish-subscription-datastore-error-info"
        assert info.findtext(f"{{{YP}}}period-hint") == "1"
        await client.close()

    run(scenario())


def test_subscriptions_and_streams_in_operational_data(server: ServerProcess):
    async def scenario() -> None:
        client = await connect(server)
        sub_id = int((await client.rpc(establish(period=20))).findtext(qn(SN, "id")))
        await next_event(client, "push-update")
        data = await client.get(subtree=f'<subscriptions xmlns="{SN}"/><streams xmlns="{SN}"/>')
        entry = data.find(f"{{{SN}}}subscriptions/{{{SN}}}subscription")
        assert int(entry.findtext(f"{{{SN}}}id")) == sub_id
        assert generators(entry) == ["1"]
        assert int(entry.findtext(f".//{{{SN}}}sent-event-records")) >= 1
        assert data.findtext(f"{{{SN}}}streams/{{{SN}}}stream/{{{SN}}}name") == "NETCONF"
        await client.close()

    run(scenario())


def test_ncclient_dispatch_and_take_notification(server: ServerProcess):
    with manager.connect(host=server.host, port=server.port, username=server.user, password=server.password,
                         hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20) as m:
        reply = m.dispatch(to_ele(establish(period=10)))
        sub_id = int(to_ele(reply.xml).findtext(f".//{{{SN}}}id"))
        received = [m.take_notification(timeout=10) for _ in range(3)]
        assert all(n is not None for n in received)
        ids = {int(to_ele(n.notification_xml).findtext(f".//{{{YP}}}id")) for n in received}
        assert ids == {sub_id}


def test_stream_filter_passes_matching_events_and_counts_the_rest(server: ServerProcess):
    ncn = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
    only_operator = (f'<stream-subtree-filter><netconf-config-change xmlns="{ncn}"><changed-by>'
                     "<username>operator</username></changed-by></netconf-config-change></stream-subtree-filter>")
    edit = (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/{{}}</name>'
            '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
            "</interface></interfaces></config></edit-config>")

    async def scenario() -> None:
        listener, editor = await connect(server), await connect(server)
        reply = await listener.rpc(f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream>'
                                   f"{only_operator}</establish-subscription>")
        sub_id = reply.findtext(qn(SN, "id"))
        for port in range(3):
            await editor.rpc(edit.format(port))  # made by "admin": filtered out
        data = await listener.get(subtree=f'<subscriptions xmlns="{SN}"/>')
        entry = data.xpath("//sn:subscription[sn:id=$id]", namespaces={"sn": SN}, id=sub_id)[0]
        assert entry.findtext(f".//{{{SN}}}excluded-event-records") == "3"
        assert entry.findtext(f".//{{{SN}}}sent-event-records") == "0"
        assert listener.notifications.empty()
        await listener.close()
        await editor.close()

    run(scenario())


def test_on_change_of_operational_state_sees_a_new_session(server: ServerProcess):
    ncm = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
    sessions = f'<netconf-state xmlns="{ncm}"><sessions/></netconf-state>'
    on_change = f'<on-change xmlns="{YP}"><sync-on-start>false</sync-on-start></on-change>'

    async def scenario() -> None:
        watcher = await connect(server)
        await watcher.rpc(establish("ds:operational", on_change=on_change, subtree=sessions))
        newcomer = await connect(server)
        update = await next_event(watcher, "push-change-update", timeout=10)
        assert "create" in [e.text for e in update.iter(qn(YANG_PUSH, "operation"))]
        targets = [e.text for e in update.iter(qn(YANG_PUSH, "target"))]
        assert any(t.startswith("/ietf-netconf-monitoring:netconf-state/sessions/session=") for t in targets)
        await newcomer.close()
        await watcher.close()

    run(scenario())
