"""RFC 7951 JSON (and RFC 9254 CBOR) of YANG data and notification events, and back."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from mso import namespaces as ns
from mso.device_sim import CardSpec, DeviceSimulator
from mso.schema import Schema
from mso.yang_json import YangJson, YangJsonError

# A test-only module pair with one leaf per RFC 7951 type class; the augment changes namespace.
EXAMPLE_TYPES = """
module example-types {
  yang-version 1.1;
  namespace "urn:example:types";
  prefix ex;
  identity base-id;
  identity blue { base base-id; }
  container top {
    leaf small { type int32; }
    leaf big { type uint64; }
    leaf dec { type decimal64 { fraction-digits 2; } }
    leaf flag { type boolean; }
    leaf present { type empty; }
    leaf colour { type identityref { base base-id; } }
    leaf pointer { type instance-identifier; }
    leaf blob { type binary; }
    leaf flags { type bits { bit a; bit b; } }
    leaf mixed { type union { type int8; type enumeration { enum unbounded; } type string; } }
    leaf-list tags { type string; }
    list entry { key name; leaf name { type string; } leaf count { type uint8; } }
  }
}
"""
EXAMPLE_AUGMENT = """
module example-augment {
  yang-version 1.1;
  namespace "urn:example:augment";
  prefix exa;
  import example-types { prefix ex; }
  identity red { base ex:base-id; }
  augment "/ex:top" { leaf extra { type int16; } }
}
"""
EX, EXA = "urn:example:types", "urn:example:augment"

TOP_XML = f"""<top xmlns="{EX}" xmlns:exa="{EXA}">
  <small>-5</small><big>18446744073709551615</big><dec>3.14</dec><flag>true</flag><present/>
  <colour>exa:red</colour><pointer xmlns:ex="{EX}">/ex:top/ex:entry[ex:name='a/b']/ex:count</pointer>
  <blob>AAEC</blob><flags>a b</flags><mixed>7</mixed><tags>x</tags><tags>y</tags>
  <entry><name>a/b</name><count>1</count></entry><entry><name>c</name><count>2</count></entry>
  <exa:extra>3</exa:extra>
</top>"""

TOP_JSON = {
    "example-types:top": {
        "small": -5,
        "big": "18446744073709551615",
        "dec": "3.14",
        "flag": True,
        "present": [None],
        "colour": "example-augment:red",
        "pointer": "/example-types:top/entry[name='a/b']/count",
        "blob": "AAEC",
        "flags": "a b",
        "mixed": 7,
        "tags": ["x", "y"],
        "entry": [{"name": "a/b", "count": 1}, {"name": "c", "count": 2}],
        "example-augment:extra": 3,
    }
}

_PREFIXED = re.compile(r"([A-Za-z_][\w.-]*):(?=[A-Za-z_])")


def canonical(element: etree._Element) -> tuple:
    """Tag, text with prefixes resolved to namespaces, and children: equal for equal YANG data
    whatever the prefixes and wherever the namespace declarations sit."""
    nsmap = element.nsmap
    text = _PREFIXED.sub(lambda m: f"{{{nsmap[m[1]]}}}" if m[1] in nsmap else m[0], (element.text or "").strip())
    return element.tag, text, tuple(canonical(child) for child in element)


def xml(text: str) -> etree._Element:
    return etree.fromstring(text, etree.XMLParser(remove_blank_text=True))


@pytest.fixture(scope="module")
def codec() -> YangJson:
    return YangJson(Schema.load())


@pytest.fixture(scope="module")
def example_codec(tmp_path_factory: pytest.TempPathFactory) -> YangJson:
    directory: Path = tmp_path_factory.mktemp("yang")
    (directory / "example-types.yang").write_text(EXAMPLE_TYPES)
    (directory / "example-augment.yang").write_text(EXAMPLE_AUGMENT)
    return YangJson(Schema.load(extra_dirs=[directory]))


def test_every_type_class_encodes_as_rfc7951_says(example_codec: YangJson) -> None:
    assert example_codec.data_to_json([xml(TOP_XML)]) == TOP_JSON


def test_every_type_class_decodes_back(example_codec: YangJson) -> None:
    [top] = example_codec.json_to_data(TOP_JSON)
    assert canonical(top) == canonical(xml(TOP_XML))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7", 7), ("-128", -128), ("300", "300"), ("unbounded", "unbounded"), ("seven", "seven")],
)
def test_union_member_is_chosen_by_value(example_codec: YangJson, text: str, expected: object) -> None:
    top = xml(f'<top xmlns="{EX}"><mixed>{text}</mixed></top>')
    assert example_codec.data_to_json([top]) == {"example-types:top": {"mixed": expected}}


def test_value_outside_its_type_is_kept_as_a_string(example_codec: YangJson) -> None:
    top = xml(f'<top xmlns="{EX}"><small/><flag>yes</flag></top>')
    assert example_codec.data_to_json([top]) == {"example-types:top": {"small": "", "flag": "yes"}}


def test_cbor_scalars_follow_rfc9254(example_codec: YangJson) -> None:
    event = xml(f'<top xmlns="{EX}"><big>18446744073709551615</big><dec>3.14</dec><present/><blob>AAEC</blob></top>')
    # data has no CBOR entry point of its own: wrap it as anydata content of a push-update
    push = xml(f'<push-update xmlns="{ns.YANG_PUSH}"><id>1</id><datastore-contents/></push-update>')
    push[1].append(event)
    cbor = example_codec.event_to_cbor(push)
    top = cbor["ietf-yang-push:push-update"]["datastore-contents"]["example-types:top"]
    assert top == {"big": 18446744073709551615, "dec": Decimal("3.14"), "present": None, "blob": b"\x00\x01\x02"}
    assert canonical(example_codec.cbor_to_event(cbor)) == canonical(push)


def test_push_update_with_datastore_contents(codec: YangJson) -> None:
    event = xml(
        f"""<push-update xmlns="{ns.YANG_PUSH}"><id>7</id><datastore-contents>
          <interfaces xmlns="{ns.INTERFACES}"><interface><name>1/0/3</name>
            <type xmlns:ianaift="{ns.IANA_IF_TYPE}">ianaift:ethernetCsmacd</type>
            <enabled>false</enabled><statistics><in-octets>12</in-octets><in-errors>3</in-errors></statistics>
          </interface></interfaces></datastore-contents></push-update>"""
    )
    assert codec.event_to_json(event) == {
        "ietf-yang-push:push-update": {
            "id": 7,
            "datastore-contents": {
                "ietf-interfaces:interfaces": {
                    "interface": [
                        {
                            "name": "1/0/3",
                            "type": "iana-if-type:ethernetCsmacd",
                            "enabled": False,
                            "statistics": {"in-octets": "12", "in-errors": 3},
                        }
                    ]
                }
            },
        }
    }


PUSH_CHANGE_UPDATE = f"""<push-change-update xmlns="{ns.YANG_PUSH}"><id>89</id><datastore-changes><yang-patch>
  <patch-id>patch-1</patch-id>
  <edit><edit-id>edit-1</edit-id><operation>replace</operation>
    <target>/ietf-interfaces:interfaces/interface=1%2F0%2F3/enabled</target>
    <value><enabled xmlns="{ns.INTERFACES}">false</enabled></value></edit>
  <edit><edit-id>edit-2</edit-id><operation>create</operation>
    <target>/ietf-hardware:hardware</target>
    <value><hardware xmlns="{ns.HARDWARE}"><component><name>slot-9</name>
      <class xmlns:ianahw="{ns.IANA_HARDWARE}">ianahw:module</class><parent-rel-pos>9</parent-rel-pos>
    </component></hardware></value></edit>
