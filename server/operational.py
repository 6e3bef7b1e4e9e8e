"""The operational state datastore (RFC 8342): running configuration plus state from sources.

A state source announces the top-level nodes it produces and builds them on demand, so a
filtered read only runs the sources whose nodes the filter can select. Sources are the
simulated device, the YANG library, netconf-state — and, later, the agents and the
subscription service.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from mso.filters import KeyIndex, merge_into
from server.datastore import RunningDatastore, empty_data

Produce = Callable[[], Iterable[etree._Element]]


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

    def snapshot(self, wanted: Collection[str] | None = None) -> etree._Element:
        """A fresh ``<data>`` tree; ``wanted`` limits it to those top-level nodes (None: all)."""
        data = empty_data()
        for node in self._running.root:
            if wanted is None or node.tag in wanted:
                data.append(deepcopy(node))
        for source in self._sources:
            if wanted is not None and source.tags.isdisjoint(wanted):
                continue
            state = empty_data()
            state.extend(source.produce())
            merge_into(data, state, self._keys)
        return data
