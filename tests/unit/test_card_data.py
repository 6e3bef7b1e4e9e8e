"""A line card's share of the device: what it owns, what a move gives it or takes away, and when
its gets and its components' samples see a move."""

from __future__ import annotations

import pytest
from lxml import etree

from agents.card_data import READS, SAMPLES, CardData, ResourceError
from mso.namespaces import HARDWARE, INTERFACES
from mso.sampling import COMPONENT_LIST, INTERFACE_LIST, Selection, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec

AT = 1_800_000_000.0


@pytest.fixture(scope="module")
def keys():
    return Schema.load().key_index


def names(nodes: list[etree._Element], namespace: str = INTERFACES) -> list[str]:
    return [leaf.text for node in nodes for leaf in node.iter(f"{{{namespace}}}name")]


def only(list_path: tuple[str, ...], name: str, namespace: str) -> Selection:
    top, entry = (etree.QName(tag).localname for tag in list_path)
    return selection_of(FilterSpec("subtree", subtree_xml=(
        f'<{top} xmlns="{namespace}"><{entry}><name>{name}</name></{entry}></{top}>').encode()))


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
    selection = only(INTERFACE_LIST, "1/0/3", INTERFACES)
    before = etree.tostring(home.nodes(selection, AT)[0])

    home.change((), [port], {})
    other.change([port], (), {1: 4})

    assert names(home.nodes(Selection(), AT)) == ["1/0/0", "1/0/1", "1/0/2"]
    assert names(other.nodes(Selection(), AT)) == ["2/0/0", "2/0/1", "2/0/2", "2/0/3", "1/0/3"]
    assert etree.tostring(other.nodes(selection, AT)[0]) == before
    assert port in other.resources() and port not in home.resources()


@pytest.mark.parametrize("name", ["line-card-1", "line-card-1-temperature", "line-card-1-cpu"])
def test_an_adopted_module_or_sensor_reads_as_on_its_home_card(keys, name: str) -> None:
    """A module describes its card's ports, a sensor's reading follows the time: both the same."""
    home, other = CardData(1, 8, keys, boot_time=AT - 3600), CardData(2, 2, keys, boot_time=AT - 3600)
    component = (COMPONENT_LIST, (name,))
    selection = only(COMPONENT_LIST, name, HARDWARE)
    before = etree.tostring(home.nodes(selection, AT)[0])

    home.change((), [component], {})
    other.change([component], (), {1: 8})

    assert name not in names(home.nodes(Selection(), AT), HARDWARE)
    assert names(other.nodes(Selection(), AT), HARDWARE)[-1] == name
    assert etree.tostring(other.nodes(selection, AT)[0]) == before
    assert b"8 x" in before or b"sensor" in before


def test_gets_see_a_move_at_once_and_samples_when_it_takes_effect(keys) -> None:
    card = CardData(1, 2, keys)
    port = (INTERFACE_LIST, ("1/0/1",))
    card.change((), [port], {}, views=[READS])

    assert names(card.nodes(Selection(), AT, view=READS)) == ["1/0/0"]
    assert names(card.nodes(Selection(), AT, view=SAMPLES)) == ["1/0/0", "1/0/1"]
    card.change((), [port], {}, views=[SAMPLES])
    assert names(card.nodes(Selection(), AT, view=SAMPLES)) == ["1/0/0"]


@pytest.mark.parametrize("resource, cards", [
    ((INTERFACE_LIST, ("mgmt0",)), {}),
    ((COMPONENT_LIST, ("chassis",)), {}),
    ((COMPONENT_LIST, ("line-card-3",)), {}),  # how many ports its module describes is not said
])
def test_what_is_no_line_cards_or_unknown_is_refused(keys, resource, cards) -> None:
    card = CardData(1, 2, keys)
    before = card.resources()

    with pytest.raises(ResourceError):
        card.change([resource], (), cards)
    assert card.resources() == before
