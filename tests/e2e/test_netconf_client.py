"""netconf-client (PyPI) against a real Master. It has operations for get, get-config and
edit-config, takes a ``<filter>`` element as written (so XPath prefixes can be bound), sends
anything else with ``dispatch``, and queues notifications for ``take_notification``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from netconf_client.connect import connect_ssh
from netconf_client.error import RpcError
from netconf_client.ncclient import Manager

from mso.namespaces import HARDWARE, INTERFACES, NETCONF_BASE, NETCONF_MONITORING, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from tests.conftest import ServerProcess, start_server, stop_process

TIMEOUT = 20
IF = {"if": INTERFACES}
MODULE_SOURCE = Path(__file__).parents[2] / "yang" / "ietf-multiple-stream-originators@2019-10-12.yang"
ESTABLISH = (f'<establish-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}" xmlns:yp="{YANG_PUSH}" '
             'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores"><yp:datastore>ds:operational</yp:datastore>'
             f'<yp:datastore-xpath-filter xmlns:if="{INTERFACES}">'
             "/if:interfaces/if:interface[if:name='1/0/1']/if:statistics/if:in-octets</yp:datastore-xpath-filter>"
             "<yp:periodic><yp:period>10</yp:period></yp:periodic></establish-subscription>")


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("netconf-client") / "state")
    yield srv
    stop_process(srv.process)


@pytest.fixture
def manager(master: ServerProcess) -> Iterator[Manager]:
    session = connect_ssh(host=master.host, port=master.port, username=master.user, password=master.password,
                          initial_timeout=TIMEOUT, general_timeout=TIMEOUT)
    with Manager(session, timeout=TIMEOUT) as m:
        yield m


def test_netconf_client_hello(manager: Manager):
    capabilities = manager.session.server_capabilities
    assert "urn:ietf:params:netconf:base:1.1" in capabilities
    assert "urn:ietf:params:netconf:capability:xpath:1.0" in capabilities
    assert str(manager.session_id).isdigit()


def test_netconf_client_get_with_an_xpath_filter(manager: Manager):
    data = manager.get(filter=f'<filter type="xpath" xmlns:hw="{HARDWARE}" '
                              "select=\"/hw:hardware/hw:component[hw:name='line-card-2']/hw:class\"/>").data_ele
    assert data.xpath("//hw:component/hw:name/text()", namespaces={"hw": HARDWARE}) == ["line-card-2"]
    assert not data.xpath("//*[local-name()='interfaces']")


def test_netconf_client_get_with_a_subtree_filter(manager: Manager):
    data = manager.get(filter=("subtree", f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name>'
                                          "</interface></interfaces>")).data_ele
    assert data.xpath("//if:interface/if:name/text()", namespaces=IF) == ["2/0/7"]


def test_netconf_client_unprefixed_xpath_is_an_rpc_error(manager: Manager):
    with pytest.raises(RpcError) as raised:
        manager.get(filter='<filter type="xpath" select="/netconf-state/capabilities"/>')
    assert raised.value.tag == "invalid-value"
    assert "'netconf-state', 'capabilities' have no prefix" in raised.value.message


def test_netconf_client_edit_config_then_get_config(manager: Manager):
    manager.edit_config(target="running", config=(
        f'<config xmlns="{NETCONF_BASE}"><interfaces xmlns="{INTERFACES}"><interface><name>1/0/4</name>'
        "<description>set by netconf-client</description>"
        '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
        "</interface></interfaces></config>"))
    data = manager.get_config(source="running").data_ele
    assert data.xpath("//if:interface[if:name='1/0/4']/if:description/text()", namespaces=IF) == ["set by netconf-client"]


def test_netconf_client_get_schema_through_dispatch(manager: Manager):
    reply = etree.fromstring(manager.dispatch(
        f'<get-schema xmlns="{NETCONF_MONITORING}"><identifier>ietf-multiple-stream-originators</identifier>'
        "</get-schema>").xml)
    assert reply.findtext(f"{{{NETCONF_MONITORING}}}data").strip() == MODULE_SOURCE.read_text().strip()


def test_netconf_client_establish_subscription_and_receive_pushes(manager: Manager):
    reply = etree.fromstring(manager.dispatch(ESTABLISH).xml)
    sub_id = reply.findtext(f"{{{SUBSCRIBED_NOTIFICATIONS}}}id")
    assert sub_id is not None and sub_id.isdigit()
    for _ in range(2):
        notification = manager.take_notification(timeout=TIMEOUT)
        assert notification is not None, "no push within the timeout"
        push = notification.notification_ele.find(f"{{{YANG_PUSH}}}push-update")
        assert push is not None and push.findtext(f"{{{YANG_PUSH}}}id") == sub_id
        assert push.xpath(".//if:interface[if:name='1/0/1']/if:statistics/if:in-octets", namespaces=IF)
    # replies still come back as replies while pushes flow
    assert manager.get_config(source="running").data_ele is not None
