"""The C readers of XML and CBOR payloads (collector._payloads) against the general decoder they
stand in for (EnvelopeCodec.decode, through mso.yang_json): on every payload, a reader either
declines (None) or gives exactly what the general decoder gives. The common payloads, those our
publishers send, must not be declined, or the fast path would be no path at all."""

from __future__ import annotations

import copy

import cbor2
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from collector import payload_readers
from collector.decoding import _json_envelope
from mso.device_sim import CardSpec, DeviceSimulator
from mso.namespaces import INTERFACES, NETCONF_BASE
from mso.notification_encoding import EnvelopeCodec, NotificationDecodeError
from mso.schema import Schema
from mso.subscription_model import Encoding, OnChange, Periodic, SubscriptionSpec
from mso.subscription_runner import push_change_update, push_update
from mso.tree_diff import changed_paths
from server.subscription_state import state_notification

TIME = "2026-12-01T10:00:00.123456Z"
IANA_IF_TYPE = "urn:ietf:params:xml:ns:yang:iana-if-type"
HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture(scope="module")
def codec(schema: Schema) -> EnvelopeCodec:
    return EnvelopeCodec(schema, hostname="router-1")


@pytest.fixture(scope="module")
def readers(schema: Schema) -> dict:
    built = payload_readers.readers(schema)
    if built is None:
        pytest.fail("collector._payloads is not built: the README's set-up builds it with gcc and libxml2-dev")
    return built


def general(codec: EnvelopeCodec, payload: bytes, encoding: Encoding) -> tuple | None:
    try:
        decoded = codec.decode(payload, encoding)
    except NotificationDecodeError:
        return None
    return decoded.event, decoded.body, decoded.event_time, decoded.sequence_number


def agrees(readers: dict, codec: EnvelopeCodec, payload: bytes, encoding: Encoding) -> tuple | None:
    """The fast reader's answer, having checked it against the general decoder's."""
    fast = readers["xml" if encoding is Encoding.XML else "cbor"](payload)
    if fast is not None:
        assert fast == general(codec, payload, encoding)
    return fast


def device_events() -> list[etree._Element]:
    """What our publishers push: a whole line card's and the main board's data, state changes, a yang-patch."""
    data = etree.Element(f"{{{NETCONF_BASE}}}data")
    data.extend(DeviceSimulator([CardSpec(0, 0), CardSpec(1, 6)], boot_time=1_800_000_000.0)
                .operational(1_800_000_500.0))
    spec = SubscriptionSpec(id=7, datastore="ds:operational", trigger=Periodic(100))
    before = etree.fromstring(f'<data><interfaces xmlns="{INTERFACES}"/></data>')
    after = etree.fromstring(f'<data><interfaces xmlns="{INTERFACES}"><interface><name>a</name>'
                             "<description>up</description></interface></interfaces></data>")
    changes = changed_paths(before, after, {}, frozenset(), prefix_of=lambda ns: "if")
    return [
        push_update(7, data, 2),
        state_notification("subscription-started", 7, spec=spec, generators=["1", "2", "3"]),
        state_notification("subscription-modified", 7, spec=SubscriptionSpec(
            id=7, datastore="ds:operational", trigger=OnChange(dampening_cs=5)), generators=["1"]),
        state_notification("subscription-terminated", 7, reason="sn:no-such-subscription"),
        push_change_update(7, "patch-1", changes, {INTERFACES: "ietf-interfaces"}, 2),
    ]


@pytest.mark.parametrize("encoding", [Encoding.XML, Encoding.CBOR])
def test_what_our_publishers_send_is_read_fast_and_exactly(readers, codec, encoding):
    for event in device_events():
        payload = codec.encode(event, event_time=TIME, sequence_number=42, encoding=encoding)
        fast = agrees(readers, codec, payload, encoding)
        if etree.QName(event).localname == "push-change-update":
            continue  # a yang-patch value is read through its target: declined, and still agreed
        assert fast is not None, etree.tostring(event)[:200]


