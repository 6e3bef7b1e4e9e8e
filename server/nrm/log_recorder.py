"""The Logging NRM at work: an observer that records, for every LogInfo whose selection matches,
the operations invoked (with the data nodes and modules they touched), the notifications sent,
pushes summarised per subscription and period, and measurement jobs' contents, each with its
time and the consumer's identity; bounded by ``maxSize`` (wrap or halt), stopped at
``endTime``, persisted in the log store and readable as ``LogEntry`` in operational data.

Reading the logs is an operation too, but a ``get`` that returns LogEntry records is recorded
only by logs that name ``ietf-netconf:get`` explicitly, so a log never feeds itself through its
category. With no LogInfo configured, observing costs an attribute check per event.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from mso.date_and_time import format_epoch
from mso.namespaces import LOGGING, NETCONF_BASE, NRM, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.rpc_error import RpcError
from mso.subscription_model import OnChange, Periodic, SubscriptionSpec
from server.authz import Principal
from server.datastore import Commit
from server.nrm.log_store import LogStore, StoredRecord, record_size
from server.nrm.logging_config import (FAULT, PATH_NAMESPACES, PROV, STREAMING, LoggingConfigError, LogInfo, LogRegistry,
                                       check, read_logging_config)
from server.observation import NotificationSent, Observer, PushesSent, RpcEvent, SubscriptionChange

log = logging.getLogger("mso.logging")
FLUSH_SECONDS = 1.0  # a crash loses at most this much
LOG = LOGGING
_LOG_ENTRIES = f"{{{NRM}}}SubNetwork/{{{LOG}}}LogRegistry/{{{LOG}}}LogInfo/{{{LOG}}}LogEntry"
_STREAMING_NAMESPACES = frozenset({SUBSCRIBED_NOTIFICATIONS, YANG_PUSH})
_JOB_NAMES = {  # what a subscription change is called: (dynamic, configured)
    "started": ("establish-subscription", "subscription-started"),
    "modified": ("modify-subscription", "subscription-modified"),
    "ended": ("delete-subscription", "subscription-terminated"),
}


@dataclass
class _Log:
    """One LogInfo's records as the recorder accounts for them (stored and pending alike)."""

    info: LogInfo
    held: deque[tuple[int, int]] = field(default_factory=deque)  # (seq, size), oldest first
    size: int = 0
    next_seq: int = 1
    halted: bool = False

    def state(self, now: float) -> str:
        if now > self.info.end_time.timestamp():
            return "stopped"
        return "logFull" if self.halted else "logging"


