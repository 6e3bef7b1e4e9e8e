"""A polling job's share of a wider collection's records, cut by its own dataSelector
(``collector.bus_selection``): on hand-written RFC 7951 records (list entries named by key,
nested leaves, entries that are not there, or-joined and and-joined tests, members of another
module), the stage that cuts before it formats or summarises, the selection's wire form, and
the cut held to the XPath filter itself: cutting a collection's data by a request gives what
the request's own filter gives on the device's data."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from collector.bus_selection import SelectionCut
from collector.bus_stage import ConsumerStage
from collector.merge import list_keys
from mso import filters
from mso.bus_instructions import DataSelection, JobInstructions, SelectionStep, SelectionTest
from mso.device_sim import CardSpec, DeviceSimulator
from mso.namespaces import INTERFACES, NETCONF_BASE, qn
from mso.schema import Schema
from mso.subscription_model import FilterSpec
from mso.yang_json import YangJson
from server.nrm import selectors

IP = "urn:ietf:params:xml:ns:yang:ietf-ip"
MODULES = {INTERFACES: "ietf-interfaces", IP: "ietf-ip"}
KEYS = {("ietf-interfaces:interfaces", "interface"): ("name",),
        ("ietf-interfaces:interfaces", "interface", "ietf-ip:ipv4", "address"): ("ip",)}


def step(node: str, namespace: str = INTERFACES, /, **tests: tuple[str, ...]) -> SelectionStep:
    return SelectionStep(namespace, node, tuple(SelectionTest(namespace, leaf, frozenset(values))
                                                for leaf, values in tests.items()))


def cut(*steps: SelectionStep) -> SelectionCut:
    return SelectionCut(DataSelection("(as written)", steps), MODULES, KEYS)


def port(name: str, **more) -> dict:
    return {"name": name, "type": "iana-if-type:ethernetCsmacd", "enabled": name != "D", "oper-status": "up",
            "statistics": {"in-octets": f"{ord(name)}00", "out-octets": "7"}, **more}


DATA = {"ietf-interfaces:interfaces": {"interface": [port("A"), port("B"), port("C"), port("D")]},
        "ietf-hardware:hardware": {"component": [{"name": "chassis"}]}}


def test_entries_named_by_key_are_kept_whole_and_the_others_left_out() -> None:
    kept = cut(step("interfaces"), step("interface", name=("A", "B"))).cut(DATA)
    assert kept == {"ietf-interfaces:interfaces": {"interface": [port("A"), port("B")]}}


def test_a_nested_leaf_is_kept_with_its_ancestors_and_each_entry_with_its_keys() -> None:
    kept = cut(step("interfaces"), step("interface", name=("B", "C")), step("statistics"), step("in-octets")).cut(DATA)
    assert kept == {"ietf-interfaces:interfaces": {"interface": [
        {"name": "B", "statistics": {"in-octets": "6600"}}, {"name": "C", "statistics": {"in-octets": "6700"}}]}}
    every = cut(step("interfaces"), step("interface"), step("statistics"), step("out-octets")).cut(DATA)
    assert [entry["statistics"] for entry in every["ietf-interfaces:interfaces"]["interface"]] == [
        {"out-octets": "7"}] * 4


def test_what_the_record_does_not_have_is_not_in_the_cut() -> None:
    assert cut(step("interfaces"), step("interface", name=("Z",))).cut(DATA) == {}  # no such entry
    # an entry without the leaf the path goes on to is left out, not kept with its keys alone
    sparse = {"ietf-interfaces:interfaces": {"interface": [{"name": "A"}, port("B")]}}
    kept = cut(step("interfaces"), step("interface", name=("A", "B")), step("statistics")).cut(sparse)
    assert kept == {"ietf-interfaces:interfaces": {"interface": [{"name": "B", "statistics": port("B")["statistics"]}]}}
    assert cut(step("interfaces"), step("interface", name=("A",)), step("name"), step("deeper")).cut(DATA) == {}
    assert list(cut(step("interfaces")).cut(DATA)) == ["ietf-interfaces:interfaces"]  # not the hardware


def test_tests_on_one_step_are_all_needed_and_each_allows_any_of_its_values() -> None:
    both = SelectionStep(INTERFACES, "interface", (SelectionTest(INTERFACES, "name", frozenset({"A", "C", "D"})),
                                                   SelectionTest(INTERFACES, "enabled", frozenset({"true"}))))
    kept = cut(step("interfaces"), both).cut(DATA)
    assert [entry["name"] for entry in kept["ietf-interfaces:interfaces"]["interface"]] == ["A", "C"]  # D: disabled
    contradiction = SelectionStep(INTERFACES, "interface", (SelectionTest(INTERFACES, "name", frozenset()),))
    assert cut(step("interfaces"), contradiction).cut(DATA) == {}  # [name='A' and name='B']


def test_values_compare_by_their_text_and_a_leaf_list_by_any_of_its_values() -> None:
    numbers = {"ietf-interfaces:interfaces": {"interface": [
        {"name": "A", "mtu": 1500, "up": True, "flag": [None], "tags": ["x", "y"]},
        {"name": "B", "mtu": 9000, "up": False, "tags": ["z"]}]}}

    def names(**tests: tuple[str, ...]) -> list[str]:
        kept = cut(step("interfaces"), step("interface", **tests)).cut(numbers)
        return [entry["name"] for entry in kept.get("ietf-interfaces:interfaces", {}).get("interface", [])]

    assert names(mtu=("1500",)) == ["A"] and names(up=("false",)) == ["B"] and names(flag=("",)) == ["A"]
    assert names(tags=("y",)) == ["A"] and names(tags=("q",)) == [] and names(missing=("x",)) == []


def test_a_member_of_another_module_is_named_with_its_module_and_its_lists_keys_are_kept() -> None:
    addresses = {"ietf-interfaces:interfaces": {"interface": [
        port("A", **{"ietf-ip:ipv4": {"mtu": 1400, "address": [{"ip": "10.0.0.1", "prefix-length": 24},
                                                                 {"ip": "10.0.0.2", "prefix-length": 24}]}}),
        port("B", **{"ietf-ip:ipv4": {"address": [{"ip": "10.0.1.1", "prefix-length": 16}]}})]}}
    kept = cut(step("interfaces"), step("interface"), step("ipv4", IP),
               step("address", IP, ip=("10.0.0.2", "10.0.1.1")), step("prefix-length", IP)).cut(addresses)
    assert kept == {"ietf-interfaces:interfaces": {"interface": [
        {"name": "A", "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.2", "prefix-length": 24}]}},
        {"name": "B", "ietf-ip:ipv4": {"address": [{"ip": "10.0.1.1", "prefix-length": 16}]}}]}}


def test_a_namespace_the_worker_does_not_know_is_refused_when_the_cut_is_made() -> None:
    with pytest.raises(ValueError, match="urn:example:unknown"):
        cut(step("interfaces"), step("thing", "urn:example:unknown"))


def test_only_periodic_records_are_cut_and_the_given_record_is_left_as_it_was() -> None:
    selection = cut(step("interfaces"), step("interface", name=("A",)))
    periodic = {"kind": "periodic", "time": "2026-12-01T00:00:00Z", "data": DATA}
    assert selection.record(periodic)["data"] == {"ietf-interfaces:interfaces": {"interface": [port("A")]}}
    assert periodic["data"] is DATA and len(DATA["ietf-interfaces:interfaces"]["interface"]) == 4
    state = {"kind": "state", "event": "ietf-subscribed-notifications:subscription-modified", "data": {"id": 1}}
    assert selection.record(state) is state


def test_the_stage_cuts_each_record_before_it_formats_or_summarises_it() -> None:
    selection = DataSelection("/if:interfaces/if:interface[if:name='B']",
                              (step("interfaces"), step("interface", name=("B",))))
    instructions = JobInstructions("j", "alice", "ports", selection=selection)
    assert JobInstructions.from_wire(instructions.to_wire()) == instructions  # as the bucket carries it
    stage = ConsumerStage(instructions, KEYS, MODULES)
    (delivery,) = stage.record({"kind": "periodic", "time": "2026-12-01T00:00:00Z", "data": DATA}, 0.0)
    ((notification,),) = [delivery["notifications"]]
    assert notification["data"] == {"ietf-interfaces:interfaces": {"interface": [port("B")]}}
    with pytest.raises(ValueError):
        ConsumerStage(instructions, KEYS)  # no modules to name the members by
    with pytest.raises(ValueError, match="list of values"):
        JobInstructions.from_wire({**instructions.to_wire(), "dataSelection": {"dataSelector": "x", "steps": [
            {"namespace": INTERFACES, "name": "interface", "tests": [{"namespace": INTERFACES, "name": "n",
                                                                      "values": "A"}]}]}})


# --- held to the XPath filter ----------------------------------------------------------------------

AT = 1_800_000_000.0
DEVICE = DeviceSimulator([CardSpec(0, 0), CardSpec(1, 3), CardSpec(2, 2)], seed=3, boot_time=AT - 86_400)
SCHEMA = Schema.load()
JSON = YangJson(SCHEMA)
NAMES = DEVICE.interface_names() + ["9/0/9"]  # one that does not exist
TAILS = ["", "/if:statistics", "/if:statistics/if:in-octets", "/if:oper-status", "/if:name"]
IF = (("if", INTERFACES),)


def filtered(expression: str) -> dict:
    data = etree.Element(qn(NETCONF_BASE, "data"))
    data.extend(DEVICE.operational(AT))
    result = filters.xpath_filter(data, expression, dict(IF), SCHEMA.key_index)
    return JSON.data_to_json(result)


def entries(names: list[str], extra: str = "") -> str:
    tests = " or ".join(f"if:name='{name}'" for name in names)
    return "/if:interfaces/if:interface" + (f"[{tests}]" if names else "") + extra


@settings(max_examples=60, deadline=None)
@given(wide=st.lists(st.sampled_from(NAMES), unique=True, max_size=4),
       narrow=st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=3),
       wide_tail=st.sampled_from(["", "/if:statistics"]), tail=st.sampled_from(TAILS),
       last_test=st.sampled_from(["", "[if:enabled='true']", "[if:oper-status='up']"]))
def test_cutting_a_collections_data_by_a_request_gives_what_the_requests_own_filter_gives(
        wide: list[str], narrow: list[str], wide_tail: str, tail: str, last_test: str) -> None:
    collection = entries(sorted(set(wide) | set(narrow)) if wide else [], wide_tail)
    request = entries(narrow, tail) + ("" if tail else last_test)  # a test on a leaf of the last step's entries
    read = selectors.read(FilterSpec("xpath", xpath=request, namespaces=IF))
    collected = selectors.read(FilterSpec("xpath", xpath=collection, namespaces=IF))
    if not selectors.contains(collected, read):
        return  # not one a collection serves
    assert selectors.cuttable(read, SCHEMA.key_index)
    modules = {module.namespace: module.name for module in SCHEMA.modules}
    told = JobInstructions("j", "alice", "t", selection=selectors.selection(read)).to_wire()  # as the bucket has it
    selection = JobInstructions.from_wire(json.loads(json.dumps(told))).selection
    assert selection is not None
    share = SelectionCut(selection, modules, list_keys(SCHEMA)).cut(filtered(collection))
    assert share == filtered(request)
