"""The operational state datastore (RFC 8342): running configuration plus state from sources,
and the ways the Master reads it: for a subscription's own share (``DatastoreSampler``), for a
``get`` of the whole device, agents included (``DeviceReader``), and merged with the agents'
data to evaluate a filter on the whole device (``with_agents``).

A read comes with a ``Selection``: the top-level nodes it can select and, for a subtree
filter, which list entries. A source runs only when the read can select its nodes, and may
produce only the entries the filter can select — so a ``get`` of one interface does not
render every interface of every card. The filter itself still runs on the result, so a
source that ignores the hint is merely slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from mso.device_sim import EntryShape
from mso.filters import KeyIndex, merge_into
from mso.generators import MASTER_GENERATOR
from mso.sampling import (
    EVERYTHING,
    INTERFACES_TOP,
    Selection,
    Shapes,
    apply_filter,
    selection_of,
)
from mso.subscription_model import FilterSpec
from server.datastore import RunningDatastore, empty_data
from server.decompose import NOTHING, Decomposition

Produce = Callable[[Selection], Iterable[etree._Element]]
ShapedInterfaces = Callable[[EntryShape, Hashable, Selection], "etree._Element | None"]
"""A source's ``<interfaces>`` with what a shape keeps of each entry (``DeviceSimulator.shaped_interfaces``)."""


class Device(Protocol):
    """The device's originators as a read needs them (``server.originators.Originators``)."""

    def shares(self, selection: FilterSpec | None) -> Decomposition: ...

    async def gather(self, requests: Mapping[str, FilterSpec | None]) -> list[etree._Element]: ...

    async def gather_whole(self, selection: FilterSpec | None) -> list[etree._Element]: ...


@dataclass(frozen=True)
class StateSource:
    tags: frozenset[str]  # Clark names of the top-level nodes it produces
    produce: Produce
    fresh: bool = False  # it makes new elements on every call, so a snapshot may take them as they are
    shaped: ShapedInterfaces | None = None  # renders its interfaces as a shape keeps them


class OperationalDatastore:
    def __init__(self, running: RunningDatastore, keys: KeyIndex) -> None:
        self._running = running
        self._keys = keys
        self._sources: list[StateSource] = []

    def add_source(self, tags: Iterable[str], produce: Produce, *, fresh: bool = False,
                   shaped: ShapedInterfaces | None = None) -> None:
        self._sources.append(StateSource(frozenset(tags), produce, fresh, shaped))

    def shaped(self, shape: EntryShape, shape_key: Hashable, selection: Selection) -> etree._Element | None:
        """A ``<data>`` tree with what ``shape`` keeps of every interface, when one source alone
        holds the interfaces and renders shapes, and running configures none of them (else
        None: read and filter the snapshot)."""
        if self._running.root.find(INTERFACES_TOP) is not None:
            return None
        sources = [source for source in self._sources if INTERFACES_TOP in source.tags]
        if len(sources) != 1 or sources[0].shaped is None:
            return None
        data = empty_data()
        interfaces = sources[0].shaped(shape, shape_key, selection)
        if interfaces is not None:
            data.append(interfaces)
        return data

    def snapshot(self, selection: Selection = EVERYTHING) -> etree._Element:
        """A fresh ``<data>`` tree holding at least what ``selection`` can select."""
        wanted = selection.tags
        data = empty_data()
        for node in self._running.root:
            if wanted is None or node.tag in wanted:
                data.append(deepcopy(node))
        for source in self._sources:
            if wanted is not None and source.tags.isdisjoint(wanted):
                continue
            produced = list(source.produce(selection))
            if source.fresh and _none_shared(data, produced):
                data.extend(produced)  # nothing to merge with: taken as they are, not copied
                continue
            state = empty_data()
            state.extend(produced)
            merge_into(data, state, self._keys)
        return data


def _none_shared(data: etree._Element, nodes: list[etree._Element]) -> bool:
    """Whether ``nodes`` name distinct top-level nodes that ``data`` does not hold yet."""
    tags = [node.tag for node in nodes]
    return len(set(tags)) == len(tags) and all(data.find(tag) is None for tag in tags)


class DatastoreSampler:
    """The subscription runner's sampler on the Master: its own datastores, filtered (what it
    shares with agents is theirs to sample). A filter that keeps of each interface what its
    keys and structure decide is rendered from templates cut once to it, as agents do: the
    Master's own share of a device-wide subscription is sampled every period, and a
    snapshot filtered each time costs it more than the push itself."""

    def __init__(self, running: RunningDatastore, operational: OperationalDatastore, keys: KeyIndex) -> None:
        self._running = running
        self._operational = operational
        self._keys = keys
        self._shapes = Shapes(keys)

    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        if datastore == "ds:running":
            return apply_filter(self._running.root, selection, self._keys)
        shape = self._shape(selection)
        if shape is not None:
            shaped = self._operational.shaped(shape, selection, selection_of(selection))
            if shaped is not None:
                return shaped
        return apply_filter(self._operational.snapshot(selection_of(selection)), selection, self._keys)

    def _shape(self, selection: FilterSpec | None) -> EntryShape | None:
        return self._shapes.of(selection)


def with_agents(operational: OperationalDatastore, parts: Iterable[etree._Element], selection: FilterSpec | None,
                keys: KeyIndex) -> etree._Element:
    """What ``selection`` selects on the whole device: the Master's own data, then the agents'
    ``parts`` in generator order (the order positions count in), filtered together."""
    data = operational.snapshot(selection_of(selection))
    for part in parts:
        merge_into(data, part, keys)
    return apply_filter(data, selection, keys)


class DeviceReader:
    """What a read with a filter returns from the whole device, decomposed as a subscription
    with that filter would be: the Master's share and each agent's, each selected with its own
    filter, merged; or, for a filter only the whole device answers, every agent's data gathered
    and the filter applied to the whole. Agents that do not answer in time are left out."""

    def __init__(self, operational: OperationalDatastore, device: Device, keys: KeyIndex) -> None:
        self._operational = operational
        self._device = device
        self._keys = keys

    async def read(self, selection: FilterSpec | None) -> etree._Element:
        """The filtered data (FilterError for a filter that cannot run)."""
        plan = self._device.shares(selection)
        if plan.whole:
            return with_agents(self._operational, await self._device.gather_whole(selection), selection, self._keys)
        own = plan.filters.get(MASTER_GENERATOR, NOTHING)
        data = apply_filter(self._operational.snapshot(selection_of(own)), own, self._keys)
        for share in await self._device.gather(plan.filters):
            merge_into(data, share, self._keys)
        return data
