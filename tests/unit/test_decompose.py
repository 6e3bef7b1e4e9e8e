"""Subscription decomposition by example: which originators serve a filter, with what filter
each, and which filters the Master serves from the whole device (the properties are in
test_decompose_properties.py)."""

from __future__ import annotations

import pytest

from mso.filters import FilterError, KeyIndex
from mso.generators import MASTER_GENERATOR
from mso.namespaces import HARDWARE, INTERFACES, YANG_LIBRARY, qn
from mso.subscription_model import FilterSpec
from server.decompose import Decomposition, FilterUnsupported, check_filter, decompose
from server.resource_location import ResourceLocationTable
from tests.decomposition_model import KEYS, check_exact, component, device, interface, shares, subtree, xpath


def generators(selection: FilterSpec | None, table: ResourceLocationTable, keys: KeyIndex = KEYS) -> list[str]:
    return decompose(selection, table, keys).generators


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
    assert generators(None, table) == ["1", "2", "10"]


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
    assert generators(selection, table) == expected


@pytest.mark.parametrize("selection", [
    subtree(f'<interfaces xmlns="{INTERFACES}"><interface><name>9/0/9</name></interface></interfaces>'),
    subtree(),
    xpath("/if:interfaces/if:interface[if:name='9/0/9']"),
    xpath("/if:interfaces/if:interface[if:name='2/0/7' and if:name='2/0/8']"),
    xpath("/if:interfaces/if:interface[(if:name='2/0/7' or if:name='2/0/8') and if:name='10/0/1']"),
    xpath("/if:interfaces/if:interface[if:name='2/0/7'][if:name='2/0/8']/if:name"),
])
def test_a_filter_that_selects_nothing_involves_nobody(table: ResourceLocationTable, selection: FilterSpec) -> None:
    assert decompose(selection, table, KEYS) == Decomposition({})


def test_the_master_is_in_only_where_it_may_own_data(table: ResourceLocationTable) -> None:
    table.release(MASTER_GENERATOR, [interface("mgmt0")])
    assert generators(xpath("/if:interfaces/if:interface[if:oper-status='up']"), table) == ["2", "10"]
    assert generators(xpath("/if:interfaces/if:interface"), table) == ["2", "10"]
    # A filter that selects the container itself may select the Master's leaves beside the list.
    assert generators(xpath("/if:interfaces"), table) == ["1", "2", "10"]
    assert generators(xpath("/if:interfaces//if:name"), table) == ["1", "2", "10"]
    assert generators(subtree(f'<interfaces xmlns="{INTERFACES}"/>'), table) == ["1", "2", "10"]
    table.move(interface("10/0/1"), "2")
    assert generators(xpath("/if:interfaces/if:interface"), table) == ["2"]


