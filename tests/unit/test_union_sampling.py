"""Union sampling on an agent (issue 11, TS 23.288 §5A.2): subscriptions due at one instant share
one reading of the card whatever their filters, and each still gets exactly its filter's data."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from lxml import etree

from agents.agent import CardReader
from agents.card_data import CardData
from mso.namespaces import INTERFACES, YANG_PUSH, qn
from mso.sampling import apply_filter, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec, Periodic, SubscriptionSpec
from mso.subscription_runner import PeriodicJob, SharedSampler, UnionSampler

ANCHOR = datetime(2026, 12, 1, tzinfo=timezone.utc)
AT = ANCHOR.timestamp() + 3600.0  # an instant on every test period's grid


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


class CountingReader:
    """A card reader that counts its readings and remembers what each could select."""

    def __init__(self, reader: CardReader, keys) -> None:
        self._reader = reader
        self._keys = keys
        self.readings: list[frozenset[str] | None] = []

    def read(self, datastore, selection):
        names = selection.entry_names((qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface")), self._keys)
        self.readings.append(None if names is None else frozenset(names))
        return self._reader.read(datastore, selection)

    def cut(self, data, selection, shared=None):
        return self._reader.cut(data, selection, shared)

    def read_exact(self, datastore, selection, sampled=None):
        return None  # every reading goes through read, where it is counted


def named(*names: str, leaf: str = "") -> FilterSpec:
    entries = "".join(f"<interface><name>{name}</name>{leaf}</interface>" for name in names)
    return FilterSpec("subtree", f'<interfaces xmlns="{INTERFACES}">{entries}</interfaces>'.encode())


def xpath(expression: str) -> FilterSpec:
    return FilterSpec("xpath", xpath=expression, namespaces=(("if", INTERFACES),))


FILTERS = [
    named("1/0/0", "1/0/1"),
    named("1/0/1", "1/0/2", leaf="<statistics><in-octets/></statistics>"),
    named("1/0/3"),
    xpath("/if:interfaces/if:interface[if:name='1/0/2']/if:oper-status"),
]


def spec(number: int, selection: FilterSpec, period_cs: int = 100, anchor: datetime = ANCHOR) -> SubscriptionSpec:
    return SubscriptionSpec(id=number, datastore="ds:operational", filter=selection,
                            trigger=Periodic(period_cs, anchor))


def card_and_reader(schema: Schema) -> tuple[CardData, CountingReader]:
    card = CardData(1, 6, schema.key_index, boot_time=AT - 3600)
    return card, CountingReader(CardReader(card, schema), schema.key_index)


def shares(sampler: SharedSampler, specs: list[SubscriptionSpec], instant: float) -> list[list[str]]:
    return [shape(sampler.sample_at(instant, "ds:operational", s.filter)) for s in specs]


def shape(data: etree._Element) -> list[str]:
    """Every node's path, with the interface names (counters move between two readings)."""
    names = {node.getparent(): node.text for node in data.iter(qn(INTERFACES, "name"))}
    return ["/".join(etree.QName(n).localname for n in [*reversed(list(node.iterancestors())), node])
            + f"[{names.get(node, '')}]" for node in data.iter()]


def test_subscriptions_due_together_share_one_reading_and_each_gets_exactly_its_filter(schema) -> None:
    card, reader = card_and_reader(schema)
    sampler = UnionSampler(reader)
    specs = [spec(n, f) for n, f in enumerate(FILTERS, 1)]
    for s in specs:
        sampler.expect(s)
    for tick in range(3):
        got = shares(sampler, specs, AT + tick)
        alone = []
        for s in specs:  # what each filter selects when the card is read for it alone
            data = CardReader(card, schema).read("ds:operational", selection_of(s.filter))
            alone.append(shape(apply_filter(data, s.filter, schema.key_index)))
        assert got == alone and all(got)
    assert (sampler.reads, sampler.instants) == (3, 3)
    # the one reading covered the named entries of every subtree filter (the XPath one reads all)
    assert reader.readings == [None, None, None]


def test_the_reading_renders_only_the_union_of_what_subtree_filters_name(schema) -> None:
    _, reader = card_and_reader(schema)
    sampler = UnionSampler(reader)
    specs = [spec(n, f) for n, f in enumerate(FILTERS[:3], 1)]
    for s in specs:
        sampler.expect(s)
    shares(sampler, specs, AT)
    assert reader.readings == [frozenset({"1/0/0", "1/0/1", "1/0/2", "1/0/3"})]


