"""Subtree filters rendered straight into the result (``_Plan``) give exactly what the general
evaluation (picks collected, then rendered) gives, on the device's own data and on filters
drawn from the shapes subscriptions use: whole lists, entries named by key, leaf selections,
nested containers, content matches on keys and on other leaves."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from mso import filters
from mso.device_sim import CardSpec, DeviceSimulator
from mso.namespaces import HARDWARE, INTERFACES, NETCONF_BASE, qn
from mso.schema import Schema

AT = 1_800_000_000.0
DEVICE = DeviceSimulator([CardSpec(0, 0), CardSpec(1, 3), CardSpec(2, 2)], seed=3, boot_time=AT - 86_400)
NAMES = DEVICE.interface_names() + ["9/0/9"]  # one that does not exist
LEAVES = ["<name/>", "<type/>", "<enabled/>", "<oper-status/>", "<speed/>", "<enabled>true</enabled>",
          "<oper-status>up</oper-status>", "<oper-status>down</oper-status>",
          "<statistics/>", "<statistics><in-octets/></statistics>",
          "<statistics><in-octets/><out-octets/></statistics>", "<statistics><in-errors/></statistics>"]


KEYS = Schema.load().key_index


def data() -> etree._Element:
    root = etree.Element(qn(NETCONF_BASE, "data"))
    root.extend(DEVICE.operational(AT))
    return root


def general(data_element: etree._Element, children, keys) -> etree._Element:
    """The general evaluation alone: picks, then their rendering."""
    level = filters._Level.of(children)
    picks = filters._select_level(data_element, level, (), keys)
    if picks is filters._EVERY_CHILD:
        picks = {node: filters._Pick(whole=True) for node in filters._element_children(data_element)}
    return filters._render(data_element, picks or {})


@st.composite
def entry_filter(draw, named: bool) -> str:
    leaves = draw(st.lists(st.sampled_from(LEAVES), max_size=3, unique_by=lambda leaf: re.match(r"<([\w-]+)", leaf)[1]))
    leaves = [leaf for leaf in leaves if not (named and leaf.startswith("<name"))]
    key = f"<name>{draw(st.sampled_from(NAMES))}</name>" if named else ""
    return f"<interface>{key}{''.join(leaves)}</interface>"


@st.composite
def subtree(draw) -> str:
    if draw(st.booleans()):
        count = draw(st.integers(1, 4))
        entries = draw(st.lists(entry_filter(named=True), min_size=count, max_size=count,
                                unique_by=lambda entry: entry.split("</name>")[0]))
    else:
        entries = [draw(entry_filter(named=False))]
    body = f'<interfaces xmlns="{INTERFACES}">{"".join(entries)}</interfaces>'
    if draw(st.booleans()):
        body += f'<hardware xmlns="{HARDWARE}"><component><name>chassis</name></component></hardware>'
    return body


def children_of(body: str) -> tuple[etree._Element, ...]:
    return tuple(etree.fromstring(f"<filter>{body}</filter>"))


@settings(max_examples=300, deadline=None)
@given(subtree())
def test_a_plan_renders_what_the_general_evaluation_renders(body: str) -> None:
    children = children_of(body)
    level = filters._level_of(children)
    assert level.plan is not None and filters._renders_directly(level, (), KEYS)  # the plan really is used
    direct = filters.subtree_filter(data(), children, KEYS)
    assert etree.tostring(direct) == etree.tostring(general(data(), children, KEYS))


@pytest.mark.parametrize("body", [
    f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/0</name></interface>'
    f'<interface><name>1/0/0</name><mtu/></interface></interfaces>',  # two name one entry
    f'<interfaces xmlns="{INTERFACES}"><interface><type/></interface><interface><name/></interface></interfaces>',
    '<interfaces><interface><name/></interface></interfaces>',  # no namespace: any
    f'<interfaces xmlns="{INTERFACES}"><interface a="1"><name/></interface></interfaces>',  # an attribute
])
def test_filters_that_may_pick_one_node_twice_take_the_general_path(body: str) -> None:
    children = children_of(body)
    level = filters._level_of(children)
    assert level.plan is None or not filters._renders_directly(level, (), KEYS)
    assert etree.tostring(filters.subtree_filter(data(), children, KEYS)) == \
        etree.tostring(general(data(), children, KEYS))


@settings(max_examples=100, deadline=None)
@given(st.lists(subtree(), min_size=2, max_size=5))
def test_filters_cut_from_one_reading_share_its_entries_and_still_get_their_own(bodies: list[str]) -> None:
    reading, shared = data(), filters.SharedEntries()
    for body in bodies:
        children = children_of(body)
        cut = filters.subtree_filter(reading, children, KEYS, shared)
        assert etree.tostring(cut) == etree.tostring(general(reading, children, KEYS))


def test_entries_sharing_a_key_are_not_looked_up_but_read_in_order() -> None:
    reading = data()
    interfaces = reading.find(qn(INTERFACES, "interfaces"))
    first = next(entry for entry in interfaces if entry.findtext(qn(INTERFACES, "name")) == "1/0/0")
    interfaces.append(copy.deepcopy(first))  # the same name twice: malformed, still filtered as read
    children = children_of(f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/0</name><mtu/></interface>'
                           f'<interface><name>1/0/1</name><type/></interface></interfaces>')
    cut = filters.subtree_filter(reading, children, KEYS, filters.SharedEntries())
    assert etree.tostring(cut) == etree.tostring(general(reading, children, KEYS))
    assert [leaf.text for leaf in cut.iter(qn(INTERFACES, "name"))] == ["1/0/0", "1/0/1", "1/0/0"]
