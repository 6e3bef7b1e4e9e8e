"""Hunting counter-examples to exact decomposition: hypothesis writes XPath and subtree filters
from a grammar (keys, non-key content, starts-with/contains/not, or/and, ``|``, ``..``, ``//``,
positions, predicates on ancestors and on descendants, content matches beside lists) and runs
them over a device of several cards with random owners. Whatever way the Master serves a
filter, the union of the originators' results must be what the filter selects on the whole
device, with no leaf from two originators; filters on keys alone must be decomposed, exactly.

The example count is hypothesis's default; ``pytest --slow`` raises it (tests/conftest.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from mso.generators import MASTER_GENERATOR
from mso.namespaces import HARDWARE, INTERFACES, YANG_LIBRARY
from mso.subscription_model import FilterSpec
from server.decompose import decompose
from server.resource_location import ResourceLocationTable
from tests.decomposition_model import KEYS, Device, check_exact, component, device, interface, shares, subtree, xpath

GENERATORS = ("1", "2", "3", "4", "5")
DEVICES = st.sampled_from([(3,), (2, 3), (1, 2, 4)])


@dataclass(frozen=True)
class Scenario:
    device: Device
    table: ResourceLocationTable
    selection: FilterSpec
    keys_only: bool  # the filter selects by keys alone: it must be decomposed, precisely

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        owners = {g: sorted(k for _, k in self.table.owned_by(g)) for g in sorted(self.table.generators())}
        text = self.selection.xpath or self.selection.subtree_xml.decode()
        return f"Scenario({text!r}, keys_only={self.keys_only}, owners={owners})"


@st.composite
def tables(draw: st.DrawFn, dev: Device) -> ResourceLocationTable:
    """Random owners; the Master keeps its own board's entries."""
    resources = [interface(name) for name in dev.interfaces] + [component(name) for name in dev.components]
    owners = draw(st.lists(st.sampled_from(GENERATORS), min_size=len(resources), max_size=len(resources)))
    table = ResourceLocationTable()
    for resource, owner in zip(resources, owners):
        table.assign(MASTER_GENERATOR if resource[1][0] in dev.main_board else owner, [resource])
    return table


# --------------------------------------------------------------------------------------
# XPath grammar
# --------------------------------------------------------------------------------------

Piece = tuple[str, bool]  # text, whether it selects by keys alone


def keyed(text: str) -> Piece:
    return text, True


def loose(text: str) -> Piece:
    return text, False


def combine(operator: str, parts: list[Piece]) -> Piece:
    return f" {operator} ".join(f"({text})" if " or " in text else text for text, _ in parts), all(k for _, k in parts)


@st.composite
def conditions(draw: st.DrawFn, dev: Device, kind: str, depth: int = 0) -> Piece:
    """A predicate on an interface (``kind`` "if") or a hardware component ("hw") entry."""
    names = dev.interfaces if kind == "if" else dev.components
    name = draw(st.sampled_from(names + (("9/0/9",) if kind == "if" else ("line-card-9",))))
    other = draw(st.sampled_from(names))
    key, entry = f"{kind}:name", ("if:interface" if kind == "if" else "hw:component")
    atoms = [keyed(f"{key}='{name}'"), keyed(f"'{name}'={key}"), loose(f"starts-with({key}, '{name[:2]}')"),
             loose(f"contains({key}, '{name[-2:]}')"), loose(f"{key}!='{name}'"), loose(f"../{entry}[{key}='{other}']"),
             loose("position() < 3"), loose("last()"), loose("2"), loose(f"{key}=../{entry}[1]/{key}")]
    if kind == "if":
        atoms += [loose(text) for text in (
            "if:oper-status='up'", "if:oper-status='down'", "if:statistics[if:in-octets > 1000000]",
            ".//if:in-octets", "if:statistics/if:in-errors = 0", "not(if:enabled='false')",
            "../if:interface[if:oper-status='down']", "count(../if:interface) > 5", "string-length(if:name) > 5")]
    else:
        atoms += [loose(text) for text in (
            "hw:class='ianahw:sensor'", f"hw:parent='{other}'", "hw:is-fru='true'", "hw:sensor-data/hw:value > 30",
            "contains(hw:description, 'sensor')", "../hw:last-change", f"../hw:component[hw:parent='{name}']")]
    atom = draw(st.sampled_from(atoms))
    form = draw(st.sampled_from(["atom", "atom", "and", "or", "not"])) if depth < 2 else "atom"
    if form == "atom":
        return atom
    if form == "not":
        return loose(f"not({atom[0]})")  # exact, but a negation names no keys to look up
    return combine(form, [atom, draw(conditions(dev, kind, depth + 1))])


