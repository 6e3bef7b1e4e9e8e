"""The Master's event stream ``NETCONF`` (RFC 8639 §2.2): what goes on it (RFC 6470
``netconf-config-change`` after every commit of running) and how an event reaches each
subscription to the stream that its filter passes."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from lxml import etree

from mso.filters import FilterError, KeyIndex
from mso.namespaces import NETCONF_BASE, qn
from mso.sampling import apply_filter
from mso.subscription_model import FilterSpec
from server.config_events import netconf_config_change
from server.datastore import Commit
from server.subscription_table import StreamFilter, SubscriptionTable

NETCONF_STREAM = "NETCONF"
STREAMS = ((NETCONF_STREAM, "Notifications of this NETCONF server (RFC 6470 netconf-config-change ...)"),)
STREAM_NAMES = tuple(name for name, _ in STREAMS)
Clock = Callable[[], float]


def compile_stream_filter(selection: FilterSpec | None, keys: KeyIndex) -> StreamFilter | None:
    """A stream subscription's filter as a function: the event it passes (a copy), or None."""
    if selection is None:
        return None

    def passes(event: etree._Element) -> etree._Element | None:
        holder = etree.Element(qn(NETCONF_BASE, "data"))
        holder.append(copy.deepcopy(event))
        try:
            selected = apply_filter(holder, selection, keys)
        except FilterError:
            return None
        return selected[0] if len(selected) else None

    return passes


class EventStream:
    def __init__(self, table: SubscriptionTable, clock: Clock = time.time) -> None:
        self._table = table
        self._now = clock
        self.listeners: list[Callable[[str, etree._Element, float], None]] = []  # other takers of every event

    def publish(self, stream: str, event: etree._Element, event_time: float) -> None:
        """An event record on a stream goes to every subscription on it that its filter passes."""
        for listener in self.listeners:
            listener(stream, event, event_time)
        for subscription in self._table:
            if subscription.spec.stream != stream or subscription.suspended:
                continue
            passed = subscription.stream_filter(event) if subscription.stream_filter else event
            if passed is None:
                subscription.delivery.excluded += 1
                continue
            subscription.delivery.record(passed, event_time)

    def running_committed(self, commit: Commit) -> None:
        """A commit of running: RFC 6470 netconf-config-change on the NETCONF stream."""
        self.publish(NETCONF_STREAM, netconf_config_change(commit.who, commit.changes), self._now())