def test_per_filter_sampling_reads_once_per_distinct_filter(schema) -> None:
    _, reader = card_and_reader(schema)
    sampler = SharedSampler(_PlainSampler(reader))
    specs = [spec(n, f) for n, f in enumerate(FILTERS, 1)] + [spec(9, FILTERS[0])]
    for s in specs:
        sampler.expect(s)
    shares(sampler, specs, AT)
    assert (sampler.reads, sampler.instants) == (4, 1)  # the repeated filter is shared, the others are not


class _PlainSampler:
    def __init__(self, reader: CountingReader) -> None:
        self._reader = reader

    def sample(self, datastore, selection):
        return self._reader.cut(self._reader.read(datastore, selection_of(selection)), selection)


def test_only_filters_due_at_the_instant_are_read_together(schema) -> None:
    _, reader = card_and_reader(schema)
    sampler = UnionSampler(reader)
    every_second, every_two = spec(1, FILTERS[0], 100), spec(2, FILTERS[1], 200)
    shifted = spec(3, FILTERS[2], 100, anchor=datetime(2026, 12, 1, 0, 0, 0, 500_000, tzinfo=timezone.utc))
    for s in (every_second, every_two, shifted):
        sampler.expect(s)
    shares(sampler, [every_second, every_two], AT)  # both due: one reading
    shares(sampler, [every_second], AT + 1)  # only the first is due: read for it alone
    shares(sampler, [shifted], AT + 1.5)
    assert len(reader.readings) == 3
    assert reader.readings[0] == frozenset({"1/0/0", "1/0/1", "1/0/2"})


def test_a_filter_nobody_expected_is_not_cut_from_a_reading_that_may_lack_its_data(schema) -> None:
    card, reader = card_and_reader(schema)
    sampler = UnionSampler(reader)
    specs = [spec(1, FILTERS[0]), spec(2, FILTERS[2])]
    for s in specs:
        sampler.expect(s)
    shares(sampler, specs, AT)
    on_change = named("1/0/5")  # a poll or a resync at the same instant
    data = sampler.sample_at(AT, "ds:operational", on_change)
    assert data.find(f".//{{{INTERFACES}}}name").text == "1/0/5"
    assert sampler.reads == 2


def test_periodic_jobs_tell_the_sampler_what_they_will_ask_for_and_stop_telling(schema) -> None:
    _, reader = card_and_reader(schema)
    sampler = UnionSampler(reader)
    pushes: list[etree._Element] = []

    class Recorder:
        def emit(self, event, event_time):
            pushes.append(event)

    specs = [spec(n, f) for n, f in enumerate(FILTERS[:3], 1)]

    async def scenario() -> None:
        jobs = [PeriodicJob(s, sampler, Recorder(), clock=lambda: AT) for s in specs]  # all start on one tick
        for job in jobs:
            job.start()
        await asyncio.sleep(0.01)
        for job in jobs:
            job.stop()
            job.stop()  # twice is harmless

    asyncio.run(scenario())
    assert len(pushes) == 3 and sampler.reads == 1
    assert [p.findtext(qn(YANG_PUSH, "id")) for p in pushes] == ["1", "2", "3"]
    shares(sampler, specs[:2], AT + 1)  # stopped: nobody expects them, so each is read alone
    assert sampler.reads == 3


def test_shares_rendered_from_one_sample_of_the_links_agree_on_every_counter(schema) -> None:
    card = CardData(1, 6, schema.key_index, boot_time=AT - 3600)
    sampler = UnionSampler(CardReader(card, schema))
    overlapping = [spec(1, named("1/0/0", "1/0/1", leaf="<statistics><in-octets/></statistics>")),
                   spec(2, named("1/0/1", "1/0/2", leaf="<statistics><in-octets/><out-octets/></statistics>"))]
    for s in overlapping:
        sampler.expect(s)
    first, second = (sampler.sample_at(AT, "ds:operational", s.filter) for s in overlapping)
    assert sampler.reads == 1  # one sample of the links for both, each share rendered from it

    def in_octets(data: etree._Element) -> dict[str, str]:
        return {entry.findtext(qn(INTERFACES, "name")): entry.findtext(f"{{{INTERFACES}}}statistics/{{{INTERFACES}}}in-octets")
                for entry in data.iter(qn(INTERFACES, "interface"))}

    assert set(in_octets(first)) == {"1/0/0", "1/0/1"} and set(in_octets(second)) == {"1/0/1", "1/0/2"}
    assert in_octets(first)["1/0/1"] == in_octets(second)["1/0/1"]  # the same sample, not two readings
    assert second.find(f".//{{{INTERFACES}}}out-octets") is not None and first.find(f".//{{{INTERFACES}}}out-octets") is None
