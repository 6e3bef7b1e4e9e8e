"""The gate on the Master's outgoing data, in-process: with a policy that withholds some nodes
from one user, that user's pushes, events, replies and generator lists are cut to what the
policy lets them read, and the other user's are untouched."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from pathlib import Path

import pytest
from lxml import etree

from mso.namespaces import INTERFACES, MSO, NETCONF_BASE, NETCONF_NOTIFICATIONS, qn
from mso.rpc_error import RpcError
from mso.schema import Schema
from server.authz import DataWrite, Principal, access_denied
from tests.conftest import run
from tests.master_fakes import SN, FakeAgent, FakeSession, establish, generators, rpc, running_master, subscription_id

MGMT0 = "/if:interfaces/if:interface[if:name='mgmt0']"
IN_OCTETS = qn(INTERFACES, "in-octets")
CONFIG_CHANGE = qn(NETCONF_NOTIFICATIONS, "netconf-config-change")


class Withholding:
    """A policy for tests: ``restricted`` users may not read nodes named in ``hidden``, nor
    receive events named in ``denied``; everyone else may do anything."""

    generation = 0

    def __init__(self, restricted: set[str], hidden: set[str], denied: set[str] = frozenset()) -> None:
        self.restricted, self.hidden, self.denied = restricted, hidden, denied

    def unrestricted(self, who: Principal) -> bool:
        return who.user not in self.restricted

    def check_operation(self, who: Principal, operation: str) -> None:
        return None

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        if who.user in self.restricted and writes:
            raise access_denied("read-only user")

    def filter_read(self, who: Principal, data: etree._Element) -> etree._Element:
        if who.user not in self.restricted:
            return data
        pruned = copy.deepcopy(data)
        for node in [n for n in pruned.iter() if n.tag in self.hidden]:
            node.getparent().remove(node)
        return pruned

    def permit_notification(self, who: Principal, event: etree._Element) -> bool:
        return who.user not in self.restricted or event.tag not in self.denied


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def edit_description(text: str) -> str:
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<interfaces xmlns="{INTERFACES}"><interface><name>mgmt0</name><description>{text}</description>'
            f'<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
            f"</interface></interfaces></config></edit-config>")


def test_push_updates_carry_only_what_their_owner_may_read(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        policy = Withholding({"bob"}, {IN_OCTETS})
        async with running_master(tmp_path, schema, policy=policy) as master:
            alice, bob = FakeSession("alice"), FakeSession("bob")
            for session in (alice, bob):
                await rpc(master, session, establish(MGMT0, period_cs=5))
            bobs, alices = await bob.next("push-update"), await alice.next("push-update")
            assert alices.find(f".//{IN_OCTETS}") is not None
            assert bobs.find(f".//{IN_OCTETS}") is None
            assert bobs.find(f".//{{{INTERFACES}}}out-octets") is not None
            reply = await rpc(master, bob, f'<get xmlns="{NETCONF_BASE}"><filter type="xpath" '
                                           f'xmlns:if="{INTERFACES}" select="{MGMT0}"/></get>')
            assert reply is not None and reply[0].find(f".//{IN_OCTETS}") is None

    run(body())


def test_an_on_change_push_with_only_unreadable_edits_is_not_sent(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        policy = Withholding({"bob"}, {IN_OCTETS})
        async with running_master(tmp_path, schema, policy=policy) as master:
            alice, bob = FakeSession("alice"), FakeSession("bob")
            counters = f"{MGMT0}/if:statistics/if:in-octets"
            both = f"{MGMT0}/if:statistics/*[self::if:in-octets or self::if:out-octets]"
            await rpc(master, alice, establish(counters, on_change=True))
            await rpc(master, bob, establish(counters, on_change=True))
            await rpc(master, bob, establish(both, on_change=True))
            await alice.next("push-change-update", timeout=3.0)
            change = await bob.next("push-change-update", timeout=3.0)
            targets = [t.text for t in change.iter("{*}target")]
            assert targets == ["/ietf-interfaces:interfaces/interface=mgmt0/statistics/out-octets"]
            ids = {int(e.findtext("{*}id")) for e in bob.named("push-change-update")}
            assert ids == {int(change.findtext("{*}id"))}  # the in-octets-only subscription sent none

    run(body())


def test_event_stream_notifications_the_owner_may_not_receive_are_counted_not_sent(tmp_path: Path,
                                                                                   schema: Schema) -> None:
    async def body() -> None:
        policy = Withholding({"bob"}, set(), {CONFIG_CHANGE})
        async with running_master(tmp_path, schema, policy=policy) as master:
            alice, bob = FakeSession("alice"), FakeSession("bob")
            stream = f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream></establish-subscription>'
            await rpc(master, alice, stream)
            bobs = subscription_id(await rpc(master, bob, stream))
            await rpc(master, alice, edit_description("uplink"))
            assert (await alice.next("netconf-config-change")).findtext(f".//{{{NETCONF_NOTIFICATIONS}}}username") == "alice"
            await asyncio.sleep(0.05)
            assert bob.named("netconf-config-change") == []
            subscriptions = await rpc(master, alice, f'<get xmlns="{NETCONF_BASE}"><filter>'
                                                     f'<subscriptions xmlns="{SN}"/></filter></get>')
            entry = next(e for e in subscriptions[0].iter(qn(SN, "subscription")) if e.findtext(qn(SN, "id")) == str(bobs))
            assert entry.findtext(f".//{{{SN}}}excluded-event-records") == "1"
            with pytest.raises(RpcError) as refused:
                await rpc(master, bob, edit_description("mine"))
            assert refused.value.tag == "access-denied"

    run(body())


def test_generator_ids_are_shown_only_to_those_who_may_read_them(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        policy = Withholding({"bob"}, {qn(MSO, "message-generator-id")})
        async with running_master(tmp_path, schema, policy=policy) as master:
            FakeAgent(master, 2, 1, ["1/0/0"])
            alice, bob = FakeSession("alice"), FakeSession("bob")
            all_ports = establish("/if:interfaces/if:interface", agent_port=9)
            assert generators(await rpc(master, alice, all_ports)) == ["1", "2"]
            bobs = await rpc(master, bob, all_ports)
            assert generators(bobs) == [] and subscription_id(bobs) > 0
            FakeAgent(master, 3, 2, ["2/0/0"])
            assert generators(await alice.next("subscription-modified")) == ["1", "2", "3"]
            bobs_modified = await bob.next("subscription-modified")
            assert generators(bobs_modified) == [] and bobs_modified.find("{*}message-publisher-id") is None
            listing = await rpc(master, bob, f'<get xmlns="{NETCONF_BASE}"><filter><subscriptions xmlns="{SN}"/>'
                                             f"</filter></get>")
            assert generators(listing) == [] and len(list(listing[0].iter(qn(SN, "subscription")))) == 2

    run(body())