class LogRecorder(Observer):
    def __init__(self, store: LogStore, running_root: Callable[[], etree._Element], module_of: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._running_root = running_root
        self._module_of = module_of
        self._now = clock
        self._registry: LogRegistry | None = None
        self._logs: dict[str, _Log] = {}
        self._pending: list[StoredRecord] = []
        self._flushing: list[StoredRecord] = []  # being written: still read from here until stored
        self._evicted: list[tuple[str, int]] = []
        self._dropped: set[str] = set()
        self._flusher: asyncio.Task | None = None

    # --- life -------------------------------------------------------------------------------------

    def start(self) -> None:
        held = self._store.sizes()
        self._configure(read_logging_config(self._running_root()), held)
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._flush()
        self._store.close()

    def check(self, data: etree._Element) -> None:
        """The configuration check of a new running datastore (before it is committed)."""
        try:
            check(data)
        except LoggingConfigError as error:
            raise RpcError(error.error_tag, error.message, type="application", app_tag=error.app_tag,
                           path=error.path, path_namespaces=PATH_NAMESPACES) from None

    def running_committed(self, commit: Commit) -> None:
        self._configure(read_logging_config(commit.after), {})

    def _configure(self, registry: LogRegistry | None, held: Mapping[str, list[tuple[int, int]]]) -> None:
        self._registry = registry
        wanted = {info.id: info for info in registry.logs} if registry else {}
        for gone in set(self._logs) - set(wanted):
            del self._logs[gone]
            self._dropped.add(gone)
            self._pending = [r for r in self._pending if r.log != gone]
        for log_id, info in wanted.items():
            current = self._logs.get(log_id)
            if current is None:
                current = self._logs[log_id] = _Log(info)
                for seq, size in held.get(log_id, ()):
                    current.held.append((seq, size))
                    current.size += size
                    current.next_seq = seq + 1
                self._dropped.discard(log_id)
            else:
                current.info = info
            self._make_room(current, 0)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush()

    async def _flush(self) -> None:
        if not (self._pending or self._evicted or self._dropped):
            return
        added, evicted, dropped = self._pending, self._evicted, self._dropped
        self._pending, self._evicted, self._dropped = [], [], set()
        self._flushing = added
        try:
            await asyncio.to_thread(self._store.write, added, evicted, dropped)
        except (OSError, sqlite3.Error) as error:  # a full disk: say so, keep recording in memory, try again
            log.error("log-store-write-failed", extra={"fields": {"error": str(error)}})
            self._pending = added + self._pending
            self._evicted = evicted + self._evicted
            self._dropped |= dropped
        finally:
            self._flushing = []

    # --- the observer -------------------------------------------------------------------------------

    def rpc(self, event: RpcEvent) -> None:
        if not self._logs:
            return
        operation = event.operation
        namespace = etree.QName(operation).namespace if operation else NETCONF_BASE
        name = self._qualified(operation) if operation else "ietf-netconf:rpc"
        category = STREAMING if namespace in _STREAMING_NAMESPACES else PROV
        reads_logs = event.read is not None and event.read.find(_LOG_ENTRIES) is not None
        logs = self._matching(category, name, explicit_only=reads_logs)
        if not logs:
            return
        nodes = [(node.path, dict(node.namespaces)) for node in event.nodes_read()]
        nodes += [(write.path, dict(write.namespaces)) for write in event.writes]
        modules = sorted({self._module_of.get(uri, prefix) for _, namespaces in nodes
                          for prefix, uri in namespaces.items()})
        operation_record: dict = {"name": name, "result": "failure" if event.error else "success",
                                  "nodes": [path for path, _ in nodes], "modules": modules}
        if event.datastore:
            operation_record["datastore"] = event.datastore
        if event.error is not None:
            operation_record["errorTag"] = event.error.tag
        self._record(logs, event.principal, self._now(), {"operationInvoked": operation_record})

    def notification(self, event: NotificationSent) -> None:
        if not self._logs:
            return
        category = STREAMING if etree.QName(event.name).namespace in _STREAMING_NAMESPACES else FAULT
        name = self._qualified(event.name)
        logs = self._matching(category, name)
        if logs:
            self._record(logs, event.owner, event.event_time, {"notificationInvoked": {
                "name": name, "subscriptionId": event.subscription_id, "receiver": [event.receiver]}})

    def pushes(self, event: PushesSent) -> None:
        if not self._logs:
            return
        for tag, count in event.counts.items():
            name = self._qualified(tag)
            logs = self._matching(STREAMING, name)
            if logs:
                self._record(logs, event.owner, event.until, {"notificationInvoked": {
                    "name": name, "subscriptionId": event.subscription_id, "receiver": list(event.receivers),
                    "count": count, "periodStart": format_epoch(event.since)}})

    def subscription(self, event: SubscriptionChange) -> None:
        if not self._logs:
            return
        dynamic, configured = _JOB_NAMES[event.change]
        name = f"ietf-subscribed-notifications:{configured if event.spec.configured else dynamic}"
        logs = self._matching(STREAMING, name)
        if logs:
            self._record(logs, event.owner, self._now(), {"performanceMetricCollected": {
                "subscriptionId": event.spec.id, "change": event.change, **_measurement_job(event.spec),
                "receivers": list(event.receivers), "generators": list(event.generators)}})

    def _qualified(self, clark: str) -> str:
        name = etree.QName(clark)
        return f"{self._module_of.get(name.namespace or '', 'ns')}:{name.localname}"

    def _matching(self, category: str, name: str, explicit_only: bool = False) -> list[_Log]:
        return [entry for entry in self._logs.values()
                if name in entry.info.names or (not explicit_only and category in entry.info.categories)]

    # --- overflow ---------------------------------------------------------------------------------------

    def _record(self, logs: Iterable[_Log], who: Principal, moment: float, content: dict) -> None:
        now = self._now()
        record = {"logTime": format_epoch(moment), "consumerIdentification": {
            "userName": who.user, "sessionId": who.session_id, "sourceAddress": who.source}, **content}
        size = record_size(record)
        for entry in logs:
            if entry.state(now) == "stopped" or not self._make_room(entry, size):
                continue
            seq = entry.next_seq
            entry.next_seq += 1
            entry.held.append((seq, size))
            entry.size += size
            self._pending.append(StoredRecord(entry.info.id, seq, moment, who.user, record))

    def _make_room(self, entry: _Log, size: int) -> bool:
        """Whether ``size`` more bytes fit, making room by wrapping where the log wraps."""
        limit = entry.info.max_size
        if entry.size + size <= limit:
            return True
        if not entry.info.wrap or size > limit:
            entry.halted = entry.halted or not entry.info.wrap
            return False
        evicted = set()
        while entry.held and entry.size + size > limit:
            seq, old = entry.held.popleft()
            entry.size -= old
            evicted.add((entry.info.id, seq))
        self._evicted += evicted
        self._pending = [r for r in self._pending if (r.log, r.seq) not in evicted]
        return True

    # --- operational data ----------------------------------------------------------------------------------

    def state_nodes(self) -> list[etree._Element]:
        """The logs' read-only attributes and their LogEntry records, under running's keys."""
        registry = self._registry
        if registry is None:
            return []
        now = self._now()
        subnetwork = etree.Element(qn(NRM, "SubNetwork"), nsmap={None: NRM})
        etree.SubElement(subnetwork, qn(NRM, "id")).text = registry.subnetwork
        registry_element = etree.SubElement(subnetwork, qn(LOG, "LogRegistry"), nsmap={None: LOG})
        etree.SubElement(registry_element, qn(LOG, "id")).text = registry.id
        for log_id, entry in self._logs.items():
            info = etree.SubElement(registry_element, qn(LOG, "LogInfo"))
            etree.SubElement(info, qn(LOG, "id")).text = log_id
            attributes = etree.SubElement(info, qn(LOG, "attributes"))
            etree.SubElement(attributes, qn(LOG, "currentSize")).text = str(entry.size)
            etree.SubElement(attributes, qn(LOG, "logState")).text = entry.state(now)
            etree.SubElement(attributes, qn(LOG, "logRecordCount")).text = str(len(entry.held))
            for stored in self.records(log_id):
                info.append(_log_entry(stored))
        return [subnetwork]

    def records(self, log_id: str) -> list[StoredRecord]:
        """A log's records, stored and pending, oldest first."""
        entry = self._logs.get(log_id)
        if entry is None:
            return []
        held = {seq for seq, _ in entry.held}
        written = self._store.read(log_id)
        unwritten = (r for r in self._flushing + self._pending if r.log == log_id)
        return sorted({r.seq: r for r in (*written, *unwritten) if r.seq in held}.values(), key=lambda r: r.seq)


def _measurement_job(spec: SubscriptionSpec) -> dict:
    """What a subscription measures and how, never what it measured."""
    job: dict = {"target": spec.datastore or spec.stream or "", "encoding": spec.encoding.value}
    selection = spec.filter
    if selection is not None:
        job["filter"] = selection.xpath if selection.kind == "xpath" else selection.subtree_xml.decode()
    if isinstance(spec.trigger, Periodic):
        job["period"] = spec.trigger.period_cs
    elif isinstance(spec.trigger, OnChange):
        job["dampeningPeriod"] = spec.trigger.dampening_cs
    return job


def _log_entry(stored: StoredRecord) -> etree._Element:
    entry = etree.Element(qn(LOG, "LogEntry"))
    etree.SubElement(entry, qn(LOG, "id")).text = str(stored.seq)
    _append(etree.SubElement(etree.SubElement(entry, qn(LOG, "attributes")), qn(LOG, "logEntry")), stored.record)
    return entry


def _append(parent: etree._Element, members: Mapping) -> None:
    """A record's JSON members as the module's nodes: objects are containers, lists leaf-lists."""
    for name, value in members.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            _append(etree.SubElement(parent, qn(LOG, name)), value)
        elif isinstance(value, list):
            for item in value:
                etree.SubElement(parent, qn(LOG, name)).text = str(item)
        else:
            etree.SubElement(parent, qn(LOG, name)).text = str(value)
