"""A card renders a filter that decides by keys and structure from templates cut once to it
(issue 17): what it renders is byte for byte what the filter keeps of the full reading, and
filters whose choice depends on values are read and cut as before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from agents.agent import CardReader
from agents.card_data import SAMPLES, CardData
from mso.namespaces import HARDWARE, INTERFACES, NETCONF_BASE, qn
from mso.sampling import INTERFACE_LIST, apply_filter, interface_shape, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec

SCHEMA = Schema.load()
KEYS = SCHEMA.key_index
AT = 1_800_000_000.0
LEAVES = ["<name/>", "<type/>", "<enabled/>", "<oper-status/>", "<last-change/>", "<speed/>", "<phys-address/>",
          "<statistics/>", "<statistics><in-octets/></statistics>", "<statistics><discontinuity-time/></statistics>",
          "<statistics><out-discards/><in-errors/></statistics>", "<mtu/>"]


def card() -> CardData:
    """Slot 1 with 4 ports, holding 2/0/1 moved from slot 2 as well."""
    data = CardData(1, 4, KEYS, boot_time=AT - 7200)
    data.change([(INTERFACE_LIST, ("2/0/1",))], [(INTERFACE_LIST, ("1/0/3",))], {2: 3})
    return data


def subtree(body: str) -> FilterSpec:
    return FilterSpec("subtree", f'<interfaces xmlns="{INTERFACES}">{body}</interfaces>'.encode())


@st.composite
def shaped_filter(draw) -> FilterSpec:
    named = draw(st.booleans())  # unnamed entries need a leaf: an empty one selects whole entries
    choices = [leaf for leaf in LEAVES if not (named and leaf == "<name/>")]  # the name is matched then
    leaves = "".join(draw(st.lists(st.sampled_from(choices), min_size=0 if named else 1, max_size=3,
                                                unique_by=lambda leaf: leaf.split("/")[0].split(">")[0])))
    if named:
        names = draw(st.lists(st.sampled_from(["1/0/0", "1/0/2", "1/0/3", "2/0/1", "9/9/9"]), min_size=1,
                              max_size=3, unique=True))
        return subtree("".join(f"<interface><name>{name}</name>{leaves}</interface>" for name in names))
    return subtree(f"<interface>{leaves}</interface>")


def full_then_cut(data: CardData, spec: FilterSpec) -> bytes:
    root = etree.Element(qn(NETCONF_BASE, "data"))
    root.extend(data.nodes(selection_of(spec), AT, view=SAMPLES))
    return etree.tostring(apply_filter(root, spec, KEYS))


def shaped(data: CardData, spec: FilterSpec) -> bytes:
    shape = interface_shape(spec, KEYS)
    assert shape is not None
    root = etree.Element(qn(NETCONF_BASE, "data"))
    interfaces = data.shaped_interfaces(selection_of(spec), shape, spec, AT, view=SAMPLES)
    if interfaces is not None:
        root.append(interfaces)
    return etree.tostring(root)


@settings(max_examples=200, deadline=None)
@given(shaped_filter())
def test_a_shaped_reading_is_what_the_filter_keeps_of_the_full_one(spec: FilterSpec) -> None:
    data = card()
    assert shaped(data, spec) == full_then_cut(data, spec)
    assert shaped(data, spec) == full_then_cut(data, spec)  # the cut templates, kept, again


def test_filters_that_look_at_values_or_beyond_the_interfaces_are_not_shaped() -> None:
    for spec in (subtree("<interface><oper-status>up</oper-status><name/></interface>"),
                 subtree("<interface><statistics><in-octets>5</in-octets></statistics></interface>"),
                 FilterSpec("subtree", f'<hardware xmlns="{HARDWARE}"/>'.encode()),
                 FilterSpec("subtree", f'<interfaces xmlns="{INTERFACES}"/>'.encode()),
                 FilterSpec("xpath", xpath="/if:interfaces/if:interface/if:name", namespaces=(("if", INTERFACES),)),
                 None):
        assert interface_shape(spec, KEYS) is None
        assert CardReader(card(), SCHEMA).read_exact("ds:operational", spec) is None


def test_the_card_renders_a_shaped_filter_without_reading_everything() -> None:
    spec = subtree("<interface><statistics><in-octets/></statistics></interface>")
    data = CardReader(card(), SCHEMA).read_exact("ds:operational", spec)
    assert data is not None
    entries = data.findall(f"{{{INTERFACES}}}interfaces/{{{INTERFACES}}}interface")
    assert [e.findtext(qn(INTERFACES, "name")) for e in entries] == ["1/0/0", "1/0/1", "1/0/2", "2/0/1"]
    assert {child.tag for e in entries for child in e.iter()} == {
        qn(INTERFACES, tag) for tag in ("interface", "name", "statistics", "in-octets")}
