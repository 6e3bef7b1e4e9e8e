"""The operational state datastore (RFC 8342): running configuration plus state from sources.

A read comes with a ``Selection``: the top-level nodes it can select and, for a subtree
filter, which list entries. A source runs only when the read can select its nodes, and may
produce only the entries the filter can select — so a ``get`` of one interface does not
render every interface of every card. The filter itself still runs on the result, so a
source that ignores the hint is merely slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from mso.filters import KeyIndex, merge_into
from mso.sampling import EVERYTHING, Selection
from server.datastore import RunningDatastore, empty_data


Produce = Callable[[Selection], Iterable[etree._Element]]


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