def test_the_xml_reader_takes_what_lxml_would_also_take(readers, codec):
    """Comments, CDATA, character references, prefixed names, whitespace before the declaration."""
    payload = (b' \n<?xml version="1.0"?><e:envelope xmlns:e="urn:ietf:params:xml:ns:yang:ietf-yp-notification">'
               b"<!-- a comment --><e:event-time>" + TIME.encode() + b"</e:event-time><e:contents>"
               b'<p:push-update xmlns:p="urn:ietf:params:xml:ns:yang:ietf-yang-push"><p:id>&#55;</p:id>'
               b'<p:datastore-contents><i:interfaces xmlns:i="urn:ietf:params:xml:ns:yang:ietf-interfaces"'
               b' xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type"><i:interface><i:name><![CDATA[1/0/1]]>'
               b"&amp;x</i:name><i:type>t:ethernetCsmacd</i:type><i:enabled>true</i:enabled></i:interface>"
               b"</i:interfaces></p:datastore-contents></p:push-update></e:contents></e:envelope>")
    fast = agrees(readers, codec, payload, Encoding.XML)
    assert fast is not None
    interface = fast[1]["datastore-contents"]["ietf-interfaces:interfaces"]["interface"][0]
    assert interface == {"name": "1/0/1&x", "type": "iana-if-type:ethernetCsmacd", "enabled": True}


@pytest.mark.parametrize("payload", [
    b'<!DOCTYPE e [<!ENTITY x "y">]><envelope xmlns="urn:ietf:params:xml:ns:yang:ietf-yp-notification"/>',
    b'<notification xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"><eventTime>' + TIME.encode()
    + b'</eventTime><push-update xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-push"><id>1</id></push-update>'
      b"</notification>",
    b'<envelope xmlns="urn:ietf:params:xml:ns:yang:ietf-yp-notification"><contents/></envelope>',
    b'<envelope xmlns="urn:ietf:params:xml:ns:yang:ietf-yp-notification"><event-time>' + TIME.encode()
    + b'</event-time><contents><push-update xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-push"><id>1</id>'
      b'</push-update><push-update xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-push"><id>2</id></push-update>'
      b"</contents></envelope>",
    b'<envelope xmlns="urn:ietf:params:xml:ns:yang:ietf-yp-notification"><event-time>' + TIME.encode()
    + b'</event-time><sequence-number>+1</sequence-number><contents><push-update '
      b'xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-push"><id>1</id><nope/></push-update></contents></envelope>',
    b"<envelope", b"", b"\xff\xfe", b'<p:x/>',
])
def test_what_is_not_our_envelope_or_is_refused_is_left_to_the_general_decoder(readers, codec, payload):
    """The RFC 5277 shape, which the general decoder reads, and what it refuses with a reason."""
    assert readers["xml"](payload) is None
    rfc5277 = payload.startswith(b"<notification")
    assert (general(codec, payload, Encoding.XML) is not None) == rfc5277


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=2), max_leaves=6)
JSON_ENVELOPES = st.fixed_dictionaries({"ietf-yp-notification:envelope": st.fixed_dictionaries(
    {"event-time": st.one_of(st.just(TIME), JSON_VALUES),
     "contents": st.one_of(st.dictionaries(st.sampled_from(["ietf-yang-push:push-update", "no-colon", "a:b"]),
                                           st.one_of(st.just({"id": 1}), JSON_VALUES), min_size=1, max_size=2),
                           JSON_VALUES)},
    optional={"sequence-number": st.one_of(st.integers(-1, 2**32), JSON_VALUES), "hostname": JSON_VALUES})})

