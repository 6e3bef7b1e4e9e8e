"""A line card's share of the device: what it owns, what a move gives it or takes away."""

from __future__ import annotations

import pytest
from lxml import etree

from agents.card_data import CardData, ResourceError
from mso.namespaces import INTERFACES
from mso.sampling import COMPONENT_LIST, INTERFACE_LIST, Selection, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec

AT = 1_800_000_000.0


@pytest.fixture(scope="module")
def keys():
    return Schema.load().key_index


def names(nodes: list[etree._Element]) -> list[str]:
    return [leaf.text for node in nodes for leaf in node.iter(f"{{{INTERFACES}}}name")]


def test_a_card_owns_its_ports_and_its_components(keys) -> None:
    card = CardData(2, 3, keys)

    assert card.resources() == (
        (COMPONENT_LIST, ("line-card-2",)), (COMPONENT_LIST, ("line-card-2-cpu",)),
        (COMPONENT_LIST, ("line-card-2-temperature",)),
        (INTERFACE_LIST, ("2/0/0",)), (INTERFACE_LIST, ("2/0/1",)), (INTERFACE_LIST, ("2/0/2",)),
    )
    assert names(card.nodes(Selection(), AT)) == ["2/0/0", "2/0/1", "2/0/2"]


def test_an_adopted_port_keeps_the_counters_it_had_on_its_home_card(keys) -> None:
    home, other = CardData(1, 4, keys, boot_time=AT - 3600), CardData(2, 4, keys, boot_time=AT - 3600)
    port = (INTERFACE_LIST, ("1/0/3",))
    selection = selection_of(FilterSpec("subtree", subtree_xml=(
        f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/3</name></interface></interfaces>').encode()))
    before = etree.tostring(home.nodes(selection, AT)[0])

    home.release(port)
    other.adopt(port)

    assert names(home.nodes(Selection(), AT)) == ["1/0/0", "1/0/1", "1/0/2"]
    assert names(other.nodes(Selection(), AT)) == ["2/0/0", "2/0/1", "2/0/2", "2/0/3", "1/0/3"]
    assert etree.tostring(other.nodes(selection, AT)[0]) == before
    assert port in other.resources() and port not in home.resources()


def test_only_ports_move(keys) -> None:
    card = CardData(1, 2, keys)

    with pytest.raises(ResourceError):
        card.adopt((COMPONENT_LIST, ("line-card-3",)))
    with pytest.raises(ResourceError):
        card.adopt((INTERFACE_LIST, ("mgmt0",)))
