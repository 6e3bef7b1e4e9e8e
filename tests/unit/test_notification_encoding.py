"""Notification envelopes: RFC 5277 for NETCONF sessions, draft-ietf-netconf-notif-envelope for
UDP-notif payloads in XML, JSON and CBOR, and decoding of both shapes."""

from __future__ import annotations

import cbor2
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from mso import namespaces as ns
from mso.device_sim import CardSpec, DeviceSimulator
from mso.notification_encoding import (
    EnvelopeCodec,
    NotificationDecodeError,
    xml_notification,
)
from mso.schema import Schema
from mso.subscription_model import Encoding

EVENT_TIME = "2026-11-22T02:26:35.211903Z"


@pytest.fixture(scope="module")
def codec() -> EnvelopeCodec:
    return EnvelopeCodec(Schema.load(), hostname="router-1.example.net")


def push_update(subscription_id: int = 7) -> etree._Element:
    simulator = DeviceSimulator([CardSpec(0, 0), CardSpec(1, 4)])
    event = etree.Element(ns.qn(ns.YANG_PUSH, "push-update"), nsmap={None: ns.YANG_PUSH})
    etree.SubElement(event, ns.qn(ns.YANG_PUSH, "id")).text = str(subscription_id)
    contents = etree.SubElement(event, ns.qn(ns.YANG_PUSH, "datastore-contents"))
    contents.append(simulator.interfaces(1_800_000_000.0, names=["1/0/1"]))
    contents.append(simulator.hardware(1_800_000_000.0))
    return event


def subscription_started() -> etree._Element:
    return etree.fromstring(
        f'<subscription-started xmlns="{ns.SUBSCRIBED_NOTIFICATIONS}"><id>12</id><stream>NETCONF</stream>'
        f'<message-generator-id xmlns="{ns.MSO}">1</message-generator-id></subscription-started>'
    )


def test_xml_notification_wraps_the_event_without_reparsing_it() -> None:
    event = subscription_started()
    etree.Element("holder").append(event)
    event.tail = "text after the event, not part of it"
    message = xml_notification(event, EVENT_TIME)
    root = etree.fromstring(message)
    assert root.tag == ns.qn(ns.NOTIFICATION, "notification")
    assert [child.tag for child in root] == [ns.qn(ns.NOTIFICATION, "eventTime"), event.tag]
    assert root[0].text == EVENT_TIME
    assert etree.tostring(root[1]) == etree.tostring(event, with_tail=False)


def test_json_payload_is_the_notif_envelope(codec: EnvelopeCodec) -> None:
    payload = codec.encode(subscription_started(), event_time=EVENT_TIME, sequence_number=5, encoding=Encoding.JSON)
    assert orjson.loads(payload) == {
        "ietf-yp-notification:envelope": {
            "event-time": EVENT_TIME,
            "hostname": "router-1.example.net",
            "sequence-number": 5,
            "contents": {
                "ietf-subscribed-notifications:subscription-started": {
                    "id": 12,
                    "stream": "NETCONF",
                    "ietf-multiple-stream-originators:message-generator-id": ["1"],
                }
            },
        }
    }


def test_xml_payload_is_the_notif_envelope(codec: EnvelopeCodec) -> None:
    event = subscription_started()
    root = etree.fromstring(codec.encode(event, event_time=EVENT_TIME, sequence_number=5, encoding=Encoding.XML))
    envelope = "urn:ietf:params:xml:ns:yang:ietf-yp-notification"
    assert root.tag == ns.qn(envelope, "envelope")
    assert [(etree.QName(c).localname, c.text) for c in root[:3]] == [
        ("event-time", EVENT_TIME),
        ("hostname", "router-1.example.net"),
        ("sequence-number", "5"),
    ]
    assert root[3].tag == ns.qn(envelope, "contents")
    assert etree.tostring(root[3][0]) == etree.tostring(event)


def test_hostname_is_left_out_when_not_configured() -> None:
    anonymous = EnvelopeCodec(Schema.load())
    payload = anonymous.encode(subscription_started(), event_time=EVENT_TIME, sequence_number=1, encoding=Encoding.JSON)
    assert "hostname" not in orjson.loads(payload)["ietf-yp-notification:envelope"]
    assert anonymous.decode(payload, Encoding.JSON).hostname is None