@pytest.mark.parametrize("expression, expected", [
    ("/if:interfaces/if:interface[if:oper-status='up']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name='2/0/7' or if:oper-status='up']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name='2/0/7' and if:oper-status='up']", ["2"]),
    ("/if:interfaces/if:interface[if:oper-status='up'][if:name='2/0/7']", ["2"]),
    ("/if:interfaces/if:interface[not(if:name='mgmt0')]", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name!='mgmt0']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[starts-with(if:name, '2/')]", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name=1]", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[name='2/0/7']", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:statistics[if:in-octets > 5]]/if:name", ["1", "2", "10"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']/if:statistics/../if:name", ["2"]),
    ("/hw:hardware/*[hw:name='line-card-2']", ["1", "2"]),
    ("//if:interface[if:name='2/0/7']", ["1", "2", "10"]),
    ("/", ["1", "2", "10"]),
    ("/*", ["1", "2", "10"]),
    ("if:interfaces/if:interface[if:name='2/0/7']", ["2"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']/if:name/text()", ["2"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']//if:in-octets", ["2"]),
    ("/interfaces/interface[name='2/0/7']", ["1"]),
    ("/if:interfaces/if:interface[if:name='2/0/7']/@foo", []),  # YANG data has no attributes
])
def test_filters_that_select_within_each_entry_run_as_they_are(
    table: ResourceLocationTable, expression: str, expected: list[str]
) -> None:
    decomposition = decompose(xpath(expression), table, KEYS)
    assert decomposition.whole is None
    assert decomposition.generators == expected
    assert all(selection == xpath(expression) for selection in decomposition.filters.values())


@pytest.mark.parametrize("expression, expected", [
    # the issue's example: whether 2/0/8's name is selected depends on 10/0/1 existing
    ("/if:interfaces/if:interface[if:name='10/0/1']/../if:interface[if:name='2/0/8']/if:name",
     {"2": "/if:interfaces/if:interface[if:name = '2/0/8']/if:name"}),
    ("/if:interfaces/if:interface[if:name='2/0/7']/../if:interface[if:name='10/0/1']/if:name",
     {"10": "/if:interfaces/if:interface/if:name"}),  # all of card 10's interfaces: no need to name them
    ("/if:interfaces/if:interface[if:name='9/9/9']/../if:interface[if:name='10/0/1']/if:name", {}),
    ("/hw:hardware/hw:component[hw:name='line-card-2']/..", {g: "/hw:hardware" for g in ("1", "2", "10")}),
    ("/if:interfaces[if:interface/if:name='2/0/8']/if:interface[if:name='10/0/1' or if:name='mgmt0']",
     {"1": "/if:interfaces/if:interface", "10": "/if:interfaces/if:interface"}),
    ("/if:interfaces/if:interface[../if:interface[if:name='2/0/8']][if:oper-status='up']",
     {g: "/if:interfaces/if:interface/self::node()[if:oper-status = 'up']" for g in ("1", "2", "10")}),
    ("/if:interfaces/if:interface[if:name='2/0/7']/parent::*/if:interface[if:name='2/0/8']",
     {"2": "/if:interfaces/if:interface[if:name = '2/0/8']"}),
])
def test_filters_that_depend_on_which_entries_exist_are_rewritten_per_originator(
    table: ResourceLocationTable, expression: str, expected: dict[str, str]
) -> None:
    decomposition = decompose(xpath(expression), table, KEYS)
    assert decomposition.whole is None
    assert {g: selection.xpath for g, selection in decomposition.filters.items() if selection} == expected


@pytest.mark.parametrize("expression, why", [
    ("/if:interfaces/if:interface[1][if:name='10/0/1']", "position"),
    ("/if:interfaces/if:interface[if:name='10/0/1'][last()]", "position"),
    ("(/if:interfaces/if:interface)[1]", "order"),
    ("/if:interfaces/if:interface[if:oper-status='up']/../if:interface[if:name='2/0/7']", "after a part that reads"),
    ("/if:interfaces/if:interface[../if:interface[if:oper-status='down']]", "reads data held beside"),
    ("/hw:hardware[hw:last-change='x']/hw:component[hw:name='line-card-10']", "reads data held beside"),
    ("/if:interfaces/if:interface[if:name='2/0/7']/following-sibling::if:interface", "order"),
    ("/if:interfaces/if:interface[if:name = ../if:interface[1]/if:name]", "position"),
])
def test_filters_that_depend_on_content_elsewhere_are_served_whole(
    table: ResourceLocationTable, expression: str, why: str
) -> None:
    decomposition = decompose(xpath(expression), table, KEYS)
    assert decomposition.generators == ["1"]
    assert decomposition.filters == {"1": xpath(expression)}
    assert decomposition.whole is not None and why in decomposition.whole


@pytest.mark.parametrize("children, expected", [
    (f'<interfaces xmlns="{INTERFACES}"><interface><oper-status>up</oper-status></interface></interfaces>',
     ["1", "2", "10"]),
    (f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name><oper-status>up</oper-status>'
     "</interface></interfaces>", ["2"]),
    (f'<interfaces xmlns="{INTERFACES}"><interface><name/></interface></interfaces>', ["1", "2", "10"]),
    # A filter node in no namespace matches its local name in any module, the Master's included.
    ('<interfaces xmlns=""><interface><name>2/0/7</name></interface></interfaces>', ["1", "2"]),
    (f'<hardware xmlns="{HARDWARE}"><component><name>line-card-10</name></component><last-change/></hardware>',
     ["1", "10"]),
])
def test_subtree_filters_run_as_they_are(table: ResourceLocationTable, children: str, expected: list[str]) -> None:
    decomposition = decompose(subtree(children), table, KEYS)
    assert decomposition.whole is None and decomposition.generators == expected


@pytest.mark.parametrize("children", [
    (f'<hardware xmlns="{HARDWARE}"><component><name>line-card-10</name></component>'
     "<last-change>x</last-change></hardware>"),
    f'<hardware xmlns="{HARDWARE}"><last-change>x</last-change></hardware>',
    f'<interfaces xmlns="{INTERFACES}"/><content-id xmlns="{YANG_LIBRARY}">42</content-id>',
])
def test_a_subtree_content_match_beside_a_list_is_served_whole(table: ResourceLocationTable, children: str) -> None:
    decomposition = decompose(subtree(children), table, KEYS)
    assert decomposition.generators == ["1"] and "content match" in (decomposition.whole or "")


def test_the_issues_example_is_exact_on_a_device_of_two_cards() -> None:
    dev = device((2, 2))
    rlt = ResourceLocationTable()
    for name in dev.interfaces:
        rlt.assign("1" if name in dev.main_board else str(int(name[0]) + 0), [interface(name)])
    selection = xpath("/if:interfaces/if:interface[if:name='2/0/0']/../if:interface[if:name='3/0/1']/if:name")
    decomposition = decompose(selection, rlt, KEYS)
    sent = check_exact(decomposition, shares(dev.data, rlt), selection)
    assert decomposition.generators == ["3"] and len(sent["3"])  # card 3 alone sends 3/0/1's name


@pytest.mark.parametrize("expression, hint", [
    ("/if:interfaces/if:interface[re-match(if:name, '2/.*')]", "re-match() is a YANG XPath function"),
    ("/if:interfaces/if:interface[current()]", "current() is a YANG XPath function"),
    ("/if:interfaces/if:interface[frobnicate(if:name)]", "frobnicate() is not an XPath 1.0 function"),
    ("/if:interfaces/if:interface[if:name=$port]", "$port is a variable"),
    ("/if:interfaces/namespace::*", "namespace axis"),
])
def test_filters_that_can_be_evaluated_neither_way_are_unsupported(
    table: ResourceLocationTable, expression: str, hint: str
) -> None:
    with pytest.raises(FilterUnsupported) as refused:
        check_filter(xpath(expression))
    assert hint in refused.value.hint
    with pytest.raises(FilterError):
        decompose(xpath(expression), table, KEYS)


def test_a_table_change_is_seen_at_once(table: ResourceLocationTable) -> None:
    selection = xpath("/if:interfaces/if:interface[if:name='2/0/8']")
    assert generators(selection, table) == ["2"]
    table.move(interface("2/0/8"), "10")
    assert generators(selection, table) == ["10"]
    table.release("10")
    assert generators(selection, table) == []
    table.assign("3", [interface("2/0/8")])
    assert generators(None, table) == ["1", "2", "3"]


def test_a_new_list_in_the_table_is_seen_at_once() -> None:
    table = ResourceLocationTable()
    table.assign("2", [interface("2/0/7")])
    selection = subtree(f'<hardware xmlns="{HARDWARE}"><component><name>line-card-3</name></component></hardware>')
    assert generators(selection, table) == ["1"]
    table.assign("3", [component("line-card-3")])
    assert generators(selection, table) == ["3"]


def test_generator_ids_sort_numerically(table: ResourceLocationTable) -> None:
    table.assign("9", [interface("9/0/0")])
    assert generators(xpath("/if:interfaces/if:interface[if:name!='']"), table) == ["1", "2", "9", "10"]


def test_a_list_without_known_keys_is_taken_whole(table: ResourceLocationTable) -> None:
    if_list = (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface"))
    no_keys = {if_list: KEYS[if_list]}
    assert generators(xpath("/hw:hardware/hw:component[hw:name='line-card-2']"), table, no_keys) == ["1", "2", "10"]
    assert generators(subtree(f'<hardware xmlns="{HARDWARE}"><component><name>line-card-2</name></component>'
                             "</hardware>"), table, no_keys) == ["1", "2", "10"]
    assert generators(subtree(f'<interfaces xmlns="{INTERFACES}"><interface><name>2/0/7</name></interface>'
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
    assert generators(route_xpath(f"/r:routing/r:route[{condition}]/r:metric"), routes, ROUTE_KEYS) == expected


def test_lists_nesting_in_the_table_are_served_whole(routes: ResourceLocationTable) -> None:
    routes.assign("4", [(NEXT_HOP_LIST, ("192.0.2.1",))])
    selected = route_xpath("/r:routing/r:route[r:table='main' and r:prefix='10.0.0.0/8']")
    decomposition = decompose(selected, routes, ROUTE_KEYS)
    assert decomposition.generators == ["1"] and decomposition.whole == "the table's lists nest inside each other's entries"


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
