"""Records as ietf-telemetry-message messages: built from the modules, checked against them
(libyang, member by member) and compared field by field with the draft's own example."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from lxml import etree

from collector.decoding import EventDecoder
from collector.device_description import DeviceDescription, describe_device
from collector.knowledge import Knowledge
from collector.merge import Merger, list_keys
from collector.outputs import Outputs
from collector.pipeline import Pipeline
from collector.reassembly import ON_CHANGE, PERIODIC, PUSH_CHANGE_UPDATE, PUSH_UPDATE, Reassembly, Record
from collector.record_formats import TELEMETRY_MESSAGE, TelemetryMessages, collector_manifest, module_revisions
from collector.service import Collector, CollectorConfig
from collector.stats import Stats
from collector.subscription_facts import (ENCODE_JSON, UDP_NOTIF, OnChange, Periodic, SubscriptionFacts,
                                          facts_from_json, facts_from_request, xpath_with_module_names)
from collector.telemetry_message import Provenance, build
from collector.telemetry_structure import MEMBER, MessageInvalid, MessageSchema, MessageShapeError
from mso.date_and_time import format_epoch
from mso.namespaces import HARDWARE, INTERFACES, NETCONF_BASE, YANG_LIBRARY
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding, SubscriptionSpec
from mso.subscription_model import Periodic as SpecPeriodic
from mso.subscription_runner import push_update
from mso.udp_notif import MediaType, encode_message
from mso.yang_json import YangJson
from server.subscription_state import state_notification

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ietf-drafts" / "examples"
T0 = 1_800_000_000.0
MESSAGE_MEMBERS = ("network-node-manifest", "telemetry-message-metadata", "data-collection-manifest", "payload")
SUBSCRIPTION = "ietf-yang-push-telemetry-message:yang-push-subscription"
COMPLETENESS = "mso-telemetry-completeness:completeness"
SUBSCRIBED = ("telemetry-message-metadata", SUBSCRIPTION)
# what the draft's example has that a YANG-Push collector of one device does not: operator labels,
# YANG semver versions of modules (the device's modules have none)
NOT_OURS = {("network-operator-metadata",), ("telemetry-message-metadata", SUBSCRIPTION, "module", "version")}
# what ours has that the example lacks: a sequence number, the trigger, and our completeness
OURS_ONLY = {("telemetry-message-metadata", "sequence-number"), ("telemetry-message-metadata", SUBSCRIPTION, "periodic"),
             ("telemetry-message-metadata", COMPLETENESS), ("payload", PUSH_UPDATE, "incomplete-update"),
             ("data-collection-manifest", "os-version"), ("data-collection-manifest", "os-type")}


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture(scope="module")
def structure(schema: Schema) -> MessageSchema:
    return MessageSchema(schema)


def example(name: str = "example.json") -> dict:
    return json.loads((EXAMPLES / name).read_text())


# ---- the modules ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["example.json", "example-with-envelope.json"])
def test_the_drafts_examples_pass_the_modules(structure, name):
    structure.validate(example(name))


@pytest.mark.parametrize(("path", "value", "error"), [
    (("telemetry-message-metadata", "export-port"), 70000, "out of type uint16"),
    (("telemetry-message-metadata", "session-protocol"), "kafka", "identity not found"),
    (("telemetry-message-metadata", "bogus"), 1, 'Node "bogus" not found'),
    (("telemetry-message-metadata", SUBSCRIPTION, "id"), "eighty-nine", "uint32"),
    (("telemetry-message-metadata", COMPLETENESS, "complete"), "yes", "boolean"),
    (("network-node-manifest", "name"), "", "length"),
])
def test_the_modules_refuse_a_broken_message(structure, path, value, error):
    message = example()
    node = message[MEMBER]
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = value
    with pytest.raises(MessageInvalid, match=error):
        structure.validate(message)


def test_a_missing_mandatory_leaf_is_refused(structure):
    message = example()
    del message[MEMBER]["telemetry-message-metadata"]["collection-timestamp"]
    with pytest.raises(MessageInvalid, match="collection-timestamp"):
        structure.validate(message)


def test_encode_qualifies_by_module_and_types_from_the_schema(structure):
    encoded = structure.encode({"telemetry-message-metadata": {
        "collection-timestamp": "2026-01-01T00:00:00Z", "export-port": 1,
        "yang-push-subscription": {"id": 7}, "completeness": {"present-generator": ("2",), "clashes": 0}},
        "network-operator-metadata": {"labels": [{"name": "n", "number-value": 5}]}})
    metadata = encoded[MEMBER]["telemetry-message-metadata"]
    assert metadata[SUBSCRIPTION] == {"id": 7}
    assert metadata[COMPLETENESS] == {"present-generator": ["2"], "clashes": 0}
    assert encoded[MEMBER]["network-operator-metadata"]["labels"][0]["number-value"] == "5"  # uint64: a string


@pytest.mark.parametrize("message", [
    {"telemetry-message-metadata": {"no-such-leaf": 1}},
    {"telemetry-message-metadata": {"export-port": "80"}},
    {"telemetry-message-metadata": {"completeness": {"complete": 1}}},
    {"telemetry-message-metadata": {"completeness": {"present-generator": "2"}}},
])
def test_encode_refuses_what_the_schema_does_not_allow(structure, message):
    with pytest.raises(MessageShapeError):
        structure.encode(message)


# ---- records through the receive path ------------------------------------------------------


def interfaces(generator: int) -> etree._Element:
    entries = "".join(f"<interface><name>{generator}/0/{port}</name><enabled>true</enabled></interface>"
                      for port in range(2))
    return etree.fromstring(f'<data xmlns="{NETCONF_BASE}"><interfaces xmlns="{INTERFACES}">{entries}'
                            "</interfaces></data>")


class Device:
    """The received side of a device: its Master's and cards' UDP-notif messages into a pipeline."""

    def __init__(self, schema: Schema) -> None:
        self.codec = EnvelopeCodec(schema)
        self.knowledge, self.stats, self.records = Knowledge(), Stats(), []
        self.reassembly = Reassembly(self.knowledge, Merger(list_keys(schema)))
        self.pipeline = Pipeline(EventDecoder(self.codec, YangJson(schema)), self.knowledge, self.reassembly,
                                 Outputs([self], self.stats.output_drops), self.stats)
        self.message_ids = {}

    name, takes_state = "test", False

    def offer(self, record: Record) -> bool:
        self.records.append(record)
        return True

    def send(self, generator: int, event: etree._Element, event_time: float) -> None:
        payload = self.codec.encode(event, event_time=format_epoch(event_time), sequence_number=0,
                                    encoding=Encoding.JSON)
        message_id = self.message_ids.get(generator, random.getrandbits(31))
        self.message_ids[generator] = message_id + 1
        for datagram in encode_message(payload, publisher_id=generator, message_id=message_id,
                                       media_type=MediaType.JSON):
            self.pipeline.datagram(datagram, ("192.0.2.10", 47000 + generator))


def started(subscription_id: int, generators: list[str]) -> etree._Element:
    spec = SubscriptionSpec(id=subscription_id, datastore="ds:operational", trigger=SpecPeriodic(100),
                            encoding=Encoding.JSON)
    return state_notification("subscription-started", subscription_id, spec=spec, generators=generators)


def messages_of(schema, structure, device: Device, **master) -> TelemetryMessages:
    return TelemetryMessages(structure, device.knowledge, device.stats, listen=lambda: ("192.0.2.1", 10001),
                             master=lambda: master.get("session"), revisions=module_revisions(schema),
                             manifest=collector_manifest(), wall_clock=lambda: T0 + 5, clock=lambda: 100.0)


def paths(tree: object, prefix: tuple = ()) -> dict[tuple, type]:
    """Every member path of a JSON tree -> the JSON type there (list entries under one path)."""
    found: dict[tuple, type] = {}
    if isinstance(tree, dict):
        for name, value in tree.items():
            found[(*prefix, name)] = type(value)
            found.update(paths(value, (*prefix, name)))
    elif isinstance(tree, list):
        for item in tree:
            found.update(paths(item, prefix))
    return found


def compare_with_the_drafts_example(message: dict, absent: set[tuple] = frozenset()) -> None:
    """Ours against the draft's example.json, field by field: the same members with the same JSON
    types, but for what one of us has and the other cannot (NOT_OURS, OURS_ONLY) and what this
    message has no source for (``absent``); the payloads' data below their notification differ
    by nature."""
    def comparable(tree):
        return {path: kind for path, kind in paths(tree[MEMBER]).items()
                if not (path[0] == "payload" and len(path) > 3)}
    ours, theirs = comparable(message), comparable(example())

    def covered(path, exempt):
        return any(path[:len(prefix)] == prefix for prefix in exempt)
    assert {p for p in theirs if p not in ours and not covered(p, NOT_OURS | absent)} == set()
    assert {p for p in ours if p not in theirs and not covered(p, OURS_ONLY)} == set()
    assert {p: (ours[p], theirs[p]) for p in ours.keys() & theirs.keys() if ours[p] is not theirs[p]} == {}


def test_a_merged_three_generator_record_is_a_valid_telemetry_message(schema, structure):
    device = Device(schema)
    device.send(1, started(5, ["1", "2", "3"]), T0 - 1)
    for generator in (3, 1, 2):
        device.send(generator, push_update(5, interfaces(generator), generator), T0 + 0.001 * generator)
    (record,) = device.records
    render = messages_of(schema, structure, device)
    message = render(record)

    structure.validate(message)
    compare_with_the_drafts_example(message, absent={
        ("network-node-manifest",), (*SUBSCRIBED, "yang-library-content-id"),  # no Master session: configured
        (*SUBSCRIBED, "xpath-filter"),  # the subscription selects the whole datastore
        ("telemetry-message-metadata", "export-port")})  # three generators, three ports
    body = message[MEMBER]
    metadata = body["telemetry-message-metadata"]
    assert metadata[COMPLETENESS] == {"slot": format_epoch(T0), "complete": True,
                                      "expected-generator": ["1", "2", "3"], "present-generator": ["1", "2", "3"]}
    assert metadata["node-export-timestamp"] == format_epoch(T0 + 0.003)  # the first piece's: generator 3
    assert metadata["session-protocol"] == "yang-push" and metadata["notification-event"] == "log"
    assert metadata["export-address"] == "192.0.2.10" and "export-port" not in metadata  # three ports
    assert (metadata["collection-address"], metadata["collection-port"]) == ("192.0.2.1", 10001)
    assert metadata["sequence-number"] == 1
    subscription = metadata[SUBSCRIPTION]
    assert subscription == {"id": 5, "datastore": "ietf-datastores:operational", "transport": UDP_NOTIF,
                            "encoding": ENCODE_JSON, "periodic": {"period": 100},
                            "module": [{"name": "ietf-interfaces", "revision": "2018-02-20"}]}
    update = body["payload"][PUSH_UPDATE]
    assert update["id"] == 5 and "incomplete-update" not in update
    assert [i["name"] for i in update["datastore-contents"]["ietf-interfaces:interfaces"]["interface"]] == [
        "1/0/0", "1/0/1", "2/0/0", "2/0/1", "3/0/0", "3/0/1"]
    assert body["data-collection-manifest"]["name"] == "mso collector"
    assert render(record)[MEMBER]["telemetry-message-metadata"]["sequence-number"] == 2


def test_an_incomplete_record_names_the_missing_generator(schema, structure):
    device = Device(schema)
    device.send(1, started(6, ["1", "2", "3"]), T0 - 1)
    for generator in (1, 2):
        device.send(generator, push_update(6, interfaces(generator), generator), T0)
    assert device.records == []
    device.records += device.reassembly.flush()
    (record,) = device.records
    message = messages_of(schema, structure, device)(record)

    structure.validate(message)
    completeness = message[MEMBER]["telemetry-message-metadata"][COMPLETENESS]
    assert completeness == {"slot": format_epoch(T0), "complete": False, "expected-generator": ["1", "2", "3"],
                            "present-generator": ["1", "2"], "missing-generator": ["3"]}
    assert message[MEMBER]["payload"][PUSH_UPDATE]["incomplete-update"] == [None]


def test_the_default_format_renders_records_as_today_and_loads_no_message_schema():
    default = Collector(CollectorConfig())
    assert default._render() == Record.to_json and default._messages is None
    assert isinstance(Collector(CollectorConfig(format=TELEMETRY_MESSAGE))._messages, MessageSchema)


# ---- the pure parts --------------------------------------------------------------------------


def record(**fields) -> Record:
    values = {"subscription_id": 9, "kind": PERIODIC, "time": T0, "event": PUSH_UPDATE,
                  "data": {"ietf-interfaces:interfaces": {"interface": [{"name": "2/0/1"}]}}, "present": ("1", "2"),
                  "expected": ("1", "2"), "last_arrival": 1.0}
    values.update(fields)
    return Record(**values)


def test_a_dynamic_subscriptions_shares_come_over_netconf_and_udp(structure):
    facts = facts_from_request("ds:operational", "/if:interfaces/if:interface", 50, None, None,
                               {"if": "ietf-interfaces", "ds": "ietf-datastores"})
    provenance = {"1": Provenance(("192.0.2.7", 830), ("192.0.2.1", 51000), None, "ietf-subscribed-notifications:encode-xml"),
                  "2": Provenance(("192.0.2.7", 40002), ("192.0.2.1", 10001), UDP_NOTIF, ENCODE_JSON)}
    device = DeviceDescription({"name": "MSO-9000", "vendor": "mso Networks"}, "abc", {"ietf-interfaces": "2018-02-20"})
    message = structure.encode(build(record(), facts=facts, provenance=provenance, device=device,
                                     collector={"name": "c"}, collected_at=T0 + 1, sequence_number=4, revisions={}))
    structure.validate(message)
    compare_with_the_drafts_example(message, absent={
        ("network-node-manifest", "software-version"),  # the simulated chassis has no software-rev
        ("telemetry-message-metadata", "export-port"), ("telemetry-message-metadata", "collection-port"),
        (*SUBSCRIBED, "transport"), (*SUBSCRIBED, "encoding"),  # the two shares differ in all four
        ("data-collection-manifest", "vendor"), ("data-collection-manifest", "software-version")})
    body = message[MEMBER]
    metadata = body["telemetry-message-metadata"]
    assert body["network-node-manifest"] == {"name": "MSO-9000", "vendor": "mso Networks"}
    assert metadata["export-address"] == "192.0.2.7" and "export-port" not in metadata
    assert metadata["collection-address"] == "192.0.2.1" and "collection-port" not in metadata
    subscription = metadata[SUBSCRIPTION]
    assert "transport" not in subscription and "encoding" not in subscription  # the shares differ
    assert subscription["xpath-filter"] == "/ietf-interfaces:interfaces/ietf-interfaces:interface"
    assert subscription["yang-library-content-id"] == "abc"


def test_a_pass_through_record_names_its_one_generator(structure):
    change = record(kind=ON_CHANGE, event=PUSH_CHANGE_UPDATE, present=("3",), expected=(),
                    data={"yang-patch": {"patch-id": "p", "edit": [
                        {"edit-id": "e", "operation": "replace", "target": "/ietf-interfaces:interfaces/interface=3%2F0%2F1",
                         "value": {"ietf-interfaces:interface": [{"name": "3/0/1", "enabled": False}]}}]}})
    facts = SubscriptionFacts(datastore="ietf-datastores:operational", trigger=OnChange(0, False))
    provenance = {"3": Provenance(("192.0.2.9", 40003), ("192.0.2.1", 10001), UDP_NOTIF, ENCODE_JSON)}
    message = structure.encode(build(change, facts=facts, provenance=provenance, device=None, collector={},
                                     collected_at=T0, sequence_number=1, revisions={"ietf-interfaces": "2018-02-20"}))
    structure.validate(message)
    metadata = message[MEMBER]["telemetry-message-metadata"]
    assert metadata[COMPLETENESS] == {"present-generator": ["3"]}
    assert (metadata["export-address"], metadata["export-port"]) == ("192.0.2.9", 40003)
    assert metadata[SUBSCRIPTION]["on-change"] == {"dampening-period": 0, "sync-on-start": False}
    assert metadata[SUBSCRIPTION]["module"] == [{"name": "ietf-interfaces", "revision": "2018-02-20"}]
    assert message[MEMBER]["payload"] == {PUSH_CHANGE_UPDATE: {"id": 9, "datastore-changes": change.data}}


def test_facts_from_a_state_notification_and_their_changes():
    started_body = {"id": 4, "ietf-yang-push:datastore": "ietf-datastores:operational",
                    "ietf-yang-push:datastore-xpath-filter": "/ietf-interfaces:interfaces",
                    "encoding": "ietf-subscribed-notifications:encode-cbor",
                    "ietf-yang-push:periodic": {"period": 500, "anchor-time": "2026-01-01T00:00:00Z"}}
    facts = facts_from_json(started_body)
    assert facts == SubscriptionFacts(datastore="ietf-datastores:operational",
                                      xpath_filter="/ietf-interfaces:interfaces",
                                      encoding="ietf-udp-notif-transport:encode-cbor",
                                      trigger=Periodic(500, "2026-01-01T00:00:00Z"))
    modified = facts_from_json({"id": 4, "ietf-yang-push:on-change": {"dampening-period": 10}}, facts)
    assert modified.trigger == OnChange(10, True) and modified.xpath_filter == "/ietf-interfaces:interfaces"


def test_xpath_prefixes_become_module_names_outside_literals():
    modules = {"if": "ietf-interfaces", "ietf-interfaces": "ietf-interfaces"}
    assert xpath_with_module_names("/if:interfaces/if:interface[if:name='if:x']/child::if:mtu", modules) == (
        "/ietf-interfaces:interfaces/ietf-interfaces:interface[ietf-interfaces:name='if:x']"
        "/child::ietf-interfaces:mtu")
    assert xpath_with_module_names("/x:y", modules) == "/x:y"


def test_the_device_describes_itself_with_its_chassis_and_yang_library():
    data = etree.fromstring(
        f'<data xmlns="{NETCONF_BASE}"><hardware xmlns="{HARDWARE}" xmlns:ianahw="urn:ietf:params:xml:ns:yang:iana-hardware">'
        "<component><name>slot-1</name><class>ianahw:module</class><parent>chassis</parent>"
        "<mfg-name>mso Networks</mfg-name><model-name>MSO-LC</model-name></component>"
        "<component><name>chassis</name><class>ianahw:chassis</class><mfg-name>mso Networks</mfg-name>"
        "<model-name>MSO-9000</model-name></component></hardware>"
        f'<yang-library xmlns="{YANG_LIBRARY}"><module-set><name>complete</name>'
        "<module><name>ietf-interfaces</name><revision>2018-02-20</revision></module></module-set>"
        "<content-id>42</content-id></yang-library></data>")
    assert describe_device(data) == DeviceDescription({"name": "MSO-9000", "vendor": "mso Networks"}, "42",
                                                      {"ietf-interfaces": "2018-02-20"})
