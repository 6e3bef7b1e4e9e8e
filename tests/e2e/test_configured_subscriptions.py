"""RFC 8639 §2.5 configured subscriptions to UDP-notif receivers: a real Master pushing to a UDP
socket of the test, across a restart, until the configuration is deleted."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ncclient import manager
from ncclient.operations.rpc import RPCError

from mso.namespaces import DATASTORES, INTERFACES, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from mso.notification_encoding import DecodedNotification, EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding
from mso.udp_notif import Reassembler
from tests.conftest import ServerProcess, stop_process

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
SNR = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notif-receivers"
UNT = "urn:ietf:params:xml:ns:yang:ietf-udp-notif-transport"
MEDIA = {1: Encoding.JSON, 2: Encoding.XML, 3: Encoding.CBOR}


def subscription_config(port: int, encoding: str = "sn:encode-json", sub_id: int = 40) -> str:
    return f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <subscriptions xmlns="{SN}" xmlns:sn="{SN}" xmlns:unt="{UNT}">
    <receiver-instances xmlns="{SNR}">
      <receiver-instance>
        <name>test-collector</name>
        <udp-notif-receiver xmlns="{UNT}">
          <remote-address>127.0.0.1</remote-address>
          <remote-port>{port}</remote-port>
        </udp-notif-receiver>
      </receiver-instance>
    </receiver-instances>
    <subscription>
      <id>{sub_id}</id>
      <datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational</datastore>
      <datastore-subtree-filter xmlns="{YP}">
        <interfaces xmlns="{INTERFACES}"><interface><name>2/0/3</name></interface></interfaces>
      </datastore-subtree-filter>
      <periodic xmlns="{YP}"><period>10</period></periodic>
      <encoding>{encoding}</encoding>
      <receivers><receiver><name>r1</name>
        <receiver-instance-ref xmlns="{SNR}">test-collector</receiver-instance-ref></receiver></receivers>
    </subscription>
  </subscriptions>
</config>"""


DELETE_SUBSCRIPTION = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"
    xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">
  <subscriptions xmlns="{SN}"><subscription nc:operation="delete"><id>40</id></subscription></subscriptions>
</config>"""


class UdpReceiver:
    """A UDP socket of the test, decoding what arrives with the project's codec."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reassembler = Reassembler()
        self.codec = EnvelopeCodec(Schema.load())

    def messages(self, timeout: float = 10.0) -> Iterator[tuple[int, DecodedNotification]]:
        """(publisher id, notification) as they arrive, until ``timeout`` passes without one."""
        self.sock.settimeout(timeout)
        while True:
            try:
                datagram, source = self.sock.recvfrom(65535)
            except socket.timeout:
                return
            message = self.reassembler.feed(datagram, source)
            if message is not None:
                yield message.publisher_id, self.codec.decode(message.payload, MEDIA[message.media_type])

    def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[tuple[int, DecodedNotification]]:
        found = []
        deadline = time.monotonic() + timeout
        for publisher, notification in self.messages(timeout):
            if notification.event.endswith(":" + event):
                found.append((publisher, notification))
                if len(found) == count:
                    return found
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"{len(found)} of {count} {event} within {timeout} s")


@pytest.fixture
def receiver() -> Iterator[UdpReceiver]:
    udp = UdpReceiver()
    yield udp
    udp.sock.close()


def connect(srv: ServerProcess) -> manager.Manager:
    return manager.connect(host=srv.host, port=srv.port, username=srv.user, password=srv.password,
                           hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20)


@pytest.mark.parametrize("encoding", ["sn:encode-json", "sn:encode-xml", "unt:encode-cbor"])
def test_started_then_pushes_in_each_encoding(server: ServerProcess, receiver: UdpReceiver, encoding: str):
    with connect(server) as m:
        m.edit_config(target="running", config=subscription_config(receiver.port, encoding))
    (publisher, started), = receiver.wait_for("subscription-started")
    assert publisher == 1 and started.subscription_id == 40
    generator_ids = started.body["ietf-multiple-stream-originators:message-generator-id"]
    assert generator_ids == ["1"]
    pushes = receiver.wait_for("push-update", count=3)
    assert {p.subscription_id for _, p in pushes} == {40}
    assert [p.sequence_number for _, p in pushes] == sorted(p.sequence_number for _, p in pushes)
    contents = pushes[-1][1].body["datastore-contents"]
    names = [i["name"] for i in contents["ietf-interfaces:interfaces"]["interface"]]
    assert names == ["2/0/3"]


def test_survives_a_restart_and_ends_with_terminated_on_delete(server_factory, receiver: UdpReceiver, tmp_path: Path):
    srv = server_factory(tmp_path / "state")
    with connect(srv) as m:
        m.edit_config(target="running", config=subscription_config(receiver.port))
    receiver.wait_for("push-update", count=2)
    stop_process(srv.process)
    again = server_factory(tmp_path / "state")
    (_, started), = receiver.wait_for("subscription-started")
    assert started.subscription_id == 40
    receiver.wait_for("push-update", count=2)
    with connect(again) as m:
        m.edit_config(target="running", config=DELETE_SUBSCRIPTION)
    (_, terminated), = receiver.wait_for("subscription-terminated")
    assert terminated.subscription_id == 40
    assert list(receiver.messages(timeout=0.5)) == []  # nothing after the end


def test_unresolved_receiver_instance_is_refused(server: ServerProcess, receiver: UdpReceiver):
    broken = subscription_config(receiver.port).replace(">test-collector</receiver-instance-ref>",
                                                        ">nowhere</receiver-instance-ref>")
    with connect(server) as m:
        with pytest.raises(RPCError) as raised:
            m.edit_config(target="running", config=broken)
        assert raised.value.tag == "data-missing"
        assert not m.get_config(source="running").data_ele.xpath("//*[local-name()='subscription']")