LEAF_TEXTS = st.one_of(
    st.sampled_from(["", " ", "0", "-0", "+5", "007", "1_0", "\u0661", "4294967296", "-129", "99999999999999999999",
                     "true", "True", "false ", "x:y", "ianaift:ethernetCsmacd", "t:ethernetCsmacd", " t:other ",
                     ":", "a:b:c", "1.5", "-1.25", "1e3", "up", "down", "a b", "\t7\n", "2026-12-01T00:00:00Z",
                     "\u00e9t\u00e9", "\U0001F600", "/if:interfaces", "&lt;"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
)


def leaves(root: etree._Element) -> list[etree._Element]:
    return [element for element in root.iter() if isinstance(element.tag, str) and len(element) == 0]


@HOSTILE
@given(st.data())
def test_xml_with_any_leaf_texts_agrees_with_the_general_decoder(readers, codec, data):
    event = copy.deepcopy(data.draw(st.sampled_from(device_events()[:2])))
    targets = leaves(event)
    for element in data.draw(st.lists(st.sampled_from(targets), max_size=6)):
        text = data.draw(LEAF_TEXTS)
        try:
            element.text = text
        except ValueError:  # not XML text: lxml itself will not write it
            continue
    if data.draw(st.booleans()):  # a prefix in scope, so that "t:..." texts name an identity
        wrapper = etree.Element(event.tag, nsmap={"t": IANA_IF_TYPE, None: etree.QName(event).namespace})
        wrapper.extend(list(event))
        event = wrapper
    payload = codec.encode(event, event_time=TIME, sequence_number=data.draw(st.integers(0, 2**32 - 1)),
                           encoding=Encoding.XML)
    agrees(readers, codec, payload, Encoding.XML)


CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.binary(max_size=6) | LEAF_TEXTS
    | st.floats(allow_nan=False) | st.just([None]) | st.builds(cbor2.CBORTag, st.sampled_from([2, 4, 32, 999]),
                                                               st.integers(0, 9)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "x", "enabled"]), inner,
                                                                max_size=2),
    max_leaves=5,
)


def set_leaves(tree: object, data: st.DataObject) -> object:
    """``tree`` with some of its scalars replaced by drawn values."""
    if isinstance(tree, dict):
        return {key: set_leaves(value, data) for key, value in tree.items()}
    if isinstance(tree, list):
        return [set_leaves(value, data) for value in tree]
    return data.draw(CBOR_VALUES) if data.draw(st.integers(0, 9)) == 0 else tree


@HOSTILE
@given(st.data())
def test_cbor_with_any_leaf_values_agrees_with_the_general_decoder(readers, codec, data):
    event = data.draw(st.sampled_from(device_events()[:3]))
    tree = cbor2.loads(codec.encode(event, event_time=TIME, sequence_number=1, encoding=Encoding.CBOR))
    envelope = tree["ietf-yp-notification:envelope"]
    envelope["contents"] = set_leaves(envelope["contents"], data)
    if data.draw(st.booleans()):
        envelope["sequence-number"] = data.draw(CBOR_VALUES)
    agrees(readers, codec, cbor2.dumps(tree), Encoding.CBOR)


@HOSTILE
@given(st.binary(max_size=300))
def test_any_bytes_agree_or_are_declined(readers, codec, payload):
    agrees(readers, codec, payload, Encoding.XML)
    agrees(readers, codec, payload, Encoding.CBOR)


@HOSTILE
@given(st.data())
def test_a_json_shaped_tree_in_cbor_agrees(readers, codec, data):
    """Members in other spellings (local names at the top, qualified ones inside), lists given as
    one value: the CBOR reader follows mso.yang_json's member names or declines."""
    tree = orjson.loads(orjson.dumps({"ietf-yp-notification:envelope": {
        "event-time": TIME, "contents": {"ietf-yang-push:push-update": {
            data.draw(st.sampled_from(["id", "ietf-yang-push:id"])): 5,
            "datastore-contents": {data.draw(st.sampled_from(["ietf-interfaces:interfaces", "interfaces"])): {
                data.draw(st.sampled_from(["interface", "ietf-interfaces:interface"])): data.draw(
                    st.sampled_from([[{"name": "a"}], {"name": "a"}, [{"name": "a"}, {"name": "b", "mtu": 1500}]]))
            }}}}}}))
    agrees(readers, codec, cbor2.dumps(tree), Encoding.CBOR)


@HOSTILE
@given(st.one_of(st.binary(max_size=80), JSON_ENVELOPES.map(lambda tree: orjson.dumps(tree, option=orjson.OPT_NON_STR_KEYS))))
def test_the_json_envelope_check_is_the_python_one(readers, payload):
    assert readers["json"](payload) == _json_envelope(payload)
