"""The Master as ncclient users see it: a real server process over real SSH on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from ncclient import manager
from ncclient.operations.rpc import RPCError

from mso.namespaces import HARDWARE, INTERFACES, NETCONF_MONITORING
from tests.conftest import ServerProcess, stop_process

IF = {"if": INTERFACES}
INTERFACE_CONFIG = """
<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">
    <interface>
      <name>1/0/0</name>
      <description>uplink to core-1</description>
      <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
      <enabled>true</enabled>
    </interface>
  </interfaces>
</config>"""


def connect(srv: ServerProcess) -> manager.Manager:
    return manager.connect(
        host=srv.host, port=srv.port, username=srv.user, password=srv.password,
        hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20,
    )


def test_hello_advertises_base_and_yang_library_but_no_yang_1_1_module(server: ServerProcess):
    with connect(server) as m:
        caps = list(m.server_capabilities)
        assert "urn:ietf:params:netconf:base:1.1" in caps
        assert "urn:ietf:params:netconf:capability:xpath:1.0" in caps
        assert any(c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1?") for c in caps)
        assert not any("ietf-multiple-stream-originators" in c for c in caps)  # YANG 1.1: library only
        assert not any("module=ietf-subscribed-notifications" in c for c in caps)
        assert m.session_id.isdigit()


def test_get_with_subtree_filter_selects_one_interface(server: ServerProcess):
    with connect(server) as m:
        subtree = f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name></interface></interfaces>'
        data = m.get(filter=("subtree", subtree)).data_ele
        names = data.xpath("//if:interface/if:name/text()", namespaces=IF)
        assert names == ["2/0/7"]
        assert data.xpath("//if:interface/if:statistics/if:in-octets", namespaces=IF)


def test_get_with_xpath_filter(server: ServerProcess):
    with connect(server) as m:
        data = m.get(filter=("xpath", ({"hw": HARDWARE}, "/hw:hardware/hw:component[hw:name='line-card-2']"))).data_ele
        names = data.xpath("//hw:component/hw:name/text()", namespaces={"hw": HARDWARE})
        assert names == ["line-card-2"]
        assert not data.xpath("//*[local-name()='interfaces']")


def test_invalid_xpath_is_an_rpc_error(server: ServerProcess):
    with connect(server) as m:
        with pytest.raises(RPCError) as raised:
            m.get(filter=("xpath", ({"hw": HARDWARE}, "/hw:hardware[")))
        assert raised.value.tag == "invalid-value"


def test_edit_config_then_get_config(server: ServerProcess):
    with connect(server) as m:
        assert m.edit_config(target="running", config=INTERFACE_CONFIG).ok
        data = m.get_config(source="running").data_ele
        assert data.xpath("//if:interface[if:name='1/0/0']/if:description/text()", namespaces=IF) == ["uplink to core-1"]
        # the configured description shows in operational data too, merged with the card's state
        state = m.get(filter=("subtree", f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/0</name></interface></interfaces>')).data_ele
        assert state.xpath("//if:description/text()", namespaces=IF) == ["uplink to core-1"]
        assert state.xpath("//if:oper-status", namespaces=IF)


def test_edit_config_invalid_value_is_rejected_with_a_path(server: ServerProcess):
    bad = INTERFACE_CONFIG.replace("<enabled>true</enabled>", "<enabled>maybe</enabled>")
    with connect(server) as m:
        with pytest.raises(RPCError) as raised:
            m.edit_config(target="running", config=bad)
        assert raised.value.tag == "invalid-value"
        assert "enabled" in (raised.value.path or "")
        assert not m.get_config(source="running").data_ele.xpath("//if:interface", namespaces=IF)


def test_edit_config_create_twice_is_data_exists(server: ServerProcess):
    create = INTERFACE_CONFIG.replace("<interface>", '<interface xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="create">')
    with connect(server) as m:
        m.edit_config(target="running", config=create)
        with pytest.raises(RPCError) as raised:
            m.edit_config(target="running", config=create)
        assert raised.value.tag == "data-exists"


def test_lock_contention_between_two_sessions(server: ServerProcess):
    with connect(server) as first, connect(server) as second:
        assert first.lock("running").ok
        with pytest.raises(RPCError) as raised:
            second.lock("running")
        assert raised.value.tag == "lock-denied"
        assert "session-id" in raised.value.info and f">{first.session_id}<" in raised.value.info
        with pytest.raises(RPCError) as raised:
            second.edit_config(target="running", config=INTERFACE_CONFIG)
        assert raised.value.tag == "in-use"
        first.unlock("running")
        assert second.lock("running").ok


def test_kill_session_ends_the_other_session_and_frees_its_lock(server: ServerProcess):
    victim = connect(server)
    with connect(server) as killer:
        victim.lock("running")
        assert killer.kill_session(victim.session_id).ok
        assert killer.lock("running").ok
        with pytest.raises(Exception):
            victim.get_config(source="running")
        assert not victim.connected


def test_get_schema_returns_our_module_text(server: ServerProcess):
    with connect(server) as m:
        reply = m.get_schema("ietf-multiple-stream-originators")
        source = Path(__file__).parents[2] / "yang" / "ietf-multiple-stream-originators@2019-10-12.yang"
        assert reply.data.strip() == source.read_text().strip()
        with pytest.raises(RPCError) as raised:
            m.get_schema("no-such-module")
        assert raised.value.tag == "invalid-value"


def test_netconf_state_lists_sessions_and_schemas(server: ServerProcess):
    with connect(server) as m:
        data = m.get(filter=("subtree", f'<netconf-state xmlns="{NETCONF_MONITORING}"/>')).data_ele
        ns = {"ncm": NETCONF_MONITORING}
        assert m.session_id in data.xpath("//ncm:session/ncm:session-id/text()", namespaces=ns)
        assert "ietf-multiple-stream-originators" in data.xpath("//ncm:schema/ncm:identifier/text()", namespaces=ns)
        assert int(data.xpath("string(//ncm:statistics/ncm:in-rpcs)", namespaces=ns)) >= 1


def test_restart_keeps_the_running_configuration(server_factory, tmp_path: Path):
    srv = server_factory(tmp_path / "persist")
    with connect(srv) as m:
        m.edit_config(target="running", config=INTERFACE_CONFIG)
    stop_process(srv.process)
    assert not list((tmp_path / "persist").glob("*.tmp"))
    again = server_factory(tmp_path / "persist")
    with connect(again) as m:
        data = m.get_config(source="running").data_ele
        assert data.xpath("//if:interface/if:name/text()", namespaces=IF) == ["1/0/0"]


def test_dropped_sessions_counts_abnormal_ends_only(server: ServerProcess):
    ncm = {"ncm": NETCONF_MONITORING}
    with connect(server) as closed_politely:
        closed_politely.get_config(source="running")
    vanished = connect(server)
    vanished._session._transport.close()  # the client's transport dies without close-session
    with connect(server) as m:
        for _ in range(50):
            data = m.get(filter=("subtree", f'<netconf-state xmlns="{NETCONF_MONITORING}"><statistics/></netconf-state>')).data_ele
            if data.xpath("string(//ncm:dropped-sessions)", namespaces=ncm) == "1":
                break
        assert data.xpath("string(//ncm:dropped-sessions)", namespaces=ncm) == "1"
