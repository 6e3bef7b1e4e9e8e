"""The Master core serving filters exactly across line cards, in-process: card agents here
hold a real card's data (agents.card_data) and answer the Master's get-requests over a fake
control channel, so get and the subscriptions the Master serves whole gather real data; the
components the others get are read off what the Master sends them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lxml import etree

from agents.card_data import CardData
from mso import control_channel as cc
from mso.namespaces import DISTRIBUTED_EXPORT, INTERFACES, qn
from mso.rpc_error import RpcError
from mso.sampling import apply_filter, selection_of
from mso.schema import Schema
from server.agent_registry import AgentLink
from server.master import Master
from tests.conftest import run
from tests.e2e.test_configured_subscriptions import subscription_config
from tests.master_fakes import SN, YP, FakeChannel, FakeSession, establish, generators, rpc, running_master

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
ISSUE_FILTER = "/if:interfaces/if:interface[if:name='1/0/0']/../if:interface[if:name='2/0/1']/if:name"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


class CardChannel(FakeChannel):
    """A card agent's end of the control channel: it answers get-requests from its card's data
    and follows the resources the Master moves, like agents.agent does."""

    def __init__(self, master: Master, card: CardData) -> None:
        super().__init__()
        self._master = master
        self._card = card
        self.link: AgentLink | None = None

    def send(self, message: cc.Message) -> None:
        super().send(message)
        if isinstance(message, cc.GetRequest):
            asyncio.get_running_loop().call_soon(self._answer, message)
        elif isinstance(message, cc.ResourcesAssigned):
            for resource in message.removed:
                self._card.release(resource)
            for resource in message.added:
                self._card.adopt(resource)

    def _answer(self, request: cc.GetRequest) -> None:
        data = etree.Element(qn(NC, "data"))
        data.extend(self._card.nodes(selection_of(request.filter)))
        selected = apply_filter(data, request.filter, self._master.schema.key_index)
        assert self.link is not None
        self._master.originators.registry.handle(self.link, cc.GetReply(request.request_id,
                                                                        etree.tostring(selected).decode()))


class CardAgent:
    """A line card in ``slot`` with ``ports`` ports registered as ``generator``."""

    def __init__(self, master: Master, generator: int, slot: int, ports: int = 3) -> None:
        keys = master.schema.key_index
        card = CardData(slot, ports, keys, boot_time=master.device.boot_time)
        self.channel = CardChannel(master, card)
        admitted = master.originators.registry.admit(cc.Register(generator, slot, card.resources()),
                                                     self.channel)  # type: ignore[arg-type]
        assert isinstance(admitted, AgentLink), admitted
        self.channel.link = admitted

    def created(self) -> list[cc.ComponentCreate]:
        return self.channel.of(cc.ComponentCreate)  # type: ignore[return-value]


async def get(master: Master, session: FakeSession, xpath: str) -> etree._Element:
    reply = await rpc(master, session, f'<get xmlns="{NC}"><filter type="xpath" xmlns:if="{INTERFACES}" '
                                       f'xmlns:sn="{SN}" select="{xpath}"/></get>')
    assert reply is not None
    return reply[0]


def names(data: etree._Element) -> list[str]:
    return [leaf.text or "" for leaf in data.iter(qn(INTERFACES, "name"))]


def test_get_with_a_filter_across_cards_returns_what_the_whole_device_holds(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            CardAgent(master, 2, 1)
            CardAgent(master, 3, 2)
            session = FakeSession()
            assert names(await get(master, session, ISSUE_FILTER)) == ["2/0/1"]
            absent = ISSUE_FILTER.replace("1/0/0", "1/0/9")
            assert names(await get(master, session, absent)) == []
            # a content predicate on data the reply does not carry: filtered once, on each card
            up = await get(master, session, "/if:interfaces/if:interface[if:oper-status='up']/if:name")
            assert {"1/0/0", "2/0/0"} <= set(names(up))
            second = await get(master, session, "/if:interfaces/if:interface[2]/if:name")
            assert names(second) == ["1/0/0"]  # mgmt0 (the Master's), then card 1's ports

    run(body())


def test_a_filter_rewritten_per_card_reaches_only_the_card_that_holds_what_it_selects(tmp_path: Path,
                                                                                      schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1, card_2 = CardAgent(master, 2, 1), CardAgent(master, 3, 2)
            reply = await rpc(master, FakeSession(), establish(ISSUE_FILTER, agent_port=9))
            assert generators(reply) == ["3"]
            assert card_1.created() == []
            (component,) = card_2.created()
            assert component.spec.filter is not None
            assert component.spec.filter.xpath == "/if:interfaces/if:interface[if:name = '2/0/1']/if:name"

    run(body())


async def next_push_with(session: FakeSession, name: str, timeout: float = 5.0) -> etree._Element:
    """The first push-update from now on that holds interface ``name`` (once the Master switched)."""
    seen = len(session.events)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        push = await session.next("push-update", after=seen, timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        seen = session.events.index(push) + 1
        if name in names(push):
            return push


def served_whole(subscriptions: etree._Element) -> list[str]:
    return [leaf.text or "" for leaf in subscriptions.iter(qn(DISTRIBUTED_EXPORT, "served-whole"))]


def test_a_positional_filter_is_served_whole_by_the_master_with_the_cards_data(tmp_path: Path,
                                                                                 schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            card_1, card_2 = CardAgent(master, 2, 1), CardAgent(master, 3, 2)
            session = FakeSession()
            reply = await rpc(master, session, establish("/if:interfaces/if:interface[4]/if:name", agent_port=9))
            assert generators(reply) == ["1"]
            assert card_1.created() == card_2.created() == []
            push = await session.next("push-update")
            assert names(push) == ["1/0/2"]  # the fourth of mgmt0, 1/0/0, 1/0/1, 1/0/2, 2/0/0...
            state = await get(master, session, "/sn:subscriptions")
            (why,) = served_whole(state)
            assert "position" in why

    run(body())


def test_a_filter_no_one_can_evaluate_is_refused_with_a_hint(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            CardAgent(master, 2, 1)
            with pytest.raises(RpcError) as refused:
                await rpc(master, FakeSession(), establish("/if:interfaces/if:interface[re-match(if:name, '1/.*')]",
                                                           agent_port=9))
            error = refused.value
            assert error.app_tag == "ietf-subscribed-notifications:filter-unsupported"
            hint = next(e for e in error.info[0].iter() if etree.QName(e).localname == "filter-failure-hint")
            assert "re-match() is a YANG XPath function" in (hint.text or "")

    run(body())


def test_a_card_joining_a_subscription_without_an_agent_receiver_is_served_through_the_master(
        tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            session = FakeSession()
            reply = await rpc(master, session, establish("/if:interfaces/if:interface[if:name='1/0/1']/if:name"))
            assert generators(reply) == ["1"]  # nobody holds 1/0/1 yet: the Master answers, empty
            card = CardAgent(master, 2, 1)
            assert card.created() == []  # it could push nowhere
            push = await next_push_with(session, "1/0/1")  # delivered by the Master, gathered from the card
            assert names(push) == ["1/0/1"]
            (why,) = served_whole(await get(master, session, "/sn:subscriptions"))
            assert "agent-receiver" in why
            assert session.named("subscription-modified") == []  # still the Master's alone

    run(body())


def test_datastore_subscriptions_with_unsupported_filters_are_refused_too(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            request = establish("/if:interfaces/if:interface[derived-from(if:type, 'x')]", datastore="ds:running")
            with pytest.raises(RpcError) as refused:
                await rpc(master, FakeSession(), request)
            assert refused.value.app_tag == "ietf-subscribed-notifications:filter-unsupported"

    run(body())



def test_an_on_change_subscription_served_whole_starts_with_every_cards_data(tmp_path: Path, schema: Schema) -> None:
    """Its job starts once the cards' data is in: the sync-on-start push already holds them."""
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            CardAgent(master, 2, 1)
            CardAgent(master, 3, 2)
            session = FakeSession()
            last = "/if:interfaces/if:interface[last()]/if:name"
            reply = await rpc(master, session, establish(last, on_change=True, agent_port=9))
            assert generators(reply) == ["1"]
            assert names(await session.next("push-update")) == ["2/0/2"]  # the last of the last card

    run(body())


def test_a_configured_subscription_no_one_can_evaluate_is_refused_at_its_edit(tmp_path: Path, schema: Schema) -> None:
    config = subscription_config(9).replace(
        f'<datastore-subtree-filter xmlns="{YP}">\n        <interfaces xmlns="{INTERFACES}"><interface><name>2/0/3</name>'
        "</interface></interfaces>\n      </datastore-subtree-filter>",
        f'<datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">'
        "/if:interfaces/if:interface[deref(if:name)]</datastore-xpath-filter>")
    assert "deref" in config

    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            with pytest.raises(RpcError) as refused:
                await rpc(master, FakeSession(), f'<edit-config xmlns="{NC}"><target><running/></target>{config}'
                                                 "</edit-config>")
            assert refused.value.tag == "invalid-value"
            assert refused.value.app_tag == "ietf-subscribed-notifications:filter-unsupported"
            assert "deref() is a YANG XPath function" in (refused.value.message or "")
            assert master.subscriptions.get(40) is None

    run(body())
