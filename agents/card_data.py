"""One line card's share of the device: its module component and sensors (ietf-hardware) and its
ports (ietf-interfaces), plus resources moved to it from other cards and minus those moved away.

Values come from ``mso.device_sim`` with the device's seed and boot time (the Master hands
both over at registration), and an adopted resource is rendered by a simulator of its home card,
so a port keeps its counters and a module its description when it moves, and the cards' shares
merge into one consistent device.

A move reaches the card's two views at different times: what a ``get`` sees (``READS``) follows
the Master's table at once, what the card's components sample (``SAMPLES``) follows from the
instant the Master announced to the subscribers (the agent applies it then).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Hashable, Iterable, Mapping

from lxml import etree

from mso.control_channel import Resource
from mso.device_sim import CardSpec, DeviceSimulator, EntryShape
from mso.filters import KeyIndex
from mso.sampling import (
    COMPONENT_LIST,
    HARDWARE_TOP,
    INTERFACE_LIST,
    INTERFACES_TOP,
    Selection,
)

READS, SAMPLES = "reads", "samples"
VIEWS = (READS, SAMPLES)
_PORT_NAME = re.compile(r"(?P<slot>[0-9]+)/0/(?P<port>[0-9]+)")
_COMPONENT_NAME = re.compile(r"line-card-(?P<slot>[0-9]+)(?:-[a-z]+)?")


class ResourceError(ValueError):
    """A resource this card cannot take or give away."""


SampledLinks = dict[DeviceSimulator, dict[str, tuple[object, ...]]]
"""The values of links taken at one instant: by the simulator rendering them, then by name."""


class CardData:
    def __init__(self, slot: int, interfaces: int, keys: KeyIndex, *, seed: int = 1, boot_time: float = 0.0) -> None:
        self.slot = slot
        self._keys = keys
        self._seed = seed
        self._boot_time = boot_time
        self._own = DeviceSimulator([CardSpec(slot, interfaces)], seed=seed, boot_time=boot_time)
        self._home_cards: dict[int, DeviceSimulator] = {slot: self._own}  # by slot, for what it adopts
        self._homes: dict[Resource, DeviceSimulator] = {}  # each resource held -> the simulator rendering it
        for name in self._own.component_names():
            self._homes[(COMPONENT_LIST, (name,))] = self._own
        for name in self._own.interface_names():
            self._homes[(INTERFACE_LIST, (name,))] = self._own
        self._held: dict[str, set[Resource]] = {view: set(self._homes) for view in VIEWS}

    def resources(self) -> tuple[Resource, ...]:
        """What the card holds for reads: its components, then its ports (what a new card
        registers)."""
        held = self._held[READS]
        components = sorted(r for r in held if r[0] == COMPONENT_LIST)
        interfaces = sorted((r for r in held if r[0] == INTERFACE_LIST), key=lambda r: _port_order(r[1][0]))
        return tuple(components + interfaces)

    def change(self, added: Iterable[Resource], removed: Iterable[Resource], cards: Mapping[int, int],
               views: Collection[str] = VIEWS) -> None:
        """Take ``added`` (from cards of these slots and port counts) and give ``removed`` away,
        in ``views``. Raises ResourceError, leaving the card as it was, for what it cannot take."""
        added, removed = list(added), list(removed)
        homes = {resource: self._home_of(resource, cards) for resource in added}
        self._homes.update(homes)
        for view in views:
            self._held[view].difference_update(removed)
            self._held[view].update(added)

    def _home_of(self, resource: Resource, cards: Mapping[int, int]) -> DeviceSimulator:
        """The simulator of the card a resource comes from."""
        known = self._homes.get(resource)
        if known is not None:
            return known
        list_path, keys = resource
        pattern = {INTERFACE_LIST: _PORT_NAME, COMPONENT_LIST: _COMPONENT_NAME}.get(list_path)
        match = pattern.fullmatch(keys[0]) if pattern is not None and len(keys) == 1 else None
        if match is None:
            raise ResourceError(f"{keys!r} is not a line card's port (slot/0/port) or component (line-card-N...)")
        slot = int(match["slot"])
        if slot not in self._home_cards:
            ports = cards.get(slot)
            if ports is None and list_path == INTERFACE_LIST:
                ports = int(match["port"]) + 1  # a port renders the same whatever its card's size
            if ports is None:
                raise ResourceError(f"the Master did not say how many ports the card in slot {slot} has")
            self._home_cards[slot] = DeviceSimulator([CardSpec(slot, ports)], seed=self._seed,
                                                     boot_time=self._boot_time)
        return self._home_cards[slot]

    def nodes(self, selection: Selection, at: float | None = None, view: str = READS) -> list[etree._Element]:
        """This card's top-level nodes that ``selection`` can select, held entries only."""
        nodes = []
        if selection.tags is None or HARDWARE_TOP in selection.tags:
            nodes.append(self._render(COMPONENT_LIST, selection, at, view))
        if selection.tags is None or INTERFACES_TOP in selection.tags:
            nodes.append(self._render(INTERFACE_LIST, selection, at, view))
        return nodes

    def _render(self, list_path: tuple[str, ...], selection: Selection, at: float | None,
                view: str) -> etree._Element:
        by_home = self._held_by_home(list_path, selection, view)
        render = DeviceSimulator.hardware if list_path == COMPONENT_LIST else DeviceSimulator.interfaces
        top = render(self._own, at, names=by_home.get(self._own, set()))
        for home in self._adopted_from(by_home):
            top.extend(render(home, at, names=by_home[home]))
        return top

    def shaped_interfaces(self, selection: Selection, shape: EntryShape, shape_key: Hashable,
                          at: float | None = None, view: str = READS,
                          sampled: SampledLinks | None = None) -> etree._Element | None:
        """``<interfaces>`` with what ``shape`` keeps of each held interface ``selection`` can
        select, in the order ``nodes`` renders them (None: it keeps nothing). ``sampled``:
        what other shapes took of the links at this instant, shared (see
        ``DeviceSimulator.shaped_interfaces``)."""
        by_home = self._held_by_home(INTERFACE_LIST, selection, view)
        top = None
        for home in (self._own, *self._adopted_from(by_home)):
            taken = None if sampled is None else sampled.setdefault(home, {})
            part = home.shaped_interfaces(shape, shape_key, at, names=by_home.get(home, set()), sampled=taken)
            if part is None:
                continue
            if top is None:
                top = part
            else:
                top.extend(list(part))
        return top

    def _held_by_home(self, list_path: tuple[str, ...], selection: Selection, view: str) -> dict[DeviceSimulator, set[str]]:
        """The entry names of ``list_path`` held in ``view`` that ``selection`` can select, by
        the simulator that renders them."""
        wanted = selection.entry_names(list_path, self._keys)
        held = self._held[view]
        candidates = held if wanted is None else {(list_path, (name,)) for name in wanted} & held
        by_home: dict[DeviceSimulator, set[str]] = {}
        for resource in candidates:
            if resource[0] == list_path:
                by_home.setdefault(self._homes[resource], set()).add(resource[1][0])
        return by_home

    def _adopted_from(self, by_home: Mapping[DeviceSimulator, set[str]]) -> list[DeviceSimulator]:
        """The other cards whose entries this one holds, in the order it adopted them."""
        return [home for home in self._home_cards.values() if home is not self._own and home in by_home]


def _port_order(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"[0-9]+", name))
