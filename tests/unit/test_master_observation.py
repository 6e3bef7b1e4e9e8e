"""The observation point, in-process: a recording observer sees every RPC (the ones a session
refuses before dispatch too) with what it read or wrote, every state notification, pushes
summarised per subscription, and each subscription's measurement settings; an observer that
raises breaks nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lxml import etree

from mso.framing import FrameDecoder
from mso.namespaces import BASE_1_0, INTERFACES, NETCONF_BASE, YANG_PUSH, qn
from mso.schema import Schema
from server.master import Master
from server.observation import NotificationSent, Observer, PushesSent, RpcEvent, SubscriptionChange
from server.session import NetconfSession
from tests.conftest import run
from tests.master_fakes import SN, FakeAgent, FakeSession, establish, rpc, running_master

MGMT0 = "/if:interfaces/if:interface[if:name='mgmt0']"
END = b"]]>]]>"


class Recorder(Observer):
    def __init__(self) -> None:
        self.rpcs: list[RpcEvent] = []
        self.notifications: list[NotificationSent] = []
        self.summaries: list[PushesSent] = []
        self.changes: list[SubscriptionChange] = []

    def rpc(self, event: RpcEvent) -> None:
        self.rpcs.append(event)

    def notification(self, event: NotificationSent) -> None:
        self.notifications.append(event)

    def pushes(self, event: PushesSent) -> None:
        self.summaries.append(event)

    def subscription(self, event: SubscriptionChange) -> None:
        self.changes.append(event)


class Raising(Observer):
    def rpc(self, event: RpcEvent) -> None:
        raise RuntimeError("observer bug")

    def pushes(self, event: PushesSent) -> None:
        raise RuntimeError("observer bug")

    def notification(self, event: NotificationSent) -> None:
        raise RuntimeError("observer bug")


class LoopbackChannel:
    """The SSH channel under a real NetconfSession: what the session writes, decoded (base:1.0)."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self.messages: list[etree._Element] = []

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        return None

    def write(self, data: bytes) -> None:
        framed = self._decoder.feed(data)
        if framed and not self.messages:  # the server's hello: base:1.0 framing stays
            framed += self._decoder.hello_done(False)
        self.messages += [etree.fromstring(m) for m in framed]

    def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


async def netconf_session(master: Master) -> tuple[NetconfSession, LoopbackChannel]:
    session, channel = NetconfSession(master.sessions, "carol", "127.0.0.1:50000"), LoopbackChannel()
    session.connection_made(channel)  # type: ignore[arg-type]
    session.session_started()
    session.data_received(f'<hello xmlns="{NETCONF_BASE}"><capabilities><capability>{BASE_1_0}</capability>'
                          f"</capabilities></hello>".encode() + END, None)
    return session, channel


async def replies(channel: LoopbackChannel, count: int) -> list[etree._Element]:
    for _ in range(200):
        found = [m for m in channel.messages if m.tag == qn(NETCONF_BASE, "rpc-reply")]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} replies expected, got {len(found)}")


def test_every_rpc_is_observed_refused_ones_included(tmp_path: Path, schema: Schema) -> None:
    async def body() -> list[RpcEvent]:
        async with running_master(tmp_path, schema) as master:
            recorder = Recorder()
            master.observers.add(recorder)
            session, channel = await netconf_session(master)
            get = (f'<get><filter type="xpath" xmlns:if="{INTERFACES}" '
                   f'select="{MGMT0}/if:name"/></get>')
            for message in (b"<rpc message-id='1'><get", f'<rpc xmlns="{NETCONF_BASE}"><get/></rpc>'.encode(),
                            f'<rpc xmlns="{NETCONF_BASE}" message-id="3"><get/><get/></rpc>'.encode(),
                            f'<rpc xmlns="{NETCONF_BASE}" message-id="4">{get}</rpc>'.encode()):
                session.data_received(message + END, None)
            await replies(channel, 4)
            return recorder.rpcs

    bad_xml, no_id, two, get = run(body())
    assert (bad_xml.operation, bad_xml.outcome) == (None, "operation-failed")  # base:1.0 has no malformed-message
    assert (no_id.operation, no_id.outcome) == (qn(NETCONF_BASE, "get"), "missing-attribute")
    assert (two.operation, two.message_id, two.outcome) == (None, "3", "malformed-message")
    assert (get.operation, get.datastore, get.outcome, get.principal.user) == (qn(NETCONF_BASE, "get"), "operational",
                                                                               "ok", "carol")
    assert get.principal.source == "127.0.0.1:50000"
    assert [node.path for node in get.nodes_read()] == ["/ietf-interfaces:interfaces/ietf-interfaces:interface"
                                                        "[ietf-interfaces:name='mgmt0']"]


def test_writes_are_observed_with_the_nodes_they_touch(tmp_path: Path, schema: Schema) -> None:
    async def body() -> RpcEvent:
        async with running_master(tmp_path, schema) as master:
            recorder = Recorder()
            master.observers.add(recorder)
            await rpc(master, FakeSession(), f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target>'
                                             f'<config><interfaces xmlns="{INTERFACES}"><interface><name>mgmt0</name>'
                                             f'<type xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type">'
                                             f"t:ethernetCsmacd</type></interface></interfaces></config></edit-config>")
            return recorder.rpcs[-1]

    edit = run(body())
    assert edit.datastore == "running" and edit.outcome == "ok"
    assert [(w.path, w.access) for w in edit.writes] == [("/ietf-interfaces:interfaces", "create")]
    assert dict(edit.writes[0].namespaces) == {"ietf-interfaces": INTERFACES}


def test_notifications_pushes_and_subscription_settings_are_observed(tmp_path: Path, schema: Schema) -> None:
    async def body() -> tuple[Recorder, int]:
        async with running_master(tmp_path, schema) as master:
            recorder = Recorder()
            master.observers.add(recorder)
            session = FakeSession()
            await rpc(master, session, establish("/if:interfaces/if:interface", period_cs=10, agent_port=9))
            FakeAgent(master, 2, 1, ["1/0/0"])  # subscription-modified
            await asyncio.sleep(1.3)  # the summary timer (1 s, started first) fires before this one
            await rpc(master, session, f'<delete-subscription xmlns="{SN}"><id>1</id></delete-subscription>')
            return recorder, len(session.named("push-update"))

    recorder, pushed = run(body())
    started, modified, ended = recorder.changes
    assert (started.change, modified.change, ended.change) == ("started", "modified", "ended")
    assert started.spec.trigger.period_cs == 10 and started.receivers == (f"session-{started.owner.session_id}",)
    assert started.generators == ("1",) and modified.generators == ("1", "2")
    assert ended.reason == "delete-subscription"
    assert [(n.name, n.subscription_id, n.receiver) for n in recorder.notifications] == [
        (qn(SN, "subscription-modified"), 1, started.receivers[0])]
    assert len(recorder.summaries) >= 2  # one on the timer, the last when the subscription ended
    counted = sum(s.counts.get(qn(YANG_PUSH, "push-update"), 0) for s in recorder.summaries)
    assert counted == pushed > 0


def test_an_observer_that_raises_breaks_neither_rpcs_nor_pushes(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            master.observers.add(Raising())
            recorder = Recorder()
            master.observers.add(recorder)
            session = FakeSession()
            await rpc(master, session, establish(MGMT0, period_cs=5))
            FakeAgent(master, 2, 1, ["1/0/0"])
            await session.next("push-update")
            await asyncio.sleep(1.1)
            assert recorder.rpcs and recorder.summaries  # the observers after the raising one still see

    run(body())
