"""``python -m bench.decompose``: what decomposing a global subscription costs the Master.

A device of 8 line cards × 1,000 interfaces (slots 2..9, generators "2".."9") plus the main
board (generator "1"), all registered in one Resource-Location Table, the schema's real key
index.  For each kind of filter (on keys; on other content; rewritten per originator, where
``..`` leaves an entry; served whole by the Master, where a position is asked) it prints how it
is served and the decomposition's p50/p99, twice:
- "new": a filter never seen before, as on establish-subscription (nothing cached);
- "again": the same filter again, as when ownership changes and every subscription is
  re-decomposed (the filter's reading is cached, the table is not);
and, as the baseline in the same run, applying the same filter to the full data of one sample,
which is what the decomposer avoids doing.  Also: the first decomposition after the table
changed (it rebuilds the decomposer's view of the table) and the cost of one full sample.
No figure is asserted; the target is < 1 ms for a new filter on keys.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

from lxml import etree

from mso.device_sim import CardSpec, DeviceSimulator
from mso.filters import KeyIndex, subtree_filter, xpath_filter
from mso.namespaces import HARDWARE, INTERFACES, qn
from mso.schema import Schema
from mso.sampling import subtree_children
from mso.subscription_model import FilterSpec
from mso.xml_parsing import parse_xml
from server.decompose import decompose
from mso.generators import MASTER_GENERATOR
from server.resource_location import ResourceLocationTable

IF_LIST = (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface"))
HW_LIST = (qn(HARDWARE, "hardware"), qn(HARDWARE, "component"))
PREFIXES = (("if", INTERFACES), ("hw", HARDWARE))
CARD_SLOTS = range(2, 10)
PORTS = 1000
AT = 1_700_003_600.0


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:8.3f} ms  p99 {p99 * 1000:8.3f} ms  (n={len(samples)})"


def timed(run: Callable[[int], object], count: int, budget_s: float = float("inf")) -> list[float]:
    """Durations of ``run(0)``, ``run(1)``...: ``count`` of them, fewer if ``budget_s`` runs out."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for iteration in range(count):
        start = time.perf_counter()
        run(iteration)
        samples.append(time.perf_counter() - start)
        if start > deadline:
            break
    return samples


def unseen(selection: FilterSpec | None, iteration: int) -> FilterSpec | None:
    """The same filter in a text never seen before: caches keyed on the filter miss."""
    if selection is None:
        return None
    if selection.kind == "subtree":
        return replace(selection, subtree_xml=selection.subtree_xml + f"<!--{iteration}-->".encode())
    return replace(selection, xpath=selection.xpath + " " * iteration)


def build_table() -> ResourceLocationTable:
    table = ResourceLocationTable()
    for slot in [0, *CARD_SLOTS]:
        card = DeviceSimulator([CardSpec(slot, PORTS)], boot_time=0.0)
        owner = MASTER_GENERATOR if slot == 0 else str(slot)
        table.assign(owner, [(IF_LIST, (name,)) for name in card.interface_names()])
        table.assign(owner, [(HW_LIST, (name,)) for name in card.component_names()])
    return table


def xpath(expression: str) -> FilterSpec:
    return FilterSpec("xpath", xpath=expression, namespaces=PREFIXES)


def subtree(children: str) -> FilterSpec:
    return FilterSpec("subtree", subtree_xml=children.encode())


def filters() -> dict[str, FilterSpec | None]:
    one_card = "".join(f"<interface><name>5/0/{port}</name></interface>" for port in range(PORTS))
    return {
        "no filter": None,
        "xpath key, one interface": xpath("/if:interfaces/if:interface[if:name='5/0/500']"),
        "xpath keys, 3 interfaces (or)": xpath(
            "/if:interfaces/if:interface[if:name='2/0/1' or if:name='5/0/2' or if:name='9/0/3']/if:statistics"),
        "subtree key, one interface": subtree(
            f'<interfaces xmlns="{INTERFACES}"><interface><name>5/0/500</name></interface></interfaces>'),
        "subtree keys, one card's 1,000 ifs": subtree(f'<interfaces xmlns="{INTERFACES}">{one_card}</interfaces>'),
        "xpath non-key predicate": xpath("/if:interfaces/if:interface[if:oper-status='down']"),
        "subtree non-key content match": subtree(
            f'<interfaces xmlns="{INTERFACES}"><interface><oper-status>down</oper-status></interface></interfaces>'),
        "xpath //": xpath("//hw:sensor-data/hw:value"),
        "xpath .. across cards (rewritten)": xpath(
            "/if:interfaces/if:interface[if:name='2/0/1']/../if:interface[if:name='9/0/7']/if:name"),
        "xpath position (served whole)": xpath("/if:interfaces/if:interface[1500]/if:name"),
        "subtree content match beside a list (served whole)": subtree(
            f'<hardware xmlns="{HARDWARE}"><last-change>2026-01-01T00:00:00Z</last-change><component/></hardware>'),
    }


