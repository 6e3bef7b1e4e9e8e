"""The operational state datastore (RFC 8342): running configuration plus state from sources,
and the two ways the Master reads it: for a subscription's own share (``DatastoreSampler``)
and for a ``get`` of the whole device, agents included (``DeviceReader``).

A read comes with a ``Selection``: the top-level nodes it can select and, for a subtree
filter, which list entries. A source runs only when the read can select its nodes, and may
produce only the entries the filter can select — so a ``get`` of one interface does not
render every interface of every card. The filter itself still runs on the result, so a
source that ignores the hint is merely slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from mso.filters import KeyIndex, merge_into
from mso.sampling import EVERYTHING, Selection, apply_filter, selection_of
from mso.subscription_model import FilterSpec
from server.datastore import RunningDatastore, empty_data

Produce = Callable[[Selection], Iterable[etree._Element]]
Gather = Callable[[FilterSpec | None], Awaitable[list[etree._Element]]]


@dataclass(frozen=True)
class StateSource:
    tags: frozenset[str]  # Clark names of the top-level nodes it produces
    produce: Produce


class OperationalDatastore:
    def __init__(self, running: RunningDatastore, keys: KeyIndex) -> None:
        self._running = running
        self._keys = keys
        self._sources: list[StateSource] = []

    def add_source(self, tags: Iterable[str], produce: Produce) -> None:
        self._sources.append(StateSource(frozenset(tags), produce))

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
            state = empty_data()
            state.extend(source.produce(selection))
            merge_into(data, state, self._keys)
        return data


class DatastoreSampler:
    """The subscription runner's sampler on the Master: its own datastores, filtered (what it
    shares with agents is theirs to sample)."""

    def __init__(self, running: RunningDatastore, operational: OperationalDatastore, keys: KeyIndex) -> None:
        self._running = running
        self._operational = operational
        self._keys = keys

    def sample(self, datastore: str, selection: FilterSpec | None) -> etree._Element:
        if datastore == "ds:running":
            data = self._running.root
        else:
            data = self._operational.snapshot(selection_of(selection))
        return apply_filter(data, selection, self._keys)


class DeviceReader:
    """The operational datastore as a read sees it: the Master's own data plus what the agents
    owning selected data return (those that do not answer in time are left out)."""

    def __init__(self, operational: OperationalDatastore, gather: Gather, keys: KeyIndex) -> None:
        self._operational = operational
        self._gather = gather
        self._keys = keys

    async def read(self, selection: FilterSpec | None) -> etree._Element:
        data = self._operational.snapshot(selection_of(selection))
        for share in await self._gather(selection):
            merge_into(data, share, self._keys)
        return data
