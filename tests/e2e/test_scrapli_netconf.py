"""scrapli-netconf against a real Master: the sync driver on paramiko, the async driver on asyncssh.

scrapli-netconf sends a newline before the XML declaration of its hello and of every rpc; the
Master used to drop the session at hello, and the client then spun waiting for a reply. It has
no operation for get-schema or establish-subscription, so those go through its generic ``rpc``,
and no way to receive a notification: a push that arrives is read as the reply to the next rpc.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from scrapli_netconf.driver import AsyncNetconfDriver, NetconfDriver
from scrapli_netconf.response import NetconfResponse

from mso.namespaces import INTERFACES, NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from tests.conftest import ServerProcess, run, start_server, stop_process

TIMEOUT = 20  # seconds: connecting, each transport read, and the async driver's operations
# The sync driver's operation timeout is a SIGALRM timer that nested calls reset and then cancel,
# so it never fires while the driver spins on a closed channel, and it would cancel
# pytest-timeout's alarm too; with it off (timeout_ops=0), pytest-timeout bounds the sync tests.
pytestmark = pytest.mark.timeout(60)
IF = {"if": INTERFACES}
ONE_PORT = f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name></interface></interfaces>'
GET_SCHEMA = ('<get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring">'
              "<identifier>ietf-multiple-stream-originators</identifier></get-schema>")
ESTABLISH = (f'<establish-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}" xmlns:yp="{YANG_PUSH}" '
             'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores"><yp:datastore>ds:operational</yp:datastore>'
             f'<yp:datastore-xpath-filter xmlns:if="{INTERFACES}">'
             "/if:interfaces/if:interface[if:name='1/0/1']/if:statistics/if:in-octets</yp:datastore-xpath-filter>"
             "<yp:periodic><yp:period>10</yp:period></yp:periodic></establish-subscription>")
MODULE_SOURCE = Path(__file__).parents[2] / "yang" / "ietf-multiple-stream-originators@2019-10-12.yang"


def interface_config(name: str, description: str) -> str:
    return (f'<config xmlns="{NETCONF_BASE}"><interfaces xmlns="{INTERFACES}"><interface><name>{name}</name>'
            f"<description>{description}</description>"
            '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
            "</interface></interfaces></config>")


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("scrapli") / "state")
    yield srv
    stop_process(srv.process)


def _settings(srv: ServerProcess, transport: str, timeout_ops: float) -> dict[str, object]:
    return dict(host=srv.host, port=srv.port, auth_username=srv.user, auth_password=srv.password,
                auth_strict_key=False, transport=transport,
                timeout_socket=TIMEOUT, timeout_transport=TIMEOUT, timeout_ops=timeout_ops)


@pytest.fixture
def sync_driver(master: ServerProcess) -> Iterator[NetconfDriver]:
    conn = NetconfDriver(**_settings(master, "paramiko", timeout_ops=0))
    conn.open()
    yield conn
    conn.close()


def _reply(response: NetconfResponse) -> etree._Element:
    assert not response.failed, response.result
    return etree.fromstring(response.result.encode())


def _names(reply: etree._Element) -> list[str]:
    return reply.xpath("//if:interface/if:name/text()", namespaces=IF)


def _description(reply: etree._Element, name: str) -> list[str]:
    return reply.xpath(f"//if:interface[if:name='{name}']/if:description/text()", namespaces=IF)


def _check_get_schema(response: NetconfResponse) -> None:
    text = _reply(response).findtext(".//{urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring}data")
    assert text is not None and text.strip() == MODULE_SOURCE.read_text().strip()


def _subscription_id(response: NetconfResponse) -> str:
    reply = _reply(response)
    generators = reply.findall("{urn:ietf:params:xml:ns:yang:ietf-multiple-stream-originators}message-generator-id")
    assert [g.text for g in generators] == ["1"]
    sub_id = reply.findtext(f"{{{SUBSCRIBED_NOTIFICATIONS}}}id")
    assert sub_id is not None and sub_id.isdigit()
    return sub_id


# --- sync driver, paramiko transport ----------------------------------------------------------


def test_scrapli_sync_hello_with_a_newline_before_the_declaration_gets_answers(sync_driver: NetconfDriver):
    # the original failure: this hello ("\n<?xml ...") made the Master drop the session
    assert sync_driver.netconf_version.value == "1.1"
    assert "urn:ietf:params:netconf:capability:xpath:1.0" in sync_driver.server_capabilities
    assert _reply(sync_driver.get_config(source="running")).tag == f"{{{NETCONF_BASE}}}rpc-reply"


def test_scrapli_sync_get_with_a_subtree_filter(sync_driver: NetconfDriver):
    reply = _reply(sync_driver.get(filter_=ONE_PORT))
    assert _names(reply) == ["2/0/7"]
    assert reply.xpath("//if:interface/if:statistics/if:in-octets", namespaces=IF)


def test_scrapli_sync_edit_config_then_get_config(sync_driver: NetconfDriver):
    _reply(sync_driver.edit_config(config=interface_config("1/0/2", "set by scrapli sync"), target="running"))
    assert _description(_reply(sync_driver.get_config(source="running")), "1/0/2") == ["set by scrapli sync"]


def test_scrapli_sync_get_schema_through_rpc(sync_driver: NetconfDriver):
    _check_get_schema(sync_driver.rpc(filter_=GET_SCHEMA))


def test_scrapli_sync_establish_subscription_through_rpc(sync_driver: NetconfDriver):
    _subscription_id(sync_driver.rpc(filter_=ESTABLISH))


def test_scrapli_sync_cannot_receive_notifications_a_push_is_read_as_the_next_reply(sync_driver: NetconfDriver):
    sub_id = _subscription_id(sync_driver.rpc(filter_=ESTABLISH))
    for _ in range(200):  # pushes come every 100 ms; each get-config is one round trip
        result = sync_driver.get_config(source="running").result
        if "<notification" in result:
            break
    assert "<push-update" in result and f"<id>{sub_id}</id>" in result


def test_scrapli_cannot_bind_xpath_prefixes_and_gets_a_clear_error(sync_driver: NetconfDriver):
    # scrapli writes <filter type='xpath' select='...'/> with no namespace declarations
    prefixed = sync_driver.get(filter_="/if:interfaces/if:interface/if:name", filter_type="xpath")
    assert prefixed.failed and "invalid-value" in prefixed.result
    assert "prefix 'if' is not bound" in prefixed.result
    unprefixed = sync_driver.get(filter_="/interfaces/interface/name", filter_type="xpath")
    assert unprefixed.failed and "invalid-value" in unprefixed.result
    assert "'interfaces', 'interface', 'name' have no prefix" in unprefixed.result


# --- async driver, asyncssh transport ---------------------------------------------------------


def _async_driver(srv: ServerProcess) -> AsyncNetconfDriver:
    return AsyncNetconfDriver(**_settings(srv, "asyncssh", timeout_ops=TIMEOUT))


def test_scrapli_asyncssh_hello_get_edit_config_get_config_and_get_schema(master: ServerProcess):
    async def body() -> None:
        conn = _async_driver(master)
        await conn.open()
        try:
            assert conn.netconf_version.value == "1.1"
            assert _names(_reply(await conn.get(filter_=ONE_PORT))) == ["2/0/7"]
            _reply(await conn.edit_config(config=interface_config("1/0/3", "set by scrapli async"), target="running"))
            assert _description(_reply(await conn.get_config(source="running")), "1/0/3") == ["set by scrapli async"]
            _check_get_schema(await conn.rpc(filter_=GET_SCHEMA))
        finally:
            await conn.close()

    run(body())


def test_scrapli_asyncssh_establish_subscription_through_rpc(master: ServerProcess):
    async def body() -> None:
        conn = _async_driver(master)
        await conn.open()
        try:
            _subscription_id(await conn.rpc(filter_=ESTABLISH))
        finally:
            await conn.close()

    run(body())


def test_scrapli_asyncssh_cannot_receive_notifications_a_push_is_read_as_the_next_reply(master: ServerProcess):
    async def body() -> tuple[str, str]:
        conn = _async_driver(master)
        await conn.open()
        try:
            sub_id = _subscription_id(await conn.rpc(filter_=ESTABLISH))
            for _ in range(200):  # pushes come every 100 ms, the first within one period
                result = (await conn.get_config(source="running")).result
                if "<notification" in result:
                    break
                await asyncio.sleep(0.02)
            return sub_id, result
        finally:
            await conn.close()

    sub_id, result = run(body())
    assert "<push-update" in result and f"<id>{sub_id}</id>" in result