def apply(selection: FilterSpec, data: etree._Element, keys: KeyIndex) -> etree._Element:
    if selection.kind == "subtree":
        return subtree_filter(data, list(parse_xml(b"<f>" + selection.subtree_xml + b"</f>")), keys)
    return xpath_filter(data, selection.xpath, dict(selection.namespaces), keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="decompositions per filter")
    parser.add_argument("--baseline-count", type=int, default=20, help="filter applications per filter")
    parser.add_argument("--baseline-budget", type=float, default=10.0,
                        help="seconds after which a filter's baseline stops early")
    args = parser.parse_args()

    keys = Schema.load().key_index
    table = build_table()
    device = DeviceSimulator([CardSpec(0, 0), *(CardSpec(slot, PORTS) for slot in CARD_SLOTS)], boot_time=0.0)
    data = etree.Element("data")

    def sample(_: int) -> None:
        data[:] = device.operational(AT)

    sampling = timed(sample, args.baseline_count)
    entries = sum(len(table.entries(list_path)) for list_path in table.list_paths())
    print(f"table: {entries} entries, generators {sorted(table.generators(), key=int)}")
    print(f"{'one full sample (baseline input)':36} {percentiles(sampling)}")
    print()
    for name, selection in filters().items():
        decomposition = decompose(selection, table, keys)
        new = timed(lambda i: decompose(unseen(selection, i), table, keys), args.count // 4)
        again = timed(lambda _: decompose(selection, table, keys), args.count)
        rewritten = any(f is not selection for f in decomposition.filters.values())
        how = "served whole" if decomposition.whole else "rewritten" if rewritten else "as it is"
        print(f"{name} -> {','.join(decomposition.generators) or '-'} ({how})")
        print(f"{'  decompose, new filter':36} {percentiles(new)}")
        print(f"{'  decompose, again':36} {percentiles(again)}")
        if selection is None:
            print("  baseline: the full sample itself (above)")
            continue
        baseline = timed(lambda _: apply(selection, data, keys), args.baseline_count, args.baseline_budget)
        print(f"{'  baseline: filter one sample':36} {percentiles(baseline)}  "
              f"({statistics.median(baseline) / statistics.median(new):,.0f}x the new-filter p50)")

    moved = (IF_LIST, ("5/0/500",))
    owners = [str(slot) for slot in CARD_SLOTS]
    selection = xpath("/if:interfaces/if:interface[if:name='5/0/500']")

    def after_a_change(_: int) -> None:
        table.move(moved, owners[(owners.index(table.owner(moved) or "2") + 1) % len(owners)])
        decompose(selection, table, keys)

    print()
    print(f"{'move + first decomposition after it':36} {percentiles(timed(after_a_change, 200))}")
    print()
    print("a subtree filter naming N interfaces by key, applied to one full sample (target: <= 10 ms for 1,000,")
    print("growing linearly):")
    names = [entry.findtext(qn(INTERFACES, "name")) for entry in data.iter(qn(INTERFACES, "interface"))]
    for count in (100, 1000, 8000):
        named = "".join(f"<interface><name>{name}</name></interface>" for name in names[:count])
        selection = subtree(f'<interfaces xmlns="{INTERFACES}">{named}</interfaces>')
        nodes = subtree_children(selection.subtree_xml)  # parsed once, as a subscription's filter is
        applied = timed(lambda _: subtree_filter(data, nodes, keys), args.baseline_count)
        print(f"{f'  {count:,} named entries':36} {percentiles(applied)}")


if __name__ == "__main__":
    main()
