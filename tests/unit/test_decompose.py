"""Subscription decomposition: which originators' data a global filter can select.

The property tests build a realistic device (the simulator's data, with some links down and a
Master-only YANG library), give its list entries random owners, and check the decomposition
against the ground truth: the filter applied to each generator's share of the data.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from mso.device_sim import CardSpec, DeviceSimulator
from mso.filters import FilterError, KeyIndex, subtree_filter, xpath_filter
from mso.namespaces import HARDWARE, INTERFACES, YANG_LIBRARY, qn
from mso.subscription_model import FilterSpec
from mso.xml_parsing import parse_xml
from server.decompose import decompose, involved_entries
from mso.generators import MASTER_GENERATOR
from server.resource_location import Resource, ResourceLocationTable

IF_LIST = (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface"))
HW_LIST = (qn(HARDWARE, "hardware"), qn(HARDWARE, "component"))
KEYS: KeyIndex = {IF_LIST: (qn(INTERFACES, "name"),), HW_LIST: (qn(HARDWARE, "name"),)}
PREFIXES = (("if", INTERFACES), ("hw", HARDWARE), ("yl", YANG_LIBRARY))
BOOT = 1_700_000_000.0
GENERATORS = ("1", "2", "3", "4", "5")


def xpath(expression: str) -> FilterSpec:
    return FilterSpec("xpath", xpath=expression, namespaces=PREFIXES)


def subtree(*children: str) -> FilterSpec:
    return FilterSpec("subtree", subtree_xml="".join(children).encode())


def interface(name: str) -> Resource:
    return (IF_LIST, (name,))


def component(name: str) -> Resource:
    return (HW_LIST, (name,))


# --------------------------------------------------------------------------------------
# Ground truth: the device's data, split by owner, filtered share by share
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    data: etree._Element  # never modified: shares and filter results are copies
    interfaces: tuple[str, ...]
    components: tuple[str, ...]
    main_board: frozenset[str]  # names of the Master's own entries: chassis, main board, mgmt0


@lru_cache(maxsize=None)
def device(card_ports: tuple[int, ...]) -> Device:
    """The main board plus line cards in slots 2.. with these port counts, at a fixed time,
    with every third link down and a YANG library only the Master has."""
    cards = [CardSpec(0, 0)] + [CardSpec(slot, ports) for slot, ports in enumerate(card_ports, start=2)]
    simulator = DeviceSimulator(cards, boot_time=BOOT, clock=lambda: BOOT)
    data = etree.Element("data")
    data.extend(simulator.operational(BOOT + 3600))
    for position, status in enumerate(data.iter(qn(INTERFACES, "oper-status"))):
        status.text = "down" if position % 3 == 1 else "up"
    library = etree.SubElement(data, qn(YANG_LIBRARY, "yang-library"))
    etree.SubElement(library, qn(YANG_LIBRARY, "content-id")).text = "42"
    main_board = DeviceSimulator([CardSpec(0, 0)], boot_time=BOOT, clock=lambda: BOOT)
    return Device(data, tuple(simulator.interface_names()), tuple(simulator.component_names()),
                  frozenset(main_board.interface_names() + main_board.component_names()))


def share(data: etree._Element, table: ResourceLocationTable, generator: str) -> etree._Element:
    """``generator``'s data: its table entries; the Master's also everything outside entries.
    Containers left empty are dropped, as they do not exist in YANG data."""
    part = copy.deepcopy(data)
    containers = {list_path[:depth] for list_path in table.list_paths() for depth in range(1, len(list_path))}
    _keep_owned(part, (), generator, table, containers)
    return part


def _keep_owned(node: etree._Element, path: tuple[str, ...], generator: str,
                table: ResourceLocationTable, containers: set[tuple[str, ...]]) -> None:
    for child in list(node):
        child_path = path + (child.tag,)
        if child_path in table.list_paths():
            keep = (table.owner((child_path, entry_keys(child, child_path))) or MASTER_GENERATOR) == generator
        elif child_path in containers:
            _keep_owned(child, child_path, generator, table, containers)
            keep = len(child) > 0
        else:
            keep = generator == MASTER_GENERATOR
        if not keep:
            node.remove(child)


def entry_keys(entry: etree._Element, list_path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(entry.findtext(tag) or "" for tag in KEYS[list_path])


def apply(selection: FilterSpec, data: etree._Element) -> etree._Element:
    if selection.kind == "subtree":
        return subtree_filter(data, list(parse_xml(b"<f>" + selection.subtree_xml + b"</f>")), KEYS)
    return xpath_filter(data, selection.xpath, dict(selection.namespaces), KEYS)


def leaves(data: etree._Element) -> set[tuple[tuple[object, ...], str]]:
    """Every leaf as (path with list keys, value): the canonical form of a data tree."""
    return set(_leaves(data, (), ()))


def _leaves(node: etree._Element, schema_path: tuple[str, ...],
            path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    for child in node:
        child_schema = schema_path + (child.tag,)
        step = (child.tag, entry_keys(child, child_schema)) if child_schema in KEYS else child.tag
        if len(child):
            yield from _leaves(child, child_schema, path + (step,))
        else:
            yield path + (step,), (child.text or "").strip()


def entries_in(data: etree._Element) -> set[Resource]:
    return {(list_path, entry_keys(entry, list_path))
            for list_path in KEYS for entry in data.iterfind("/".join(list_path))}


# --------------------------------------------------------------------------------------
# Random scenarios
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    device: Device
    table: ResourceLocationTable
    selection: FilterSpec
    exact: bool  # the filter restricts entries by key only, so the answer must be exact

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        owners = {g: sorted(k for _, k in self.table.owned_by(g)) for g in sorted(self.table.generators())}
        return f"Scenario({self.selection!r}, exact={self.exact}, owners={owners})"


Piece = tuple[str, bool]  # filter text, whether it restricts entries by key only


@st.composite
def tables(draw: st.DrawFn, dev: Device) -> ResourceLocationTable:
    """Random owners; the Master keeps its own board's entries (it always has mgmt0, the
    chassis and last-change, so even whole-container filters are exact on this device)."""
    resources = [interface(name) for name in dev.interfaces] + [component(name) for name in dev.components]
    owners = draw(st.lists(st.sampled_from(GENERATORS), min_size=len(resources), max_size=len(resources)))
    table = ResourceLocationTable()
    for resource, owner in zip(resources, owners):
        table.assign(MASTER_GENERATOR if resource[1][0] in dev.main_board else owner, [resource])
    return table


def names(existing: tuple[str, ...], *missing: str) -> st.SearchStrategy[str]:
    return st.sampled_from(existing + missing)


@st.composite
def xpath_key_condition(draw: st.DrawFn, key: str, values: st.SearchStrategy[str]) -> str:
    atoms = [f"{key}='{value}'" for value in draw(st.lists(values, min_size=1, max_size=3))]
    form = draw(st.sampled_from(["or", "and", "mixed"]))
    if form == "mixed" and len(atoms) == 3:
        return f"({atoms[0]} or {atoms[1]}) and {atoms[2]}"
    return f" {'and' if form == 'and' else 'or'} ".join(atoms)


@lru_cache(maxsize=None)
def xpath_pieces(card_ports: tuple[int, ...]) -> st.SearchStrategy[Piece]:
    dev = device(card_ports)
    if_names = names(dev.interfaces, "9/0/9", "2/0/99")
    hw_names = names(dev.components, "line-card-9")
    if_list, hw_list = "/if:interfaces/if:interface", "/hw:hardware/hw:component"
    if_leaf = st.sampled_from(["", "/if:name", "/if:oper-status", "/if:statistics/if:in-octets"])
    hw_leaf = st.sampled_from(["", "/hw:name", "/hw:class", "/hw:serial-num"])
    exact = st.one_of(
        st.builds(lambda c, leaf: f"{if_list}[{c}]{leaf}", xpath_key_condition("if:name", if_names), if_leaf),
        st.builds(lambda c, leaf: f"{hw_list}[{c}]{leaf}", xpath_key_condition("hw:name", hw_names), hw_leaf),
        st.sampled_from([if_list, hw_list, "/if:interfaces", "/hw:hardware", "/hw:hardware/hw:last-change",
                         "/yl:yang-library", f"{hw_list}/hw:name"]),
    )
    loose = st.one_of(
        st.sampled_from([f"{if_list}[if:oper-status='up']", f"{if_list}[if:oper-status='down']/if:name",
                         f"{hw_list}[hw:class='ianahw:sensor']", f"{hw_list}[hw:parent='line-card-2']",
                         "//if:name", "//hw:name", "/if:interfaces/*", "/hw:hardware/*/hw:name",
                         "/if:interfaces//if:in-octets", "/*"]),
        st.builds(lambda name: f"{if_list}[if:name='{name}'][if:oper-status='up']", if_names),
        st.builds(lambda name: f"{if_list}[if:oper-status='down' or if:name='{name}']", if_names),
        st.builds(lambda name: f"{hw_list}[hw:name='{name}' and hw:is-fru='true']", hw_names),
    )
    return st.one_of(st.tuples(exact, st.just(True)), st.tuples(loose, st.just(False)))


@lru_cache(maxsize=None)
def subtree_pieces(card_ports: tuple[int, ...]) -> st.SearchStrategy[Piece]:
    dev = device(card_ports)
    if_names = names(dev.interfaces, "9/0/9", "2/0/99")
    hw_names = names(dev.components, "line-card-9")
    if_below = st.sampled_from(["", "<oper-status/>", "<statistics><in-octets/></statistics>", "<name/>"])
    hw_below = st.sampled_from(["", "<serial-num/>", "<class/><parent-rel-pos/>"])
    if_key = st.builds(lambda n, below: f"<interface><name>{n}</name>{below}</interface>", if_names, if_below)
    hw_key = st.builds(lambda n, below: f"<component><name>{n}</name>{below}</component>", hw_names, hw_below)
    interfaces = f'<interfaces xmlns="{INTERFACES}">{{}}</interfaces>'
    hardware = f'<hardware xmlns="{HARDWARE}">{{}}</hardware>'
    exact = st.one_of(
        st.builds(lambda es: interfaces.format("".join(es)), st.lists(if_key, min_size=1, max_size=3)),
        st.builds(lambda es: hardware.format("".join(es)), st.lists(hw_key, min_size=1, max_size=3)),
        st.sampled_from([interfaces.format(""), hardware.format(""), hardware.format("<last-change/>"),
                         interfaces.format("<interface/>"), hardware.format("<component><name/></component>"),
                         f'<yang-library xmlns="{YANG_LIBRARY}"/>']),
    )
    loose = st.one_of(
        st.sampled_from([interfaces.format("<interface><oper-status>up</oper-status></interface>"),
                         interfaces.format("<interface><oper-status>down</oper-status><name/></interface>"),
                         hardware.format("<component><class>ianahw:sensor</class></component>"),
                         hardware.format("<component><parent>line-card-2</parent><name/></component>")]),
        st.builds(lambda n: interfaces.format(f"<interface><name>{n}</name><oper-status>down</oper-status>"
                                              "</interface>"), if_names),
    )
    return st.one_of(st.tuples(exact, st.just(True)), st.tuples(loose, st.just(False)))


DEVICES = st.sampled_from([(3,), (2, 3), (1, 2, 4)])


@st.composite
def scenarios(draw: st.DrawFn, kind: str) -> Scenario:
    card_ports = draw(DEVICES)
    dev = device(card_ports)
    table = draw(tables(dev))
    pieces = draw(st.lists((xpath_pieces if kind == "xpath" else subtree_pieces)(card_ports), min_size=1, max_size=3))
    exact = all(piece_exact for _, piece_exact in pieces)
    if kind == "xpath":
        return Scenario(dev, table, xpath(" | ".join(text for text, _ in pieces)), exact)
    return Scenario(dev, table, subtree(*(text for text, _ in pieces)), exact)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def check_against_shares(scenario: Scenario) -> None:
    table, selection = scenario.table, scenario.selection
    result = decompose(selection, table, KEYS)
    involved = involved_entries(selection, table, KEYS)
    filtered = {generator: apply(selection, share(scenario.device.data, table, generator))
                for generator in table.generators() | {MASTER_GENERATOR}}
    producing = {generator for generator, part in filtered.items() if len(part)}

    assert result == sorted(set(result), key=int)
    assert set(involved) == set(result)
    # Coverage: every generator with something to send is asked to send it.
    assert producing <= set(result)
    # No overlap: every selected entry comes from exactly one generator.
    produced = [entries_in(part) for part in filtered.values()]
    assert sum(len(entries) for entries in produced) == len(set().union(*produced))
    # Union: together, the component subscriptions produce exactly the global result.
    assert set().union(*(leaves(filtered[g]) for g in result)) == leaves(apply(selection, scenario.device.data))
    for generator in result:
        assert entries_in(filtered[generator]) <= involved[generator]
    if scenario.exact:
        # Precision: no generator is asked for a component subscription with nothing in it.
        assert set(result) == producing
        for generator in result:
            assert entries_in(filtered[generator]) == involved[generator]


@settings(max_examples=200, deadline=None)
@given(scenarios("subtree"))
def test_subtree_filters_against_filtered_shares(scenario: Scenario) -> None:
    check_against_shares(scenario)


@settings(max_examples=200, deadline=None)
@given(scenarios("xpath"))
def test_xpath_filters_against_filtered_shares(scenario: Scenario) -> None:
    check_against_shares(scenario)


# --------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------


@pytest.fixture
def table() -> ResourceLocationTable:
    """The Master owns mgmt0 and the chassis; cards 2 and 10 their ports and boards."""
    rlt = ResourceLocationTable()
    rlt.assign(MASTER_GENERATOR, [interface("mgmt0"), component("chassis"), component("main-board")])
    rlt.assign("2", [interface("2/0/7"), interface("2/0/8"), component("line-card-2")])
    rlt.assign("10", [interface("10/0/1"), component("line-card-10")])
    return rlt


def test_no_filter_is_every_generator_and_the_master(table: ResourceLocationTable) -> None:
    table.release(MASTER_GENERATOR)
    assert decompose(None, table, KEYS) == ["1", "2", "10"]


@pytest.mark.parametrize("selection, expected", [
    (subtree(f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name></interface></interfaces>'), ["2"]),
    (xpath("/if:interfaces/if:interface[if:name='2/0/7']"), ["2"]),
    (xpath("/if:interfaces/if:interface[if:name='2/0/7']/if:statistics/if:in-octets"), ["2"]),
    (xpath("/if:interfaces/if:interface[if:name='2/0/7' or if:name='10/0/1']"), ["2", "10"]),
    (xpath("/if:interfaces/if:interface[(if:name='2/0/7' or if:name='10/0/1') and if:name='10/0/1']"), ["10"]),
    (xpath("/if:interfaces/if:interface[if:name='10/0/1'] | /hw:hardware/hw:component[hw:name='chassis']"),
     ["1", "10"]),
    (subtree(f'<hardware xmlns="{HARDWARE}"/>'), ["1", "2", "10"]),
    (subtree(f'<hardware xmlns="{HARDWARE}"><component><name>line-card-2</name></component></hardware>'), ["2"]),
    (subtree(f'<hardware xmlns="{HARDWARE}"><last-change/></hardware>'), ["1"]),
    (xpath("/hw:hardware/hw:last-change"), ["1"]),
    (subtree(f'<yang-library xmlns="{YANG_LIBRARY}"/>'), ["1"]),
    (xpath("/yl:yang-library/yl:content-id"), ["1"]),
    (xpath("/yl:yang-library | /if:interfaces/if:interface[if:name='2/0/7']"), ["1", "2"]),
])
def test_key_filters_are_exact(table: ResourceLocationTable, selection: FilterSpec, expected: list[str]) -> None:
    assert decompose(selection, table, KEYS) == expected


@pytest.mark.parametrize("selection", [
    subtree(f'<interfaces xmlns="{INTERFACES}"><interface><name>9/0/9</name></interface></interfaces>'),
    subtree(),
    xpath("/if:interfaces/if:interface[if:name='9/0/9']"),
    xpath("/if:interfaces/if:interface[if:name='2/0/7' and if:name='2/0/8']"),
    xpath("/if:interfaces/if:interface[(if:name='2/0/7' or if:name='2/0/8') and if:name='10/0/1']"),
    xpath("/if:interfaces/if:interface[if:name='2/0/7'][if:name='2/0/8']/if:name"),
])
def test_a_filter_that_selects_nothing_involves_nobody(table: ResourceLocationTable, selection: FilterSpec) -> None:
    assert decompose(selection, table, KEYS) == []
    assert involved_entries(selection, table, KEYS) == {}


def test_the_master_is_in_only_where_it_may_own_data(table: ResourceLocationTable) -> None:
    table.release(MASTER_GENERATOR, [interface("mgmt0")])
    assert decompose(xpath("/if:interfaces/if:interface[if:oper-status='up']"), table, KEYS) == ["2", "10"]
    assert decompose(xpath("/if:interfaces/if:interface"), table, KEYS) == ["2", "10"]
    # A filter that selects the container itself may select the Master's leaves beside the list.
    assert decompose(xpath("/if:interfaces"), table, KEYS) == ["1", "2", "10"]
    assert decompose(xpath("/if:interfaces//if:name"), table, KEYS) == ["1", "2", "10"]
    assert decompose(subtree(f'<interfaces xmlns="{INTERFACES}"/>'), table, KEYS) == ["1", "2", "10"]
    table.move(interface("10/0/1"), "2")
    assert decompose(xpath("/if:interfaces/if:interface"), table, KEYS) == ["2"]


@pytest.mark.parametrize("expression, expected", [
    ("/if:interfaces/if:interface[if:oper-status='up']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name='2/0/7' or if:oper-status='up']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name='2/0/7' and if:oper-status='up']", ["2"]),
    ("/if:interfaces/if:interface[if:oper-status='up'][if:name='2/0/7']", ["2"]),
    ("/if:interfaces/if:interface[1][if:name='10/0/1']", ["10"]),
    ("/if:interfaces/if:interface[if:name='10/0/1'][last()]", ["10"]),
    ("/if:interfaces/if:interface[not(if:name='mgmt0')]", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name!='mgmt0']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[starts-with(if:name, '2/')]", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name=1]", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[name='2/0/7']", ["1", "2", "10"]),
    ("/hw:hardware/hw:component[hw:name='line-card-2']/..", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']/parent::*/if:interface", ["1", "2", "10"]),
    ("/hw:hardware/*[hw:name='line-card-2']", ["1", "2", "10"]),
    ("/hw:hardware[hw:last-change='x']/hw:component[hw:name='line-card-10']", ["10"]),
    ("//if:interface[if:name='2/0/7']", ["1", "2", "10"]),
    ("(/if:interfaces/if:interface)[1]", ["1", "2", "10"]),
    ("/", ["1", "2", "10"]),
    ("/*", ["1", "2", "10"]),
    ("if:interfaces/if:interface[if:name='2/0/7']", ["2"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']/text()", ["2"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']/@foo", ["2"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']//if:in-octets", ["2"]),
    ("/interfaces/interface[name='2/0/7']", ["1"]),
])
def test_xpath_is_conservative_where_it_cannot_know(
    table: ResourceLocationTable, expression: str, expected: list[str]
) -> None:
    assert decompose(xpath(expression), table, KEYS) == expected


@pytest.mark.parametrize("children, expected", [
    (f'<interfaces xmlns="{INTERFACES}"><interface><oper-status>up</oper-status></interface></interfaces>',
     ["1", "2", "10"]),
    (f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name><oper-status>up</oper-status>'
     "</interface></interfaces>", ["2"]),
    (f'<interfaces xmlns="{INTERFACES}"><interface><name/></interface></interfaces>', ["1", "2", "10"]),
    # A filter node in no namespace matches its local name in any module, the Master's included.
    ('<interfaces xmlns=""><interface><name>2/0/7</name></interface></interfaces>', ["1", "2"]),
    (f'<hardware xmlns="{HARDWARE}"><component><name>line-card-10</name></component>'
     "<last-change>x</last-change></hardware>", ["1", "10"]),
])
def test_subtree_is_conservative_where_it_cannot_know(
    table: ResourceLocationTable, children: str, expected: list[str]
) -> None:
    assert decompose(subtree(children), table, KEYS) == expected


def test_involved_entries(table: ResourceLocationTable) -> None:
    keyed = xpath("/if:interfaces/if:interface[if:name='2/0/7' or if:name='10/0/1' or if:name='9/9/9']")
    assert involved_entries(keyed, table, KEYS) == {"2": {interface("2/0/7")}, "10": {interface("10/0/1")}}
    loose = xpath("/if:interfaces/if:interface[if:oper-status='up'] | /hw:hardware/hw:last-change")
    assert involved_entries(loose, table, KEYS) == {
        "1": {interface("mgmt0")}, "2": {interface("2/0/7"), interface("2/0/8")}, "10": {interface("10/0/1")},
    }
    assert involved_entries(xpath("/yl:yang-library"), table, KEYS) == {"1": set()}
    everything = involved_entries(None, table, KEYS)
    assert everything == {generator: set(table.owned_by(generator)) for generator in table.generators()}


def test_a_table_change_is_seen_at_once(table: ResourceLocationTable) -> None:
    selection = xpath("/if:interfaces/if:interface[if:name='2/0/8']")
    assert decompose(selection, table, KEYS) == ["2"]
    table.move(interface("2/0/8"), "10")
    assert decompose(selection, table, KEYS) == ["10"]
    table.release("10")
    assert decompose(selection, table, KEYS) == []
    table.assign("3", [interface("2/0/8")])
    assert decompose(None, table, KEYS) == ["1", "2", "3"]


def test_a_new_list_in_the_table_is_seen_at_once() -> None:
    table = ResourceLocationTable()
    table.assign("2", [interface("2/0/7")])
    selection = subtree(f'<hardware xmlns="{HARDWARE}"><component><name>line-card-3</name></component></hardware>')
    assert decompose(selection, table, KEYS) == ["1"]
    table.assign("3", [component("line-card-3")])
    assert decompose(selection, table, KEYS) == ["3"]


def test_generator_ids_sort_numerically(table: ResourceLocationTable) -> None:
    table.assign("9", [interface("9/0/0")])
    assert decompose(xpath("/if:interfaces/if:interface[if:name!='']"), table, KEYS) == ["1", "2", "9", "10"]


def test_a_list_without_known_keys_is_taken_whole(table: ResourceLocationTable) -> None:
    no_keys = {IF_LIST: KEYS[IF_LIST]}
    assert decompose(xpath("/hw:hardware/hw:component[hw:name='line-card-2']"), table, no_keys) == ["1", "2", "10"]
    assert decompose(subtree(f'<hardware xmlns="{HARDWARE}"><component><name>line-card-2</name></component>'
                             "</hardware>"), table, no_keys) == ["1", "2", "10"]
    assert decompose(subtree(f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name></interface>'
                             "</interfaces>"), table, no_keys) == ["2"]


ROUTES = "urn:example:routes"
ROUTE_LIST = (qn(ROUTES, "routing"), qn(ROUTES, "route"))
NEXT_HOP_LIST = ROUTE_LIST + (qn(ROUTES, "next-hop"),)
ROUTE_KEYS: KeyIndex = {ROUTE_LIST: (qn(ROUTES, "table"), qn(ROUTES, "prefix")),
                        NEXT_HOP_LIST: (qn(ROUTES, "address"),)}


def route_xpath(expression: str) -> FilterSpec:
    return FilterSpec("xpath", xpath=expression, namespaces=(("r", ROUTES),))


@pytest.fixture
def routes() -> ResourceLocationTable:
    rlt = ResourceLocationTable()
    rlt.assign("2", [(ROUTE_LIST, ("main", "10.0.0.0/8")), (ROUTE_LIST, ("main", "10.2.0.0/16"))])
    rlt.assign("3", [(ROUTE_LIST, ("vpn", "10.0.0.0/8"))])
    return rlt


@pytest.mark.parametrize("condition, expected", [
    ("r:table='main' and r:prefix='10.0.0.0/8'", ["2"]),
    ("r:prefix='10.0.0.0/8' and r:table='vpn'", ["3"]),
    ("r:prefix='10.2.0.0/16'", ["2"]),
    ("r:table='vpn' or r:prefix='10.2.0.0/16'", ["2", "3"]),
    ("r:table='blue'", []),
    ("r:table='main' and r:metric='5'", ["2"]),
])
def test_lists_with_several_keys(routes: ResourceLocationTable, condition: str, expected: list[str]) -> None:
    assert decompose(route_xpath(f"/r:routing/r:route[{condition}]/r:metric"), routes, ROUTE_KEYS) == expected


def test_a_selected_entry_brings_the_table_lists_inside_it(routes: ResourceLocationTable) -> None:
    routes.assign("4", [(NEXT_HOP_LIST, ("192.0.2.1",))])
    selected = route_xpath("/r:routing/r:route[r:table='main' and r:prefix='10.0.0.0/8']")
    assert decompose(selected, routes, ROUTE_KEYS) == ["2", "4"]
    assert involved_entries(selected, routes, ROUTE_KEYS) == {
        "2": {(ROUTE_LIST, ("main", "10.0.0.0/8"))}, "4": {(NEXT_HOP_LIST, ("192.0.2.1",))},
    }
    assert decompose(route_xpath("/r:routing/r:route[r:table='blue']"), routes, ROUTE_KEYS) == []


@pytest.mark.parametrize("selection", [
    xpath("/if:interfaces/if:interface[if:name='2/0/7'"),
    xpath("/nope:interfaces"),
    xpath("count(/if:interfaces/if:interface)"),
    subtree("<interfaces><interface>"),
])
def test_filters_that_cannot_run_are_refused(table: ResourceLocationTable, selection: FilterSpec) -> None:
    with pytest.raises(FilterError):
        decompose(selection, table, KEYS)


def test_an_unknown_filter_kind_is_refused(table: ResourceLocationTable) -> None:
    with pytest.raises(ValueError, match="regex"):
        decompose(FilterSpec("regex"), table, KEYS)
