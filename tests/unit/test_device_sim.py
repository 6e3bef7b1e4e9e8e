"""The simulated device: schema-valid standard data, deterministic, monotonic, slot-partitioned."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import libyang
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from mso.device_sim import REQUIRED_FEATURES, CardSpec, DeviceSimulator
from mso.namespaces import HARDWARE, INTERFACES, qn

BOOT = 1_700_000_000.0
WHOLE_DEVICE = [CardSpec(slot, 4) for slot in range(4)]
COUNTERS = (
    "in-octets", "in-unicast-pkts", "in-broadcast-pkts", "in-multicast-pkts", "in-discards",
    "in-errors", "out-octets", "out-unicast-pkts", "out-broadcast-pkts", "out-multicast-pkts",
    "out-discards", "out-errors",
)


def whole_device(**kwargs: object) -> DeviceSimulator:
    return DeviceSimulator(WHOLE_DEVICE, boot_time=BOOT, **kwargs)


@pytest.fixture(scope="module")
def yang_context() -> Iterator[libyang.Context]:
    modules = Path(sys.prefix) / "share/yang/modules"
    ctx = libyang.Context(f"{modules / 'ietf'}:{modules / 'iana'}")
    for name in ("ietf-interfaces", "iana-if-type", "ietf-hardware", "iana-hardware"):
        module = ctx.load_module(name)
        for feature in REQUIRED_FEATURES.get(name, ()):
            module.feature_enable(feature)
    yield ctx
    ctx.destroy()


def validate(ctx: libyang.Context, nodes: list[etree._Element]) -> libyang.DNode:
    """Parse the nodes as operational data with full validation; raises LibyangError if invalid.

    libyang's data parser takes the top-level nodes side by side: it has no NETCONF ``<data>``
    envelope to unwrap.  Only the modules with data are validated, or the context's own
    ietf-yang-library would demand its (absent) state data.
    """
    xml = b"".join(etree.tostring(node) for node in nodes)
    return ctx.parse_data_mem(xml, "xml", strict=True, validate_present=True)


def leaves(element: etree._Element) -> dict[str, str]:
    """Child leaf name -> text of one list entry (or container), without namespaces."""
    return {etree.QName(child).localname: child.text for child in element if child.text}


def interface_entries(sim: DeviceSimulator, at: float) -> dict[str, etree._Element]:
    root = sim.interfaces(at)
    return {entry.findtext(qn(INTERFACES, "name")): entry for entry in root}


def counters(sim: DeviceSimulator, at: float) -> dict[str, dict[str, int]]:
    result = {}
    for name, entry in interface_entries(sim, at).items():
        statistics = leaves(entry.find(qn(INTERFACES, "statistics")))
        result[name] = {counter: int(statistics[counter]) for counter in COUNTERS}
    return result


def components(sim: DeviceSimulator, at: float = BOOT) -> dict[str, dict[str, str]]:
    root = sim.hardware(at)
    return {
        entry.findtext(qn(HARDWARE, "name")): leaves(entry)
        for entry in root.iter(qn(HARDWARE, "component"))
    }


# -- schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize("since_boot", [0.0, 1000.25, 86_400.5, 3.1e7])
def test_whole_device_is_valid_operational_data(yang_context, since_boot):
    tree = validate(yang_context, whole_device().operational(BOOT + since_boot))
    try:
        data = tree.print_dict(with_siblings=True)
    finally:
        tree.free()
    assert len(data["interfaces"]["interface"]) == 13
    assert len(data["hardware"]["component"]) == 1 + 4 * 3


@pytest.mark.parametrize("slots", [[0], [3], [1, 2]])
def test_each_share_is_valid_by_itself(yang_context, slots):
    share = DeviceSimulator([CardSpec(slot, 4) for slot in slots], boot_time=BOOT)
    validate(yang_context, share.operational(BOOT + 500.0)).free()


def test_validation_rejects_a_broken_sample(yang_context):
    nodes = whole_device().operational(BOOT + 10.0)
    first_interface = nodes[1][0]
    first_interface.remove(first_interface.find(qn(INTERFACES, "oper-status")))
    with pytest.raises(libyang.LibyangError, match="oper-status"):
        validate(yang_context, nodes)


def test_identities_carry_their_namespace_on_the_element():
    hardware, interfaces = whole_device().operational(BOOT)
    hw_class = hardware.find(f"{qn(HARDWARE, 'component')}/{qn(HARDWARE, 'class')}")
    if_type = interfaces.find(f"{qn(INTERFACES, 'interface')}/{qn(INTERFACES, 'type')}")
    assert hw_class.text == "ianahw:chassis"
    assert b'xmlns:ianahw="urn:ietf:params:xml:ns:yang:iana-hardware"' in etree.tostring(hw_class)
    assert if_type.text == "ianaift:ethernetCsmacd"
    assert b'xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type"' in etree.tostring(if_type)


# -- determinism and time -------------------------------------------------------------------


def test_same_instant_gives_identical_xml_across_calls_and_instances():
    at = BOOT + 12_345.678
    first, second = whole_device(), whole_device()
    samples = [b"".join(etree.tostring(node) for node in sim.operational(at))
               for sim in (first, first, second)]
    assert samples[0] == samples[1] == samples[2]


def test_the_seed_changes_the_data():
    at = BOOT + 600.0
    assert counters(whole_device(seed=1), at) != counters(whole_device(seed=2), at)


def test_at_defaults_to_the_injected_clock():
    now = [BOOT + 42.5]
    sim = DeviceSimulator(WHOLE_DEVICE, boot_time=BOOT, clock=lambda: now[0])
    assert etree.tostring(sim.interfaces()) == etree.tostring(sim.interfaces(BOOT + 42.5))
    assert etree.tostring(sim.hardware()) == etree.tostring(sim.hardware(BOOT + 42.5))


def test_boot_time_defaults_to_the_clock_at_construction():
    sim = DeviceSimulator(WHOLE_DEVICE, clock=lambda: BOOT)
    discontinuity = sim.interfaces().findtext(f".//{qn(INTERFACES, 'discontinuity-time')}")
    assert discontinuity == "2023-11-14T22:13:20.000000Z"
    assert all(value == 0 for entry in counters(sim, BOOT).values() for value in entry.values())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=3e7, allow_nan=False), min_size=2, max_size=6))
def test_counters_never_decrease(offsets):
    """Within a year of uptime, where not even the fastest counter32 can wrap."""
    sim = whole_device()
    samples = [counters(sim, BOOT + offset) for offset in sorted(offsets)]
    for earlier, later in zip(samples, samples[1:]):
        for name, values in earlier.items():
            for counter, value in values.items():
                assert later[name][counter] >= value, (name, counter)


def epoch(date_and_time: str) -> float:
    parsed = datetime.strptime(date_and_time, "%Y-%m-%dT%H:%M:%S.%fZ")
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def test_links_flap_and_counters_freeze_while_down():
    sim = DeviceSimulator([CardSpec(1, 1)], boot_time=BOOT)
    times = [BOOT + step / 2 for step in range(2 * 900 * 2)]  # two of the longest flap windows
    statuses, octets, changes = [], [], []
    for at in times:
        entry = sim.interfaces(at)[0]
        statuses.append(entry.findtext(qn(INTERFACES, "oper-status")))
        statistics = entry.find(qn(INTERFACES, "statistics"))
        octets.append(int(statistics.findtext(qn(INTERFACES, "in-octets"))))
        changes.append(epoch(entry.findtext(qn(INTERFACES, "last-change"))))
    assert {"up", "down"} == set(statuses)
    for index in range(1, len(times)):
        if statuses[index - 1] == statuses[index] == "down":
            assert octets[index] == octets[index - 1]
        if statuses[index - 1] == statuses[index] == "up":
            assert octets[index] > octets[index - 1]
        if statuses[index] == statuses[index - 1]:
            assert changes[index] == changes[index - 1]
        else:
            assert times[index - 1] < changes[index] <= times[index]


# -- plausibility ---------------------------------------------------------------------------


def test_traffic_is_plausible():
    for name, values in counters(whole_device(), BOOT + 3600.0).items():
        for direction in ("in", "out"):
            packets = sum(values[f"{direction}-{kind}-pkts"]
                          for kind in ("unicast", "broadcast", "multicast"))
            assert 200 <= values[f"{direction}-octets"] / packets <= 1200, name
            assert values[f"{direction}-unicast-pkts"] > values[f"{direction}-multicast-pkts"]
            assert values[f"{direction}-multicast-pkts"] > values[f"{direction}-broadcast-pkts"]
            assert values[f"{direction}-errors"] <= packets * 1e-6, name
            assert values[f"{direction}-discards"] <= packets * 1e-5, name


def test_ports_have_line_card_speeds_and_distinct_addresses():
    entries = interface_entries(whole_device(), BOOT)
    port_speeds = {entry.findtext(qn(INTERFACES, "speed"))
                   for name, entry in entries.items() if name != "mgmt0"}
    assert port_speeds <= {"10000000000", "100000000000"}
    addresses = [entry.findtext(qn(INTERFACES, "phys-address")) for entry in entries.values()]
    assert len(set(addresses)) == len(addresses)
    assert entries["3/0/2"].findtext(qn(INTERFACES, "phys-address")) == "02:4d:53:03:00:02"


def sensor_readings(sim: DeviceSimulator, at: float) -> dict[str, dict[str, str]]:
    return {
        entry.findtext(qn(HARDWARE, "name")): leaves(entry.find(qn(HARDWARE, "sensor-data")))
        for entry in sim.hardware(at).iter(qn(HARDWARE, "component"))
        if entry.find(qn(HARDWARE, "sensor-data")) is not None
    }


@pytest.mark.parametrize("since_boot", [0.0, 77.0, 5000.0, 123_456.0])
def test_sensors_report_in_range_with_their_units(since_boot):
    expected = {  # value-type, value-precision, units-display, range of the reported integer
        "temperature": ("celsius", "1", "degrees Celsius", range(200, 601)),
        "cpu": ("other", "0", "percent", range(0, 101)),
    }
    readings = sensor_readings(whole_device(), BOOT + since_boot)
    assert len(readings) == 8
    for name, data in readings.items():
        value_type, precision, units, values = expected[name.rsplit("-", 1)[1]]
        assert (data["value-type"], data["value-precision"], data["units-display"]) == (
            value_type, precision, units)
        assert data["value-scale"] == "units"
        assert data["oper-status"] == "ok"
        assert int(data["value"]) in values, name


def test_sensor_values_move_and_hold_within_a_second():
    sim = whole_device()
    values = [sensor_readings(sim, BOOT + offset)["line-card-2-cpu"]["value"]
              for offset in (100.0, 100.9, 160.0)]
    assert values[0] == values[1] != values[2]


# -- naming, structure, partition -----------------------------------------------------------


def test_interface_names():
    names = whole_device().interface_names()
    assert names[0] == "mgmt0"
    assert names[1:] == [f"{slot}/0/{port}" for slot in (1, 2, 3) for port in range(4)]
    assert all(re.fullmatch(r"\d+/0/\d+", name) for name in names[1:])
    assert names == list(interface_entries(whole_device(), BOOT))


def test_hardware_tree():
    found = components(whole_device())
    assert list(found) == whole_device().component_names()
    assert "parent" not in found["chassis"]
    assert found["main-board"]["parent"] == "chassis"
    assert found["main-board"]["parent-rel-pos"] == "0"
    for slot in (1, 2, 3):
        card = found[f"line-card-{slot}"]
        assert (card["class"], card["parent"], card["parent-rel-pos"]) == (
            "ianahw:module", "chassis", str(slot))
        assert card["is-fru"] == "true"
    for board in ("main-board", "line-card-1", "line-card-2", "line-card-3"):
        for sensor in ("temperature", "cpu"):
            assert found[f"{board}-{sensor}"]["parent"] == board
            assert found[f"{board}-{sensor}"]["class"] == "ianahw:sensor"


def test_only_the_chassis_owner_reports_hardware_last_change():
    def last_change(card: CardSpec) -> str | None:
        sim = DeviceSimulator([card], boot_time=BOOT)
        return sim.hardware(BOOT + 60.0).findtext(qn(HARDWARE, "last-change"))

    assert last_change(CardSpec(0, 0)) == "2023-11-14T22:13:20.000000Z"
    assert last_change(CardSpec(2, 4)) is None


def test_slot_shares_partition_the_device():
    whole = whole_device()
    shares = [DeviceSimulator([card], boot_time=BOOT) for card in WHOLE_DEVICE]
    for names in (DeviceSimulator.interface_names, DeviceSimulator.component_names):
        share_names = [name for share in shares for name in names(share)]
        assert len(share_names) == len(set(share_names))
        assert set(share_names) == set(names(whole))


def test_a_share_reports_exactly_what_the_whole_device_reports_for_it():
    at = BOOT + 4321.5
    whole = whole_device()
    whole_interfaces = {name: etree.tostring(entry)
                        for name, entry in interface_entries(whole, at).items()}
    whole_components = {entry.findtext(qn(HARDWARE, "name")): etree.tostring(entry)
                        for entry in whole.hardware(at).iter(qn(HARDWARE, "component"))}
    for card in WHOLE_DEVICE:
        share = DeviceSimulator([card], boot_time=BOOT)
        for name, entry in interface_entries(share, at).items():
            assert etree.tostring(entry) == whole_interfaces[name]
        for entry in share.hardware(at).iter(qn(HARDWARE, "component")):
            assert etree.tostring(entry) == whole_components[entry.findtext(qn(HARDWARE, "name"))]


def test_main_board_ignores_its_port_count():
    assert DeviceSimulator([CardSpec(0, 48)], boot_time=BOOT).interface_names() == ["mgmt0"]


def test_duplicate_slots_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        DeviceSimulator([CardSpec(1, 4), CardSpec(1, 8)])


@pytest.mark.parametrize("slot, ports", [(-1, 4), (256, 4), (1, -1), (1, 65537)])
def test_card_spec_bounds(slot, ports):
    with pytest.raises(ValueError):
        CardSpec(slot, ports)


def test_names_limit_what_is_rendered_and_match_the_full_sample():
    sim = DeviceSimulator([CardSpec(0, 0), CardSpec(1, 4), CardSpec(2, 4)], boot_time=1_000.0)
    at = 5_000.0
    full = sim.interfaces(at)
    some = sim.interfaces(at, names={"2/0/1", "1/0/3", "no-such-port"})
    ns = {"if": "urn:ietf:params:xml:ns:yang:ietf-interfaces"}
    assert some.xpath("//if:interface/if:name/text()", namespaces=ns) == ["1/0/3", "2/0/1"]
    for entry in some:
        name = entry.findtext("{urn:ietf:params:xml:ns:yang:ietf-interfaces}name")
        twin = full.xpath("if:interface[if:name=$n]", namespaces=ns, n=name)[0]
        assert etree.tostring(entry) == etree.tostring(twin)
    hardware = sim.hardware(at, names={"line-card-2"})
    assert hardware.xpath("//hw:component/hw:name/text()", namespaces={"hw": "urn:ietf:params:xml:ns:yang:ietf-hardware"}) == ["line-card-2"]
    assert len(sim.interfaces(at, names=set())) == 0
