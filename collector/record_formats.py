"""The shapes a record can leave the collector in (``--format``), on the output side: an output
renders each record when it writes it, so the receive path never pays for a format.

- ``record``: mso's own JSON (``Record.to_json``), the default.
- ``telemetry-message``: an ``ietf-telemetry-message:message`` (collector.telemetry_message),
  with what the collector knows when it writes the record: the subscription's parameters, where
  each generator's pieces came from, the device as the Master describes itself.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from collector.device_description import DeviceDescription
from collector.knowledge import Knowledge
from collector.reassembly import Record
from collector.stats import Stats
from collector.subscription_facts import ENCODE_JSON, ENCODE_XML, UDP_NOTIF, SubscriptionFacts
from collector.telemetry_message import Provenance, build
from collector.telemetry_structure import MessageInvalid, MessageSchema
from mso.generators import MASTER_GENERATOR
from mso.schema import Schema

log = logging.getLogger("mso.collector")
RECORD, TELEMETRY_MESSAGE = "record", "telemetry-message"
FORMATS = (RECORD, TELEMETRY_MESSAGE)
COUNTER32 = 2**32
_WILDCARDS = ("0.0.0.0", "::", "")

Render = Callable[[Record], dict]


class MasterSession(Protocol):
    """What a telemetry message needs of the collector's NETCONF session with the Master."""

    @property
    def endpoint(self) -> tuple[str, int]: ...  # the Master's address and port

    @property
    def local_address(self) -> tuple[str, int] | None: ...  # ours, on the session

    @property
    def device(self) -> DeviceDescription | None: ...


def collector_manifest() -> dict[str, str]:
    """This collector's platform-details: mso's collector, its version, the OS it runs on."""
    try:
        version = importlib.metadata.version("mso-telemetry")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": "mso collector", "vendor": "mso", "software-version": version,
            "os-version": platform.release() or "unknown", "os-type": platform.system() or "unknown"}


def module_revisions(schema: Schema) -> dict[str, str]:
    """Module name -> revision in the collector's schema, for devices that do not say."""
    return {module.name: module.revision for module in schema.modules if module.revision}


class TelemetryMessages:
    """Renders records as telemetry messages for one output, numbering them from 1 (the
    draft's ``sequence-number``, per output). The first message of each subscription is also
    checked against the modules, and a refusal logged: a Master's odd values show up at once."""

    def __init__(self, structure: MessageSchema, knowledge: Knowledge, stats: Stats, *,
                 listen: Callable[[], tuple[str, int]], master: Callable[[], MasterSession | None],
                 revisions: Mapping[str, str], manifest: Mapping[str, str],
                 wall_clock: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic) -> None:
        self._structure = structure
        self._knowledge = knowledge
        self._stats = stats
        self._listen = listen
        self._master = master
        self._revisions = revisions
        self._manifest = manifest
        self._wall_clock = wall_clock
        self._clock = clock
        self._sent = 0
        self._checked: set[int] = set()

    def __call__(self, record: Record) -> dict:
        self._sent += 1
        facts = self._knowledge.facts.get(record.subscription_id)
        master = self._master()
        provenance = {generator: self._provenance(generator, facts, master) for generator in record.present}
        collected = self._wall_clock() - max(0.0, self._clock() - record.last_arrival)
        message = self._structure.encode(build(
            record, facts=facts, provenance=provenance, device=master.device if master is not None else None,
            collector=self._manifest, collected_at=collected, sequence_number=self._sent % COUNTER32,
            revisions=self._revisions))
        if record.subscription_id not in self._checked:
            self._checked.add(record.subscription_id)
            self._check(record.subscription_id, message)
        return message

    def _provenance(self, generator: str, facts: SubscriptionFacts | None,
                    master: MasterSession | None) -> Provenance:
        dynamic = facts is not None and facts.dynamic
        if dynamic and generator == MASTER_GENERATOR and master is not None:
            return Provenance(master.endpoint, master.local_address, None, ENCODE_XML)  # over the NETCONF session
        counters = self._stats.generators.get(generator)
        host, port = self._listen()
        encoding = ENCODE_JSON if dynamic else facts.encoding if facts is not None else None  # agents: as asked
        return Provenance(counters.source if counters is not None else None,
                          None if host in _WILDCARDS else (host, port), UDP_NOTIF, encoding)

    def _check(self, subscription_id: int, message: dict) -> None:
        try:
            self._structure.validate(message)
        except MessageInvalid as error:
            log.warning("telemetry-message-invalid", extra={"fields": {"id": subscription_id, "error": str(error)}})
