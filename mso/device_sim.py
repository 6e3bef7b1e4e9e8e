"""The simulated device's operational data, in the standard models.

Chassis, boards and sensors are ietf-hardware (RFC 8348) components; ports are ietf-interfaces
(RFC 8343) entries.  The Master and every line-card agent build their share of the device from
this one module, so it is pure data generation: every value is a function of the time asked for,
the seed and the resource, and nothing here keeps state between calls.  Two samples at the same
time are identical, counters never decrease (short of a counter32 wrapping after years of
uptime), and simulators for disjoint slot sets partition the device.

Schema contract: the data needs only the ``hardware-sensor`` feature of ietf-hardware, see
`REQUIRED_FEATURES`.  It stays clear of ``hardware-state`` (the component ``state`` container),
``entity-mib`` (``physical-index``) and ietf-interfaces' ``if-mib`` (``admin-status``,
``if-index``), which the server does not enable.
"""

from __future__ import annotations

import math
import random
import re
import time
import uuid
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from mso.date_and_time import format_epoch
from mso.namespaces import HARDWARE, IANA_HARDWARE, IANA_IF_TYPE, INTERFACES, qn
from mso.xml_parsing import parse_xml

REQUIRED_FEATURES: dict[str, tuple[str, ...]] = {"ietf-hardware": ("hardware-sensor",)}
"""YANG features a schema context must enable for this module's data to validate."""

MAIN_BOARD_SLOT = 0
_MAX_SLOT = 255  # the slot is one octet of the simulated MAC address
_MAX_PORTS = 65536  # the port is two octets of the simulated MAC address
_MFG_NAME = "mso Networks"
_SENSOR_UPDATE_MS = 1000

_COUNTER32_MODULUS = float(2**32)
_MASK64 = 2**64 - 1
_MAX_SHAPED = 200_000  # cut templates kept (a shape per filter, a template per link)

_STATISTICS = (
    "in-octets",
    "in-unicast-pkts",
    "in-broadcast-pkts",
    "in-multicast-pkts",
    "in-discards",
    "in-errors",
    "out-octets",
    "out-unicast-pkts",
    "out-broadcast-pkts",
    "out-multicast-pkts",
    "out-discards",
    "out-errors",
)
"""The ietf-interfaces statistics counters, in schema order."""

_COUNTER32_POSITIONS = (4, 5, 10, 11)
"""Where the counter32s (discards, errors) are in _STATISTICS; they wrap within years of uptime.
The counter64s are not wrapped: at the fastest simulated rate they would need 78 years."""

# Interfaces are rendered as text and parsed once: libxml2 builds the tree several times faster
# than a SubElement per leaf, which matters when agents sample 1,000 ports ten times a second.


@dataclass(frozen=True)
class CardSpec:
    """One board of the device: slot 0 is the main board, slots 1.. are line cards."""

    slot: int
    interfaces: int  # number of ports; ignored for the main board, which has only mgmt0

    def __post_init__(self) -> None:
        if not 0 <= self.slot <= _MAX_SLOT:
            raise ValueError(f"slot {self.slot} outside 0..{_MAX_SLOT}")
        if not 0 <= self.interfaces <= _MAX_PORTS:
            raise ValueError(f"{self.interfaces} interfaces outside 0..{_MAX_PORTS}")

    @property
    def is_main_board(self) -> bool:
        return self.slot == MAIN_BOARD_SLOT

    @property
    def component_name(self) -> str:
        return "main-board" if self.is_main_board else f"line-card-{self.slot}"


@lru_cache(maxsize=16384)
def _date_and_time(epoch: float) -> str:
    """``yang:date-and-time`` in UTC for a POSIX time.

    Cached because interface last-change times repeat from one sample to the next.
    """
    return format_epoch(epoch)