def test_sequence_number_must_be_a_counter32(codec: EnvelopeCodec) -> None:
    with pytest.raises(ValueError, match="counter32"):
        codec.encode(subscription_started(), event_time=EVENT_TIME, sequence_number=2**32, encoding=Encoding.XML)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_every_encoding_decodes_to_the_same_notification(codec: EnvelopeCodec, encoding: Encoding) -> None:
    event = push_update(subscription_id=41)
    payload = codec.encode(event, event_time=EVENT_TIME, sequence_number=9, encoding=encoding)
    decoded = codec.decode(payload, encoding)
    reference = codec.decode(codec.encode(event, event_time=EVENT_TIME, sequence_number=9, encoding=Encoding.JSON), Encoding.JSON)
    assert decoded == reference
    assert (decoded.event_time, decoded.sequence_number, decoded.hostname) == (EVENT_TIME, 9, "router-1.example.net")
    assert (decoded.event, decoded.subscription_id) == ("ietf-yang-push:push-update", 41)
    interface = decoded.body["datastore-contents"]["ietf-interfaces:interfaces"]["interface"][0]
    assert interface["name"] == "1/0/1"
    assert isinstance(interface["statistics"]["in-octets"], str)  # counter64: a string in RFC 7951


def test_cbor_carries_rfc9254_integers(codec: EnvelopeCodec) -> None:
    payload = codec.encode(push_update(), event_time=EVENT_TIME, sequence_number=1, encoding=Encoding.CBOR)
    tree = cbor2.loads(payload)
    contents = tree["ietf-yp-notification:envelope"]["contents"]["ietf-yang-push:push-update"]["datastore-contents"]
    interface = contents["ietf-interfaces:interfaces"]["interface"][0]
    assert isinstance(interface["statistics"]["in-octets"], int)  # uint64: an integer in CBOR


def test_rfc5277_shape_decodes_from_xml_and_json(codec: EnvelopeCodec) -> None:
    event = subscription_started()
    from_xml = codec.decode(xml_notification(event, EVENT_TIME), Encoding.XML)
    legacy_json = {
        "ietf-notification:notification": {
            "eventTime": EVENT_TIME,
            "ietf-subscribed-notifications:subscription-started": from_xml.body,
        }
    }
    from_json = codec.decode(orjson.dumps(legacy_json), Encoding.JSON)
    assert from_xml == from_json
    assert (from_xml.event, from_xml.subscription_id, from_xml.sequence_number) == (
        "ietf-subscribed-notifications:subscription-started",
        12,
        None,
    )


@pytest.mark.parametrize(
    ("payload", "encoding", "reason"),
    [
        (b"<a", Encoding.XML, "not well-formed XML"),
        (b"<other/>", Encoding.XML, "unknown root element other"),
        (f'<notification xmlns="{ns.NOTIFICATION}"/>'.encode(), Encoding.XML, "expected one event, found 0"),
        (b"{", Encoding.JSON, "not JSON"),
        (b"[1]", Encoding.JSON, "expected one top-level member"),
        (b'{"x:y": {}}', Encoding.JSON, "unknown top-level member 'x:y'"),
        (b'{"ietf-yp-notification:envelope": {"contents": {"a:b": {}}}}', Encoding.JSON, "no event time"),
        (
            b'{"ietf-yp-notification:envelope": {"event-time": "t", "sequence-number": -1, "contents": {}}}',
            Encoding.JSON,
            "sequence-number is not a counter32",
        ),
        (b"\xff", Encoding.CBOR, "not CBOR"),
    ],
)
def test_bad_payloads_say_why(codec: EnvelopeCodec, payload: bytes, encoding: Encoding, reason: str) -> None:
    with pytest.raises(NotificationDecodeError) as caught:
        codec.decode(payload, encoding)
    assert caught.value.reason == reason


def test_xml_event_outside_the_schema_is_a_decode_error(codec: EnvelopeCodec) -> None:
    payload = xml_notification(etree.fromstring('<alarm xmlns="urn:example:unknown"/>'), EVENT_TIME)
    with pytest.raises(NotificationDecodeError, match="does not fit the schema"):
        codec.decode(payload, Encoding.XML)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=200), encoding=st.sampled_from(list(Encoding)))
def test_arbitrary_bytes_raise_only_decode_errors(codec: EnvelopeCodec, payload: bytes, encoding: Encoding) -> None:
    try:
        codec.decode(payload, encoding)
    except NotificationDecodeError as error:
        assert error.reason


# Names the schema knows, so that arbitrary trees get past the first member into typed leaves.
MEMBER_NAMES = st.sampled_from(
    ["id", "datastore-contents", "ietf-interfaces:interfaces", "interface", "name", "type", "enabled", "speed"]
) | st.text(max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tree=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=4),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(MEMBER_NAMES, children, max_size=3),
        max_leaves=12,
    )
)
def test_arbitrary_cbor_trees_raise_only_decode_errors(codec: EnvelopeCodec, tree: object) -> None:
    """Well-formed CBOR of our envelope with an arbitrary event body reaches the schema walk."""
    envelope = {"event-time": EVENT_TIME, "contents": {"ietf-yang-push:push-update": tree}}
    try:
        codec.decode(cbor2.dumps({"ietf-yp-notification:envelope": envelope}), Encoding.CBOR)
    except NotificationDecodeError as error:
        assert error.reason