@st.composite
def xpath_branches(draw: st.DrawFn, dev: Device) -> Piece:
    """One location path into interfaces or hardware components: a start (with or without a
    predicate on the container), predicates on the entries, and a tail."""
    kind = draw(st.sampled_from(["if", "hw"]))
    container, entry = ("/if:interfaces", "if:interface") if kind == "if" else ("/hw:hardware", "hw:component")
    name = draw(st.sampled_from(dev.interfaces if kind == "if" else dev.components))
    content = "if:oper-status='down'" if kind == "if" else "hw:class='ianahw:module'"
    start, start_keyed = draw(st.sampled_from([
        keyed(f"{container}/{entry}"), keyed(f"{container}/{entry}"),
        keyed(f"{container}[{entry}/{kind}:name='{name}']/{entry}"),
        loose(f"//{entry}"), loose(f"/*[{entry}]/{entry}"),  # exact, but may reach into any entry
        loose(f"{container}[{entry}[{content}]]/{entry}"),
        loose(f"{container}[{'hw:last-change' if kind == 'hw' else 'not(if:foo)'}]/{entry}"),
    ]))
    predicates = draw(st.lists(conditions(dev, kind), max_size=2))
    tails = [keyed(""), keyed(f"/{kind}:name"), keyed("/.."), loose("/text()")]  # keyed: every entry has them
    if kind == "if":
        tails += [keyed("/if:oper-status"), keyed("/if:statistics/if:in-octets"), keyed("//if:in-octets"),
                  keyed("/if:statistics/.."), keyed("/../if:interface[if:name='mgmt0']/if:name"),
                  loose(f"/../{entry}[last()]/{kind}:name"), loose("/following-sibling::if:interface[1]")]
    else:
        tails += [keyed("/hw:class"), loose("/hw:sensor-data/hw:value"), keyed("/../hw:last-change"),
                  loose("/*[1]"), loose("/ancestor::hw:hardware/hw:component[hw:class='ianahw:chassis']")]
    tail, tail_keyed = draw(st.sampled_from(tails))
    text = start + "".join(f"[{p}]" for p, _ in predicates) + tail
    return text, start_keyed and all(k for _, k in predicates) and tail_keyed


@st.composite
def xpath_filters(draw: st.DrawFn, dev: Device) -> Piece:
    branches = draw(st.lists(st.one_of(
        xpath_branches(dev),
        st.sampled_from([keyed("/yl:yang-library"), keyed("/hw:hardware/hw:last-change"), keyed("/*"),
                         loose("//if:name[.='mgmt0' or ../if:oper-status='down']"), loose("//hw:value[. > 0]"),
                         loose("(/if:interfaces/if:interface)[2]"), loose("/if:interfaces/if:interface[1]/..")])),
        min_size=1, max_size=3))
    return " | ".join(text for text, _ in branches), all(k for _, k in branches)


# --------------------------------------------------------------------------------------
# Subtree grammar
# --------------------------------------------------------------------------------------


@st.composite
def subtree_entries(draw: st.DrawFn, dev: Device, kind: str) -> Piece:
    names = dev.interfaces if kind == "if" else dev.components
    name = draw(st.sampled_from(names + ("9/9/9",)))
    key = draw(st.sampled_from([keyed(f"<name>{name}</name>"), keyed("<name/>"), keyed("")]))
    if kind == "if":
        content = draw(st.sampled_from([keyed(""), loose("<oper-status>down</oper-status>"),
                                        loose("<enabled>true</enabled>"), keyed("<statistics><in-octets/></statistics>"),
                                        keyed("<oper-status/>")]))
        return f"<interface>{key[0]}{content[0]}</interface>", key[0].startswith("<name>") and content[1]
    content = draw(st.sampled_from([keyed(""), loose("<class>ianahw:sensor</class>"), keyed("<serial-num/>"),
                                    loose("<parent>line-card-2</parent><name/>")]))
    return f"<component>{key[0]}{content[0]}</component>", key[0].startswith("<name>") and content[1]


@st.composite
def subtree_filters(draw: st.DrawFn, dev: Device) -> Piece:
    parts: list[Piece] = []
    if draw(st.booleans()):
        entries = draw(st.lists(subtree_entries(dev, "if"), max_size=3))
        parts.append((f'<interfaces xmlns="{INTERFACES}">{"".join(e for e, _ in entries)}</interfaces>',
                      all(k for _, k in entries)))
    if draw(st.booleans()) or not parts:
        entries = draw(st.lists(subtree_entries(dev, "hw"), max_size=3))
        beside = draw(st.sampled_from([keyed(""), keyed("<last-change/>"), loose(f"<last-change>{dev.last_change}</last-change>"),
                                       loose("<last-change>2000-01-01T00:00:00Z</last-change>")]))
        parts.append((f'<hardware xmlns="{HARDWARE}">{beside[0]}{"".join(e for e, _ in entries)}</hardware>',
                      beside[1] and all(k for _, k in entries)))
    if draw(st.booleans()):
        parts.append(keyed(f'<yang-library xmlns="{YANG_LIBRARY}"><content-id/></yang-library>'))
    return "".join(text for text, _ in parts), all(k for _, k in parts)


@st.composite
def scenarios(draw: st.DrawFn, kind: str) -> Scenario:
    dev = device(draw(DEVICES))
    table = draw(tables(dev))
    if kind == "xpath":
        text, keys_only = draw(xpath_filters(dev))
        return Scenario(dev, table, xpath(text), keys_only)
    text, keys_only = draw(subtree_filters(dev))
    return Scenario(dev, table, subtree(text), keys_only)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def check(scenario: Scenario) -> None:
    decomposition = decompose(scenario.selection, scenario.table, KEYS)
    parts = shares(scenario.device.data, scenario.table)
    sent = check_exact(decomposition, parts, scenario.selection)
    assert decomposition.generators == sorted(decomposition.generators, key=int)
    if decomposition.whole:
        assert decomposition.generators == [MASTER_GENERATOR]
    if scenario.keys_only:
        # Precision: a key filter is decomposed, and no generator has an empty component.
        assert decomposition.whole is None, decomposition.whole
        assert set(decomposition.generators) == {g for g, part in sent.items() if len(part)}


@settings(deadline=None)
@given(scenarios("xpath"))
def test_xpath_filters_are_served_exactly(scenario: Scenario) -> None:
    check(scenario)


@settings(deadline=None)
@given(scenarios("subtree"))
def test_subtree_filters_are_served_exactly(scenario: Scenario) -> None:
    check(scenario)
