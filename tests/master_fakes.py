"""A real Master core in-process, without SSH and without agent processes: fake sessions that
collect what is pushed to them, and fake agents whose control channel records what the Master
sends. Everything between them is the real code."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from mso import control_channel as cc
from mso.namespaces import INTERFACES, MSO, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.sampling import INTERFACE_LIST
from mso.schema import Schema
from mso.xml_parsing import parse_xml
from server.agent_registry import AgentLink
from server.authz import AccessPolicy, PermitAll, Principal
from server.master import Master, ServerConfig
from server.rpc import Reply, RpcContext
from server.session import SessionInfo

SN, YP, DX = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, "urn:mso:yang:mso-distributed-export"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
_SESSION_IDS = itertools.count(1000)


class FakeSession:
    """A subscriber's session: notifications land in ``events`` as their event elements."""

    def __init__(self, user: str = "alice") -> None:
        session_id = next(_SESSION_IDS)
        self.info = SessionInfo(session_id, user, "127.0.0.1:40000", datetime.now(timezone.utc))
        self.principal = Principal(user, session_id, self.info.source_host)
        self.events: list[etree._Element] = []
        self.closed_for: str | None = None

    @property
    def session_id(self) -> int:
        return self.info.session_id

    def send_notification(self, message: bytes) -> None:
        self.events.append(parse_xml(message)[1])

    def close_after_reply(self) -> None:
        self.closed_for = "close-session"

    def close(self, reason: str) -> None:
        self.closed_for = reason

    def named(self, name: str) -> list[etree._Element]:
        return [event for event in self.events if etree.QName(event).localname == name]

    async def next(self, name: str, after: int = 0, timeout: float = 5.0) -> etree._Element:
        """The first event called ``name`` at or after position ``after`` in ``events``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.events[after:]:
                if etree.QName(event).localname == name:
                    return event
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {name} within {timeout} s; got {[etree.QName(e).localname for e in self.events]}")
            await asyncio.sleep(0.01)


@dataclass
class FakeChannel:
    """An agent's end of the control channel: records what the Master sends it."""

    peer: str = "fake-agent"
    sent: list[cc.Message] = field(default_factory=list)
    closed: bool = False

    def send(self, message: cc.Message) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True

    def of(self, kind: type) -> list[cc.Message]:
        return [m for m in self.sent if isinstance(m, kind)]


class FakeAgent:
    def __init__(self, master: Master, generator: int, slot: int, ports: Iterable[str]) -> None:
        self.master = master
        self.channel = FakeChannel()
        request = cc.Register(generator, slot, tuple((INTERFACE_LIST, (port,)) for port in ports))
        admitted = master.originators.registry.admit(request, self.channel)  # type: ignore[arg-type]
        assert isinstance(admitted, AgentLink), admitted
        self.link = admitted

    @property
    def generator(self) -> str:
        return self.link.generator

    def report(self, message: cc.Message) -> None:
        self.master.originators.registry.handle(self.link, message)

    def leave(self, reason: str = "connection closed") -> None:
        self.master.originators.registry.drop(self.link, reason)


@asynccontextmanager
async def running_master(tmp_path: Path, schema: Schema, *, line_cards: int = 0, ports: int = 2,
                         policy: AccessPolicy | None = None, **config: object) -> AsyncIterator[Master]:
    """A started Master core with no SSH port and no agent listener."""
    master = Master(ServerConfig(state_dir=tmp_path / "state", line_cards=line_cards, ports_per_card=ports,
                                 **config), schema=schema, policy=policy or PermitAll())  # type: ignore[arg-type]
    await master.start(listen=False)
    try:
        yield master
    finally:
        await master.close()


async def rpc(master: Master, session: FakeSession, operation: str | etree._Element) -> Reply:
    """Dispatch one operation as ``session``; an rpc-error is raised as RpcError."""
    element = operation if isinstance(operation, etree._Element) else parse_xml(operation.encode())
    return await master.dispatcher.dispatch(RpcContext(session, session.principal, "1"), element)


def establish(xpath: str, *, period_cs: int | None = 10, on_change: bool = False, agent_port: int | None = None,
              datastore: str = "ds:operational") -> str:
    trigger = (f'<on-change xmlns="{YP}"><dampening-period>0</dampening-period></on-change>' if on_change
               else f'<periodic xmlns="{YP}"><period>{period_cs}</period></periodic>')
    receiver = (f'<agent-receiver xmlns="{DX}"><address>127.0.0.1</address><port>{agent_port}</port></agent-receiver>'
                if agent_port is not None else "")
    return (f'<establish-subscription xmlns="{SN}">'
            f'<datastore xmlns="{YP}" xmlns:ds="{DS}">{datastore}</datastore>'
            f'<datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">{xpath}</datastore-xpath-filter>'
            f"{trigger}{receiver}</establish-subscription>")


def subscription_id(reply: Reply) -> int:
    assert reply is not None
    return int(next(e for e in reply if e.tag == qn(SN, "id")).text or "")


def generators(element_or_reply: etree._Element | Sequence[etree._Element] | None) -> list[str]:
    elements = [element_or_reply] if isinstance(element_or_reply, etree._Element) else list(element_or_reply or [])
    return [leaf.text or "" for element in elements for leaf in element.iter(qn(MSO, "message-generator-id"))]


def component_ids(channel: FakeChannel, kind: type) -> list[int]:
    return [m.spec.id if hasattr(m, "spec") else m.subscription_id for m in channel.of(kind)]  # type: ignore[attr-defined]