def _unit(key: int, index: int) -> float:
    """The ``index``-th pseudo-random number in [0, 1) of the sequence named by ``key``.

    A splitmix64 finaliser over key and index: random access, so a link's outage in any window
    is computed without walking the windows before it.
    """
    value = (key + (index + 1) * 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (value ^ (value >> 31)) / 2.0**64


def _rng(seed: int, name: str) -> random.Random:
    """The generator of a resource's static parameters: the same for the same seed and name."""
    return random.Random(f"{seed}/{name}")


_LinkState = tuple[bool, float, float]
"""Whether the link is up, when it last changed and how long it has been up (seconds since boot).
A plain tuple: it is built for every port on every sample."""


@dataclass(frozen=True, slots=True)
class _FlapSchedule:
    """When a link is down: once per window, for a fixed time, at a pseudo-random offset.

    Exactly one outage per window keeps the accumulated uptime a closed form, so a sample costs
    the same however long the device has been up.  Window and outage are whole seconds so that
    whole windows add up exactly; within a window each branch of `state` is monotonic in floating
    point and meets the next one without a step back, so counters never decrease, even by one.
    """

    key: int
    window: float  # whole seconds
    outage: float  # whole seconds, less than the window

    def _outage_offset(self, index: int) -> float:
        """Seconds into window ``index`` at which its outage begins."""
        return _unit(self.key, index) * (self.window - self.outage)

    def state(self, since_boot: float) -> _LinkState:
        """The link at ``since_boot`` seconds after boot."""
        index = int(since_boot // self.window)
        window_start = index * self.window
        into_window = since_boot - window_start
        up_before = index * (self.window - self.outage)
        outage_start = self._outage_offset(index)
        outage_end = outage_start + self.outage
        if into_window >= outage_end:
            # Capped so rounding can never carry a window's uptime past the next window's start.
            up_in_window = min(outage_start + (into_window - outage_end), self.window - self.outage)
            return (True, window_start + outage_end, up_before + up_in_window)
        if into_window >= outage_start:
            return (False, window_start + outage_start, up_before + outage_start)
        return (True, self._previous_outage_end(index), up_before + into_window)

    def _previous_outage_end(self, index: int) -> float:
        """Seconds since boot at which the link last came up before window ``index``."""
        if index == 0:
            return 0.0
        previous_start = (index - 1) * self.window
        # Grouped as `state` groups window_start + outage_end, so both give the same float.
        return previous_start + (self._outage_offset(index - 1) + self.outage)


@dataclass(frozen=True, slots=True)
class _Link:
    """One interface: its static XML with holes for the values that move, and how they move."""

    name: str
    template: str  # %-format: oper-status, last-change, then the counters of _STATISTICS
    flaps: _FlapSchedule
    rates: tuple[float, ...]  # per second of uptime, in _STATISTICS order

    def render(self, boot_time: float, since_boot: float) -> str:
        return self.template % self.values(boot_time, since_boot)

    def values(self, boot_time: float, since_boot: float) -> tuple[object, ...]:
        """What fills the template's holes at ``since_boot``, in their order."""
        up, last_change, uptime = self.flaps.state(since_boot)
        counters = [rate * uptime for rate in self.rates]
        for position in _COUNTER32_POSITIONS:
            counters[position] %= _COUNTER32_MODULUS
        return ("up" if up else "down", _date_and_time(boot_time + last_change), *counters)


EntryShape = Callable[[str], "str | None"]
"""What a read keeps of one interface entry: given the entry's XML with each moving value
marked (``_marker(i)``), the XML it keeps with the markers where they were, or None when it
keeps nothing. It must not depend on the values, which it cannot see."""


def _marker(index: int) -> str:
    return f"@@{index}@@"


_MARKER = re.compile(r"@@(\d+)@@")
_HOLE = re.compile(r"%[sd]")


@dataclass(frozen=True, slots=True)
class _ShapedTemplate:
    """A link's template cut to a shape: its holes, and which of the link's values fill them."""

    template: str
    picks: tuple[int, ...]

    @classmethod
    def of(cls, link: _Link, shape: EntryShape) -> _ShapedTemplate | None:
        holes = _HOLE.findall(link.template)
        marked = _HOLE.sub(_Numbered(), link.template)
        kept = shape(marked)
        if kept is None:
            return None
        picks = tuple(int(number) for number in _MARKER.findall(kept))
        return cls(_MARKER.sub(lambda match: holes[int(match[1])], kept.replace("%", "%%")), picks)

    def render(self, values: tuple[object, ...]) -> str:
        return self.template % tuple(values[pick] for pick in self.picks)


class _Numbered:
    """Replaces the n-th hole it is called for with the n-th marker."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, match: re.Match[str]) -> str:
        self._next += 1
        return _marker(self._next - 1)


def _traffic_rates(rng: random.Random, speed_bps: int) -> tuple[float, ...]:
    """A port's counter rates per second of uptime, in _STATISTICS order (in, then out)."""
    rates: list[float] = []
    for _direction in ("in", "out"):
        load = rng.uniform(0.02, 0.6)
        mean_packet_octets = rng.uniform(200.0, 1200.0)
        packets = speed_bps * load / 8.0 / mean_packet_octets
        broadcast = packets * rng.uniform(0.001, 0.01)
        multicast = packets * rng.uniform(0.01, 0.05)
        unicast = packets - broadcast - multicast
        discards = packets * rng.uniform(1e-8, 1e-6)
        errors = packets * rng.uniform(1e-10, 1e-8)
        rates += [packets * mean_packet_octets, unicast, broadcast, multicast, discards, errors]
    return tuple(rates)


def _link_template(name: str, phys_address: str, speed_bps: int, discontinuity_time: str) -> str:
    counters = "".join(f"<{leaf}>%d</{leaf}>" for leaf in _STATISTICS)
    return (
        f"<interface><name>{name}</name>"
        f'<type xmlns:ianaift="{IANA_IF_TYPE}">ianaift:ethernetCsmacd</type>'
        "<enabled>true</enabled>"
        "<oper-status>%s</oper-status><last-change>%s</last-change>"
        f"<phys-address>{phys_address}</phys-address>"
        f"<speed>{speed_bps}</speed>"
        f"<statistics><discontinuity-time>{discontinuity_time}</discontinuity-time>"
        f"{counters}</statistics></interface>"
    )


def _card_speed_bps(seed: int, card: CardSpec) -> int:
    """Line cards are 10G or 100G cards (seeded per slot); the management port is 1G."""
    if card.is_main_board:
        return 1_000_000_000
    return _rng(seed, card.component_name).choice((10_000_000_000, 100_000_000_000))


def _interface_name(card: CardSpec, port: int) -> str:
    return "mgmt0" if card.is_main_board else f"{card.slot}/0/{port}"


def _ports(card: CardSpec) -> range:
    return range(1) if card.is_main_board else range(card.interfaces)


@dataclass(frozen=True, slots=True)
class _SensorKind:
    """What a sensor measures, how RFC 8348 reports it, and how the simulated reading moves."""

    suffix: str  # of the component name: <board>-<suffix>
    value_type: str
    precision: int  # decimal places of the reported integer
    units_display: str
    base: tuple[float, float]  # range the per-sensor mean is drawn from
    period: tuple[float, float]  # range the per-sensor wave period (seconds) is drawn from
    amplitude: float
    jitter: float
    low: float
    high: float


_TEMPERATURE = _SensorKind("temperature", "celsius", 1, "degrees Celsius", base=(30.0, 50.0),
                           period=(600.0, 3600.0), amplitude=4.0, jitter=0.3, low=-40.0,
                           high=125.0)
_CPU = _SensorKind("cpu", "other", 0, "percent", base=(10.0, 40.0), period=(120.0, 900.0),
                   amplitude=15.0, jitter=3.0, low=0.0, high=100.0)


@dataclass(frozen=True, slots=True)
class _Sensor:
    """A sensor's reading: a slow wave around its mean plus jitter that changes every second."""

    kind: _SensorKind
    key: int
    base: float
    period: float  # seconds
    phase: float  # fraction of a period

    @classmethod
    def draw(cls, kind: _SensorKind, rng: random.Random) -> _Sensor:
        return cls(kind, rng.getrandbits(64), rng.uniform(*kind.base), rng.uniform(*kind.period),
                   rng.random())

    def value(self, since_boot: float) -> float:
        wave = math.sin(2.0 * math.pi * (since_boot / self.period + self.phase))
        noise = (_unit(self.key, int(since_boot)) - 0.5) * 2.0 * self.kind.jitter
        reading = self.base + self.kind.amplitude * wave + noise
        return min(max(reading, self.kind.low), self.kind.high)


@dataclass(frozen=True, slots=True)
class _Component:
    """An ietf-hardware component: static identity, plus a reading when it is a sensor."""

    name: str
    hw_class: str  # an iana-hardware identity
    description: str
    parent: str | None
    parent_rel_pos: int
    model_name: str
    is_fru: bool
    serial_num: str
    uuid: str
    sensor: _Sensor | None = None


class DeviceSimulator:
    """The operational data of the boards in ``cards``.

    A simulator for slot 0 alone is the Master's share (chassis, main board and its sensors,
    mgmt0); one for a line card alone is that card's share, whose module component names
    ``chassis`` as its parent although another simulator owns the chassis.  ietf-hardware's
    ``parent`` is a leafref with ``require-instance false``, so each share is valid by itself and
    the merged view is whole.  ``/hardware/last-change`` belongs to the chassis owner (slot 0),
    so merged shares never disagree on it.
    """

    def __init__(
        self,
        cards: Sequence[CardSpec],
        *,
        seed: int = 1,
        boot_time: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        slots = [card.slot for card in cards]
        if len(set(slots)) != len(slots):
            raise ValueError(f"duplicate slots in {slots}")
        self._cards = sorted(cards, key=lambda card: card.slot)
        self._seed = seed
        self._clock = clock
        self.boot_time = clock() if boot_time is None else boot_time
        self._owns_chassis = MAIN_BOARD_SLOT in slots
        self._components = self._build_components()
        self._links = self._build_links()
        self._link_position = {link.name: position for position, link in enumerate(self._links)}
        self._shaped: dict[tuple[Hashable, str], _ShapedTemplate | None] = {}

    # -- public API -------------------------------------------------------------------------

    def hardware(self, at: float | None = None, names: Collection[str] | None = None) -> etree._Element:
        """``<hardware>`` with the components of these cards (and the chassis with slot 0);
        ``names`` limits it to those components (None: all)."""
        since_boot = self._since_boot(at)
        root = etree.Element(qn(HARDWARE, "hardware"), nsmap={None: HARDWARE})
        if self._owns_chassis:
            etree.SubElement(root, qn(HARDWARE, "last-change")).text = _date_and_time(
                self.boot_time
            )
        for component in self._components:
            if names is None or component.name in names:
                self._append_component(root, component, since_boot)
        return root

    def interfaces(self, at: float | None = None, names: Collection[str] | None = None) -> etree._Element:
        """``<interfaces>`` with the interfaces of these cards; ``names`` limits it to those."""
        since_boot = self._since_boot(at)
        body = "".join([link.render(self.boot_time, since_boot) for link in self._links_named(names)])
        return parse_xml(f'<interfaces xmlns="{INTERFACES}">{body}</interfaces>'.encode())

    def shaped_interfaces(self, shape: EntryShape, shape_key: Hashable, at: float | None = None,
                          names: Collection[str] | None = None,
                          sampled: dict[str, tuple[object, ...]] | None = None) -> etree._Element | None:
        """``<interfaces>`` with only what ``shape`` keeps of each interface (None: of none):
        each link's template is cut once per shape (``shape_key`` names it), so a read that
        knows its filter renders only what the filter selects. ``sampled``: the links' values
        already taken at this instant, by name (read from and added to), so several shapes
        rendered at one instant share one sample of each link."""
        since_boot = self._since_boot(at)
        parts = []
        for link in self._links_named(names):
            key = (shape_key, link.name)
            if key not in self._shaped:
                if len(self._shaped) > _MAX_SHAPED:
                    self._shaped.clear()
                self._shaped[key] = _ShapedTemplate.of(link, shape)
            shaped = self._shaped[key]
            if shaped is None:
                continue
            if sampled is None:
                values = link.values(self.boot_time, since_boot)
            elif (values := sampled.get(link.name)) is None:  # type: ignore[assignment]
                values = sampled[link.name] = link.values(self.boot_time, since_boot)
            parts.append(shaped.render(values))
        if not parts:
            return None
        return parse_xml(f'<interfaces xmlns="{INTERFACES}">{"".join(parts)}</interfaces>'.encode())

    def _links_named(self, names: Collection[str] | None) -> list[_Link]:
        """The links called ``names`` (None: all), in the device's order."""
        if names is None:
            return self._links
        if len(names) * 8 < len(self._links):  # a few of many: look them up
            found = [self._link_position[name] for name in names if name in self._link_position]
            return [self._links[position] for position in sorted(found)]
        return [link for link in self._links if link.name in names]

    def operational(self, at: float | None = None) -> list[etree._Element]:
        """The top-level nodes this simulator owns, sampled at one instant."""
        instant = self._clock() if at is None else at
        return [self.hardware(instant), self.interfaces(instant)]

    def interface_names(self) -> list[str]:
        return [link.name for link in self._links]

    def component_names(self) -> list[str]:
        return [component.name for component in self._components]

    # -- construction -----------------------------------------------------------------------

    def _build_links(self) -> list[_Link]:
        discontinuity_time = _date_and_time(self.boot_time)
        links = []
        for card in self._cards:
            speed_bps = _card_speed_bps(self._seed, card)
            for port in _ports(card):
                name = _interface_name(card, port)
                rng = _rng(self._seed, name)
                flaps = _FlapSchedule(
                    key=rng.getrandbits(64),
                    window=float(rng.randint(180, 900)),
                    outage=float(rng.randint(2, 20)),
                )
                phys_address = (
                    f"02:4d:53:{card.slot:02x}:{port >> 8:02x}:{port & 0xFF:02x}"
                )
                template = _link_template(name, phys_address, speed_bps, discontinuity_time)
                links.append(_Link(name, template, flaps, _traffic_rates(rng, speed_bps)))
        return links

    def _build_components(self) -> list[_Component]:
        components = []
        if self._owns_chassis:
            components.append(
                self._component("chassis", "chassis", "Simulated chassis", None, 0, "MSO-9000",
                                is_fru=False)
            )
        for card in self._cards:
            components.extend(self._card_components(card))
        return components

    def _card_components(self, card: CardSpec) -> list[_Component]:
        if card.is_main_board:
            description, model = "Main board", "MSO-MB-1"
        else:
            gigabits = _card_speed_bps(self._seed, card) // 1_000_000_000
            description = f"Line card, {card.interfaces} x {gigabits}G ports"
            model = f"MSO-LC-{card.interfaces}x{gigabits}G"
        board = self._component(card.component_name, "module", description, "chassis",
                                card.slot, model, is_fru=True)
        sensors = [self._sensor_component(card, kind, position)
                   for position, kind in enumerate((_TEMPERATURE, _CPU))]
        return [board, *sensors]

    def _sensor_component(self, card: CardSpec, kind: _SensorKind, position: int) -> _Component:
        name = f"{card.component_name}-{kind.suffix}"
        sensor = _Sensor.draw(kind, _rng(self._seed, f"{name}/reading"))
        return self._component(name, "sensor", f"{kind.suffix} sensor of {card.component_name}",
                               card.component_name, position, f"MSO-SENSOR-{kind.suffix.upper()}",
                               is_fru=False, sensor=sensor)

    def _component(self, name: str, hw_class: str, description: str, parent: str | None,
                   parent_rel_pos: int, model_name: str, *, is_fru: bool,
                   sensor: _Sensor | None = None) -> _Component:
        rng = _rng(self._seed, name)
        return _Component(
            name=name,
            hw_class=hw_class,
            description=description,
            parent=parent,
            parent_rel_pos=parent_rel_pos,
            model_name=model_name,
            is_fru=is_fru,
            serial_num=f"MSO{rng.getrandbits(40):010X}",
            uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            sensor=sensor,
        )

    # -- rendering --------------------------------------------------------------------------

    def _since_boot(self, at: float | None) -> float:
        """Seconds since boot; a sample before boot sees the device as it booted."""
        instant = self._clock() if at is None else at
        return max(instant - self.boot_time, 0.0)

    def _append_component(self, root: etree._Element, component: _Component,
                          since_boot: float) -> None:
        entry = etree.SubElement(root, qn(HARDWARE, "component"))
        _leaf(entry, "name", component.name)
        hw_class = etree.SubElement(entry, qn(HARDWARE, "class"), nsmap={"ianahw": IANA_HARDWARE})
        hw_class.text = f"ianahw:{component.hw_class}"
        _leaf(entry, "description", component.description)
        if component.parent is not None:
            _leaf(entry, "parent", component.parent)
        _leaf(entry, "parent-rel-pos", str(component.parent_rel_pos))
        _leaf(entry, "hardware-rev", "A1")
        _leaf(entry, "serial-num", component.serial_num)
        _leaf(entry, "mfg-name", _MFG_NAME)
        _leaf(entry, "model-name", component.model_name)
        _leaf(entry, "is-fru", "true" if component.is_fru else "false")
        _leaf(entry, "uuid", component.uuid)
        if component.sensor is not None:
            self._append_sensor_data(entry, component.sensor, since_boot)

    def _append_sensor_data(self, entry: etree._Element, sensor: _Sensor,
                            since_boot: float) -> None:
        """A reading as RFC 8348 encodes it: an integer with a scale and a precision.

        The sensor updates once a second, so the value and its timestamp are those of the last
        whole second since boot.
        """
        sampled = float(int(since_boot))
        kind = sensor.kind
        data = etree.SubElement(entry, qn(HARDWARE, "sensor-data"))
        _leaf(data, "value", str(round(sensor.value(sampled) * 10**kind.precision)))
        _leaf(data, "value-type", kind.value_type)
        _leaf(data, "value-scale", "units")
        _leaf(data, "value-precision", str(kind.precision))
        _leaf(data, "oper-status", "ok")
        _leaf(data, "units-display", kind.units_display)
        _leaf(data, "value-timestamp", _date_and_time(self.boot_time + sampled))
        _leaf(data, "value-update-rate", str(_SENSOR_UPDATE_MS))


def _leaf(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, qn(HARDWARE, name)).text = text