</yang-patch></datastore-changes></push-change-update>"""


def test_push_change_update_values_are_typed_at_their_target(codec: YangJson) -> None:
    encoded = codec.event_to_json(xml(PUSH_CHANGE_UPDATE))
    assert encoded == {
        "ietf-yang-push:push-change-update": {
            "id": 89,
            "datastore-changes": {
                "yang-patch": {
                    "patch-id": "patch-1",
                    "edit": [
                        {
                            "edit-id": "edit-1",
                            "operation": "replace",
                            "target": "/ietf-interfaces:interfaces/interface=1%2F0%2F3/enabled",
                            "value": {"ietf-interfaces:enabled": False},
                        },
                        {
                            "edit-id": "edit-2",
                            "operation": "create",
                            "target": "/ietf-hardware:hardware",
                            "value": {
                                "ietf-hardware:hardware": {
                                    "component": [{"name": "slot-9", "class": "iana-hardware:module", "parent-rel-pos": 9}]
                                }
                            },
                        },
                    ],
                }
            },
        }
    }
    assert canonical(codec.json_to_event(encoded)) == canonical(xml(PUSH_CHANGE_UPDATE))


def test_subscription_started_augment_is_qualified(codec: YangJson) -> None:
    event = xml(
        f"""<subscription-started xmlns="{ns.SUBSCRIBED_NOTIFICATIONS}" xmlns:yp="{ns.YANG_PUSH}"
              xmlns:ds="{ns.DATASTORES}"><id>3</id><yp:datastore>ds:operational</yp:datastore>
            <yp:periodic><yp:period>500</yp:period></yp:periodic>
            <message-generator-id xmlns="{ns.MSO}">2</message-generator-id>
            <message-generator-id xmlns="{ns.MSO}">1</message-generator-id>
          </subscription-started>"""
    )
    encoded = codec.event_to_json(event)
    assert encoded == {
        "ietf-subscribed-notifications:subscription-started": {
            "id": 3,
            "ietf-yang-push:datastore": "ietf-datastores:operational",
            "ietf-yang-push:periodic": {"period": 500},
            "ietf-multiple-stream-originators:message-generator-id": ["2", "1"],
        }
    }
    assert canonical(codec.json_to_event(encoded)) == canonical(event)


def test_whole_simulated_device_round_trips(codec: YangJson) -> None:
    simulator = DeviceSimulator([CardSpec(0, 0), CardSpec(1, 4)])
    data = [simulator.interfaces(1_800_000_000.0), simulator.hardware(1_800_000_000.0)]
    encoded = codec.data_to_json(data)
    assert set(encoded) == {"ietf-interfaces:interfaces", "ietf-hardware:hardware"}
    assert [canonical(e) for e in codec.json_to_data(encoded)] == [canonical(e) for e in data]


def test_unknown_nodes_are_errors(codec: YangJson) -> None:
    with pytest.raises(YangJsonError, match="no schema node"):
        codec.data_to_json([xml('<nothing xmlns="urn:example:none"/>')])
    with pytest.raises(YangJsonError, match="no schema node"):
        codec.json_to_data({"ietf-interfaces:interfaces": {"nonsense": 1}})
    with pytest.raises(YangJsonError, match="must be an array"):
        codec.json_to_data({"ietf-interfaces:interfaces": {"interface": {"name": "x"}}})
