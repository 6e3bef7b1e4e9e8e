"""NACM (RFC 8341) on a real Master over real SSH, users admin (recovery), alice (group ops) and
bob (group guests): the cases of sysrepo's and netopeer2's NACM suites, on reads, writes,
operations, notifications, pushes, and the draft's generator ids."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from mso.namespaces import (DATASTORES, DISTRIBUTED_EXPORT, INTERFACES, MESSAGE_BUS, MSO, NACM, NETCONF_BASE,
                            NETCONF_MONITORING, NETCONF_NOTIFICATIONS, NRM, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn)
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from tests.conftest import PASSWORD, USER, ServerProcess, run, start_server, stop_process

NC, SN, YP, IF = NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, INTERFACES
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
IANA_ETHERNET = '<type xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type">t:ethernetCsmacd</type>'


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    users = [arg for name, secret in USERS.items() for arg in ("--user", f"{name}:{secret}")]
    process = start_server(tmp_path_factory.mktemp("nacm") / "state", [*users, "--line-cards", "1", "--ports", "2"])
    yield process
    stop_process(process.process)


async def connect(master: ServerProcess, user: str = USER) -> NetconfClient:
    password = PASSWORD if user == USER else USERS[user]
    return await NetconfClient.connect(master.host, master.port, username=user, password=password)


def rule(name: str, action: str, *, module: str = "*", rpc: str | None = None, notification: str | None = None,
         path: str | None = None, operations: str = "*") -> str:
    target = (f"<rpc-name>{rpc}</rpc-name>" if rpc else f"<notification-name>{notification}</notification-name>"
              if notification else f'<path xmlns:if="{IF}" xmlns:sn="{SN}" xmlns:mso="{MSO}" xmlns:mbus="{MESSAGE_BUS}" '
              f'xmlns:nrm="{NRM}">{path}</path>' if path else "")
    return (f"<rule><name>{name}</name><module-name>{module}</module-name>{target}"
            f"<access-operations>{operations}</access-operations><action>{action}</action></rule>")


def rule_list(name: str, group: str, *rules: str) -> str:
    return f"<rule-list><name>{name}</name><group>{group}</group>{''.join(rules)}</rule-list>"


def nacm(*rule_lists: str, read: str = "permit", write: str = "deny", exec_: str = "permit") -> str:
    """An edit-config that replaces /nacm: groups ops = {alice}, guests = {bob}, and the lists."""
    return (f'<edit-config xmlns="{NC}"><target><running/></target><config>'
            f'<nacm xmlns="{NACM}" xmlns:nc="{NC}" nc:operation="replace"><enable-nacm>true</enable-nacm>'
            f"<read-default>{read}</read-default><write-default>{write}</write-default><exec-default>{exec_}</exec-default>"
            "<groups><group><name>ops</name><user-name>alice</user-name></group>"
            "<group><name>guests</name><user-name>bob</user-name></group></groups>"
            f"{''.join(rule_lists)}</nacm></config></edit-config>")


def describe(name: str, text: str, operation: str = "merge") -> str:
    return (f'<edit-config xmlns="{NC}"><target><running/></target><config>'
            f'<interfaces xmlns="{IF}" xmlns:nc="{NC}"><interface nc:operation="{operation}"><name>{name}</name>'
            f"<description>{text}</description>{IANA_ETHERNET}</interface></interfaces></config></edit-config>")


async def configure(master: ServerProcess, *rule_lists: str, **defaults: str) -> None:
    admin = await connect(master)
    await admin.rpc(nacm(*rule_lists, **defaults))
    await admin.close()


async def refused(client: NetconfClient, operation: str) -> RpcError:
    with pytest.raises(RpcError) as raised:
        await client.rpc(operation)
    return raised.value


def names(data: etree._Element) -> list[str]:
    return [n.text for n in data.iter(qn(IF, "name"))]


async def counters(master: ServerProcess) -> dict[str, int]:
    admin = await connect(master)
    data = await admin.get(subtree=f'<nacm xmlns="{NACM}"/>')
    await admin.close()
    return {etree.QName(c).localname: int(c.text) for c in data.iter() if etree.QName(c).localname.startswith("denied-")}


def test_basic_reads_are_permitted_writes_denied_and_the_recovery_user_bypasses(master: ServerProcess) -> None:
    async def body() -> None:
        await configure(master)
        before = await counters(master)
        alice = await connect(master, "alice")
        assert "1/0/1" in names(await alice.get(subtree=f'<interfaces xmlns="{IF}"/>'))
        error = await refused(alice, describe("mgmt0", "by alice"))
        assert error.tag == "access-denied"
        assert (await counters(master))["denied-data-writes"] == before["denied-data-writes"] + 1
        admin = await connect(master)
        await admin.rpc(describe("mgmt0", "by admin"))  # the recovery user
        assert (await alice.get(subtree=f'<nacm xmlns="{NACM}"/>')).find(f".//{{{NACM}}}groups") is None  # deny-all
        await alice.close()
        await admin.close()

    run(body())


def test_read_rules_prune_silently_by_module_path_and_key(master: ServerProcess) -> None:
    one_port = "/if:interfaces/if:interface[if:name='1/0/1']"

    async def body() -> None:
        bob = await connect(master, "bob")
        await configure(master, rule_list("guests", "guests", rule("no-interfaces", "deny", module="ietf-interfaces",
                                                                   operations="read")))
        assert names(await bob.get(subtree=f'<interfaces xmlns="{IF}"/>')) == []  # test_read, test_filter_denied
        assert names(await bob.get(xpath="/if:interfaces/if:interface", namespaces={"if": IF})) == []  # xpath denied
        alice = await connect(master, "alice")
        assert "1/0/1" in names(await alice.get(subtree=f'<interfaces xmlns="{IF}"/>'))
        await configure(master, rule_list("guests", "guests", rule("one", "permit", path=one_port, operations="read")),
                        read="deny")  # test_read_default_allow_path
        assert names(await bob.get(subtree=f'<interfaces xmlns="{IF}"/>')) == ["1/0/1"]
        await configure(master, rule_list("guests", "guests", rule("not-one", "deny", path=one_port, operations="read")))
        visible = names(await bob.get(subtree=f'<interfaces xmlns="{IF}"/>'))  # test_filter_key_list
        assert "1/0/1" not in visible and "1/0/0" in visible and "mgmt0" in visible
        await alice.close()
        await bob.close()

    run(body())


def test_get_config_is_pruned_and_the_secret_of_a_polling_job_is_deny_all(master: ServerProcess) -> None:
    polling = (f'<edit-config xmlns="{NC}"><target><running/></target><config><SubNetwork xmlns="{NRM}"><id>n</id>'
               f'<MessageBrokingFunction xmlns="{MESSAGE_BUS}"><id>b</id><attributes><brokerEndpoint>'
               "nats://broker.invalid:4222</brokerEndpoint></attributes><MessageBusDataReportingJob><id>r</id>"
               "<attributes><topic>t</topic></attributes></MessageBusDataReportingJob><MessageBusDataPollingJob><id>p"
               "</id><attributes><consumerId>c</consumerId><consumerSecret>secret-123</consumerSecret><topics>t</topics>"
               "</attributes></MessageBusDataPollingJob></MessageBrokingFunction></SubNetwork></config></edit-config>")

    async def body() -> None:
        admin = await connect(master)
        await admin.rpc(polling)
        await admin.rpc(describe("mgmt0", "secret description"))
        await configure(master, rule_list("guests", "guests", rule("no-descriptions", "deny", operations="read",
                                                                   path="/if:interfaces/if:interface/if:description")))
        bob, alice = await connect(master, "bob"), await connect(master, "alice")
        config = await bob.rpc(f'<get-config xmlns="{NC}"><source><running/></source><filter><interfaces '
                               f'xmlns="{IF}"/></filter></get-config>')
        assert names(config) == ["mgmt0"] and config.find(f".//{{{IF}}}description") is None  # test_get_config_filter
        for user in (bob, alice):
            jobs = await user.rpc(f'<get-config xmlns="{NC}"><source><running/></source></get-config>')
            assert jobs.find(f".//{{{MESSAGE_BUS}}}consumerId") is not None
            assert jobs.find(f".//{{{MESSAGE_BUS}}}consumerSecret") is None
        everything = await admin.rpc(f'<get-config xmlns="{NC}"><source><running/></source></get-config>')
        assert everything.findtext(f".//{{{MESSAGE_BUS}}}consumerSecret") == "secret-123"
        await configure(master, rule_list("ops", "ops", rule("secrets", "permit", operations="read",
                                                             path="/nrm:SubNetwork/mbus:MessageBrokingFunction"
                                                                  "/mbus:MessageBusDataPollingJob/mbus:attributes"
                                                                  "/mbus:consumerSecret")))
        granted = await alice.rpc(f'<get-config xmlns="{NC}"><source><running/></source></get-config>')
        assert granted.findtext(f".//{{{MESSAGE_BUS}}}consumerSecret") == "secret-123"
        for client in (admin, bob, alice):
            await client.close()

    run(body())


def test_writes_are_checked_per_node_and_refused_whole(master: ServerProcess) -> None:
    async def body() -> None:
        admin = await connect(master)
        await admin.rpc(describe("mgmt0", "before"))
        await configure(master, rule_list("ops", "ops", rule("edit-interfaces", "permit", module="ietf-interfaces",
                                                             operations="create update")))
        alice = await connect(master, "alice")
        await alice.rpc(describe("mgmt0", "updated by alice"))  # test_edit_config_update
        await alice.rpc(describe("1/0/1", "created by alice"))  # test_edit_config_create
        error = await refused(alice, describe("1/0/1", "", operation="delete"))  # test_edit_config_delete
        assert error.tag == "access-denied"
        await configure(master, rule_list("ops", "ops",
                                          rule("no-1-0-0", "deny", path="/if:interfaces/if:interface[if:name='1/0/0']"),
                                          rule("edit-interfaces", "permit", module="ietf-interfaces",
                                               operations="create update delete")))
        both = (f'<edit-config xmlns="{NC}"><target><running/></target><config><interfaces xmlns="{IF}">'
                f"<interface><name>1/0/0</name><description>no</description>{IANA_ETHERNET}</interface>"
                f"<interface><name>mgmt0</name><description>whole or nothing</description></interface>"
                "</interfaces></config></edit-config>")
        assert (await refused(alice, both)).tag == "access-denied"
        config = await admin.rpc(f'<get-config xmlns="{NC}"><source><running/></source></get-config>')
        descriptions = {i.findtext(qn(IF, "name")): i.findtext(qn(IF, "description")) for i in config.iter(qn(IF, "interface"))}
        assert descriptions["mgmt0"] == "updated by alice" and "1/0/0" not in descriptions  # nothing changed
        await alice.rpc(describe("1/0/1", "", operation="delete"))
        await alice.close()
        await admin.close()

    run(body())


def test_operations_need_exec_and_kill_session_is_denied_by_default(master: ServerProcess) -> None:
    get_schema = f'<get-schema xmlns="{NETCONF_MONITORING}"><identifier>ietf-interfaces</identifier></get-schema>'

    async def body() -> None:
        await configure(master, rule_list("guests", "guests", rule("no-schemas", "deny", rpc="get-schema")))
        bob, alice = await connect(master, "bob"), await connect(master, "alice")
        before = await counters(master)
        assert (await refused(bob, get_schema)).tag == "access-denied"  # test_exec
        assert (await alice.rpc(get_schema)).find(f"{{{NETCONF_MONITORING}}}data") is not None
        assert (await counters(master))["denied-operations"] == before["denied-operations"] + 1
        kill = f'<kill-session xmlns="{NC}"><session-id>{bob.session_id}</session-id></kill-session>'
        assert (await refused(alice, kill)).tag == "access-denied"  # test_kill_session
        await configure(master, rule_list("ops", "ops", rule("kill", "permit", module="ietf-netconf", rpc="kill-session")))
        await alice.rpc(kill)
        await bob.wait_closed()
        await configure(master, rule_list("all", "*", rule("nothing", "deny", rpc="*")), exec_="deny")
        bob = await connect(master, "bob")
        assert (await refused(bob, f'<get xmlns="{NC}"/>')).tag == "access-denied"  # test_rule_wildcard_groups
        assert (await bob.rpc(f'<close-session xmlns="{NC}"/>')).find(qn(NC, "ok")) is not None  # always permitted
        await alice.close()
        await configure(master)

    run(body())


def establish(xpath: str, *, on_change: bool = False, stream: bool = False) -> str:
    if stream:
        return f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream></establish-subscription>'
    trigger = (f'<on-change xmlns="{YP}"><dampening-period>0</dampening-period></on-change>' if on_change
               else f'<periodic xmlns="{YP}"><period>20</period></periodic>')
    return (f'<establish-subscription xmlns="{SN}"><datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational'
            f'</datastore><datastore-xpath-filter xmlns="{YP}" xmlns:if="{IF}">{xpath}</datastore-xpath-filter>'
            f"{trigger}</establish-subscription>")


async def next_event(client: NetconfClient, name: str, timeout: float = 5.0) -> etree._Element | None:
    try:
        while True:
            notification = await asyncio.wait_for(client.notifications.get(), timeout)
            if etree.QName(notification[1]).localname == name:
                return notification[1]
    except asyncio.TimeoutError:
        return None


def test_subscriptions_kill_delete_and_stream_events_follow_nacm(master: ServerProcess) -> None:
    async def body() -> None:
        await configure(master, rule_list("guests", "guests",
                                          rule("no-config-events", "deny", module="ietf-netconf-notifications",
                                               notification="netconf-config-change")))
        bob, alice, admin = await connect(master, "bob"), await connect(master, "alice"), await connect(master)
        bobs = (await bob.rpc(establish("", stream=True))).findtext(qn(SN, "id"))
        await alice.rpc(establish("", stream=True))
        before = await counters(master)
        await admin.rpc(describe("mgmt0", "an event"))
        assert await next_event(alice, "netconf-config-change") is not None
        assert await next_event(bob, "netconf-config-change", timeout=1.0) is None  # test_nacm_sub
        assert (await counters(master))["denied-notifications"] == before["denied-notifications"] + 1
        kill = f'<kill-subscription xmlns="{SN}"><id>{bobs}</id></kill-subscription>'
        killed = await refused(alice, kill)  # test_killsub_fail_nacm: default-deny-all
        assert killed.tag == "access-denied"
        delete = await refused(alice, f'<delete-subscription xmlns="{SN}"><id>{bobs}</id></delete-subscription>')
        assert delete.app_tag == "ietf-subscribed-notifications:no-such-subscription"  # test_deletesub_fail_diff_sess
        await admin.rpc(kill)  # the recovery user may
        for client in (bob, alice, admin):
            await client.close()

    run(body())


def test_pushes_carry_only_what_their_owner_may_read(master: ServerProcess) -> None:
    port = "/if:interfaces/if:interface[if:name='1/0/1']"

    async def body() -> None:
        await configure(master, rule_list("guests", "guests", rule("no-in-octets", "deny", operations="read",
                                                                   path=f"{port}/if:statistics/if:in-octets")))
        bob = await connect(master, "bob")
        await bob.rpc(establish(f"{port}/if:statistics"))
        update = await next_event(bob, "push-update")  # test_nacm_yp_periodic
        assert update is not None and update.find(f".//{{{IF}}}out-octets") is not None
        assert update.find(f".//{{{IF}}}in-octets") is None
        on_change = await connect(master, "bob")
        await on_change.rpc(establish(f"{port}/if:statistics/if:in-octets", on_change=True))
        first = await next_event(on_change, "push-update")
        assert first is not None and first.find(f".//{{{IF}}}in-octets") is None
        assert await next_event(on_change, "push-change-update", timeout=2.5) is None  # test_nacm_yp_onchange
        readable = await connect(master, "bob")
        await readable.rpc(establish(f"{port}/if:statistics/if:out-octets", on_change=True))
        assert await next_event(readable, "push-change-update", timeout=3.0) is not None
        for client in (bob, on_change, readable):
            await client.close()

    run(body())


def test_generator_ids_and_the_resource_location_table_need_a_read_grant(master: ServerProcess) -> None:
    async def body() -> None:
        await configure(master, rule_list("guests", "guests",
                                          rule("no-generators", "deny", module="ietf-multiple-stream-originators",
                                               operations="read"),
                                          rule("no-table", "deny", module="mso-distributed-export", operations="read")))
        bob, alice = await connect(master, "bob"), await connect(master, "alice")
        reply = await bob.rpc(establish("/if:interfaces/if:interface[if:name='1/0/1']"))
        assert reply.findtext(qn(SN, "id")) and reply.find(qn(MSO, "message-generator-id")) is None
        assert (await next_event(bob, "push-update")) is not None  # still served
        listing = await bob.get(subtree=f'<subscriptions xmlns="{SN}"/>')
        assert listing.find(f".//{{{SN}}}subscription") is not None
        assert listing.find(f".//{{{MSO}}}message-generator-id") is None
        table = await bob.get(subtree=f'<resource-location-table xmlns="{DISTRIBUTED_EXPORT}"/>')
        assert len(table) == 0
        alices = await alice.rpc(establish("/if:interfaces/if:interface[if:name='1/0/1']"))
        assert alices.findtext(qn(MSO, "message-generator-id")) == "1"
        for client in (bob, alice):
            await client.close()

    run(body())
