"""One line card's share of the device: its module component and sensors (ietf-hardware) and its
ports (ietf-interfaces), plus ports moved to it from other cards and minus ports moved away.

Values come from ``mso.device_sim`` with the device's seed and boot time (the Master hands
both over at registration), so a port keeps its counters when it moves between cards and the
cards' shares merge into one consistent device.
"""

from __future__ import annotations

import re

from lxml import etree

from mso.control_channel import Resource
from mso.device_sim import CardSpec, DeviceSimulator
from mso.filters import KeyIndex
from mso.sampling import COMPONENT_LIST, INTERFACE_LIST, INTERFACES_TOP, Selection, device_nodes

_PORT_NAME = re.compile(r"(?P<slot>[0-9]+)/0/(?P<port>[0-9]+)")


class ResourceError(ValueError):
    """A resource this card cannot take or give away."""


class CardData:
    def __init__(self, slot: int, interfaces: int, keys: KeyIndex, *, seed: int = 1, boot_time: float = 0.0) -> None:
        self.slot = slot
        self._keys = keys
        self._seed = seed
        self._boot_time = boot_time
        self._own = DeviceSimulator([CardSpec(slot, interfaces)], seed=seed, boot_time=boot_time)
        self._components = frozenset(self._own.component_names())
        self._interfaces = set(self._own.interface_names())
        self._adopted: dict[str, DeviceSimulator] = {}  # port name -> simulator of its home card

    def resources(self) -> tuple[Resource, ...]:
        components = [(COMPONENT_LIST, (name,)) for name in sorted(self._components)]
        interfaces = [(INTERFACE_LIST, (name,)) for name in sorted(self._interfaces, key=_port_order)]
        return tuple(components + interfaces)

    def adopt(self, resource: Resource) -> None:
        """Take a port from another card (it keeps its counters: same seed, same boot time)."""
        name = _port_of(resource)
        if name in self._interfaces:
            return
        match = _PORT_NAME.fullmatch(name)
        if match is None:
            raise ResourceError(f"{name!r} is not a line-card port name (slot/0/port)")
        slot, port = int(match["slot"]), int(match["port"])
        if slot == self.slot:
            self._interfaces.add(name)
            return
        home = DeviceSimulator([CardSpec(slot, port + 1)], seed=self._seed, boot_time=self._boot_time)
        self._adopted[name] = home
        self._interfaces.add(name)

    def release(self, resource: Resource) -> None:
        name = _port_of(resource)
        self._interfaces.discard(name)
        self._adopted.pop(name, None)

    def nodes(self, selection: Selection, at: float | None = None) -> list[etree._Element]:
        """This card's top-level nodes that ``selection`` can select, owned entries only."""
        nodes = device_nodes(self._own, selection, self._keys, at, owned_interfaces=self._interfaces)
        interfaces = next((n for n in nodes if n.tag == INTERFACES_TOP), None)
        if interfaces is not None and self._adopted:
            wanted = selection.entry_names(INTERFACE_LIST, self._keys)
            for name, home in self._adopted.items():
                if wanted is None or name in wanted:
                    interfaces.extend(home.interfaces(at, names={name}))
        return nodes


def _port_of(resource: Resource) -> str:
    list_path, keys = resource
    if list_path != INTERFACE_LIST or len(keys) != 1:
        raise ResourceError("only interfaces move between cards")
    return keys[0]


def _port_order(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"[0-9]+", name))
