"""A device for decomposition tests: the simulator's data for a main board and line cards (some
links down, a YANG library only the Master has), list entries given to owners, each
originator's share of the data, and the ground truth a decomposition is checked against."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from lxml import etree

from mso.device_sim import CardSpec, DeviceSimulator
from mso.filters import KeyIndex, merge_into, subtree_filter, xpath_filter
from mso.generators import MASTER_GENERATOR
from mso.namespaces import HARDWARE, INTERFACES, YANG_LIBRARY, qn
from mso.sampling import selection_of
from mso.subscription_model import FilterSpec
from mso.xml_parsing import parse_xml
from server.decompose import Decomposition
from server.resource_location import Resource, ResourceLocationTable

IF_LIST = (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface"))
HW_LIST = (qn(HARDWARE, "hardware"), qn(HARDWARE, "component"))
KEYS: KeyIndex = {IF_LIST: (qn(INTERFACES, "name"),), HW_LIST: (qn(HARDWARE, "name"),)}
PREFIXES = (("hw", HARDWARE), ("if", INTERFACES), ("yl", YANG_LIBRARY))
BOOT = 1_700_000_000.0


def xpath(expression: str) -> FilterSpec:
    return FilterSpec("xpath", xpath=expression, namespaces=PREFIXES)


def subtree(*children: str) -> FilterSpec:
    return FilterSpec("subtree", subtree_xml="".join(children).encode())


def interface(name: str) -> Resource:
    return (IF_LIST, (name,))


def component(name: str) -> Resource:
    return (HW_LIST, (name,))


@dataclass(frozen=True)
class Device:
    data: etree._Element  # never modified: shares and filter results are copies
    interfaces: tuple[str, ...]
    components: tuple[str, ...]
    main_board: frozenset[str]  # names of the Master's own entries: chassis, main board, mgmt0
    last_change: str  # /hw:hardware/hw:last-change, which only the Master has


@cache
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
                  frozenset(main_board.interface_names() + main_board.component_names()),
                  data.findtext(f"{{{HARDWARE}}}hardware/{{{HARDWARE}}}last-change") or "")


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


def shares(data: etree._Element, table: ResourceLocationTable) -> dict[str, etree._Element]:
    return {generator: share(data, table, generator) for generator in table.generators() | {MASTER_GENERATOR}}


def whole_device(parts: Mapping[str, etree._Element]) -> etree._Element:
    """The device as a ``get`` sees it: the Master's data, then each agent's in generator order."""
    data = etree.Element("data")
    for generator in sorted(parts, key=int):
        merge_into(data, parts[generator], KEYS)
    return data


def _tops(data: etree._Element, tops: Collection[str] | None) -> etree._Element:
    part = etree.Element(data.tag)
    part.extend(copy.deepcopy(node) for node in data if tops is None or node.tag in tops)
    return part


def entry_keys(entry: etree._Element, list_path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(entry.findtext(tag) or "" for tag in KEYS[list_path])


def apply(selection: FilterSpec | None, data: etree._Element) -> etree._Element:
    if selection is None:
        return data
    if selection.kind == "subtree":
        return subtree_filter(data, list(parse_xml(b"<f>" + selection.subtree_xml + b"</f>")), KEYS)
    return xpath_filter(data, selection.xpath, dict(selection.namespaces), KEYS)


def leaves(data: etree._Element) -> Counter[tuple[tuple[object, ...], str]]:
    """Every leaf as (path with list keys, value), counted: the canonical form of a data tree."""
    return Counter(_leaves(data, (), ()))


def _leaves(node: etree._Element, schema_path: tuple[str, ...],
            path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    for child in node:
        child_schema = schema_path + (child.tag,)
        step = (child.tag, entry_keys(child, child_schema)) if child_schema in KEYS else child.tag
        if len(child):
            yield from _leaves(child, child_schema, path + (step,))
        else:
            yield path + (step,), (child.text or "").strip()


def served(decomposition: Decomposition, parts: Mapping[str, etree._Element],
           selection: FilterSpec | None) -> dict[str, etree._Element]:
    """What each originator sends for a decomposition: its own filter on its own data, or, for
    a filter served whole, the Master's result on what it gathers of the whole device (as
    server.operational and Originators.gather_whole do: the top-level nodes the filter can
    read, from every originator)."""
    if decomposition.whole:
        tops = selection_of(selection).tags
        gathered = {generator: _tops(part, tops) for generator, part in parts.items()}
        return {MASTER_GENERATOR: apply(selection, whole_device(gathered))}
    return {generator: apply(decomposition.filters[generator], parts[generator])
            for generator in decomposition.generators}


def check_exact(decomposition: Decomposition, parts: Mapping[str, etree._Element],
                selection: FilterSpec | None) -> dict[str, etree._Element]:
    """The union of what the originators send is what the filter selects on the whole device,
    and no leaf comes from two of them. Returns what each sent."""
    sent = served(decomposition, parts, selection)
    union: Counter[tuple[tuple[object, ...], str]] = Counter()
    for part in sent.values():
        union += leaves(part)
    expected = leaves(apply(selection, whole_device(parts)))
    assert set(union) == set(expected), (
        f"missing {sorted(set(expected) - set(union))[:3]}, extra {sorted(set(union) - set(expected))[:3]}")
    twice = [leaf for leaf, count in union.items() if count > 1]
    assert not twice, f"from two originators: {twice[:3]}"
    return sent
