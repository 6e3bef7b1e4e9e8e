"""What a subscription is, independent of how it was made (RFC 8639 dynamic or configured) and
of who runs it (the Master or an agent). Plain frozen data: the runner, the Master's service,
the agents and the control channel all pass these around.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum


class Encoding(str, Enum):
    """RFC 8639 encoding identities (sn:encode-xml, sn:encode-json) plus CBOR (RFC 9254)."""

    XML = "encode-xml"
    JSON = "encode-json"
    CBOR = "encode-cbor"


@dataclass(frozen=True)
class FilterSpec:
    """A subtree filter (its children as XML text, so the spec stays hashable) or an XPath one."""

    kind: str  # "subtree" | "xpath"
    subtree_xml: bytes = b""  # the filter element's children, serialized with their namespaces
    xpath: str = ""
    namespaces: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Periodic:
    period_cs: int  # centiseconds (RFC 8641 yp:period)
    anchor_time: datetime | None = None

    @property
    def anchor_seconds(self) -> float:
        """The anchor as POSIX seconds: ticks fall on it plus multiples of the period (the
        epoch when the subscription names none)."""
        return self.anchor_time.timestamp() if self.anchor_time else 0.0


@dataclass(frozen=True)
class OnChange:
    dampening_cs: int = 0
    sync_on_start: bool = True
    excluded_changes: tuple[str, ...] = ()  # yang-patch operations: create, delete, insert, move, replace


@dataclass(frozen=True)
class Receiver:
    """Where a pushed stream goes when it does not go back over the subscriber's session."""

    name: str
    address: str
    port: int
    enable_segmentation: bool = True
    max_segment_size: int | None = None


@dataclass(frozen=True)
class AgentReceiver:
    """Where line-card agents push their share of a dynamic subscription (mso-distributed-export):
    the subscriber's own session carries only the Master's share."""

    receiver: Receiver
    encoding: Encoding = Encoding.JSON


@dataclass(frozen=True)
class SubscriptionSpec:
    id: int
    stream: str | None = None  # event stream target (e.g. "NETCONF"), or
    datastore: str | None = None  # datastore target identity, e.g. "ds:running", "ds:operational"
    filter: FilterSpec | None = None
    trigger: Periodic | OnChange | None = None  # None for an event stream
    encoding: Encoding = Encoding.XML
    stop_time: datetime | None = None
    dscp: int | None = None
    weighting: int | None = None
    dependency: int | None = None
    configured: bool = False
    receivers: tuple[Receiver, ...] = field(default=())

    @property
    def is_datastore(self) -> bool:
        return self.datastore is not None


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def anchored(spec: SubscriptionSpec) -> SubscriptionSpec:
    """``spec`` with the anchor-time the publisher chooses when a periodic subscription names
    none (RFC 8641 leaves it to the publisher): the epoch plus a phase within the period that
    follows from what is sampled, so subscriptions of one datastore and filter tick together
    and share each sample, and different ones spread over the period instead of all ticking
    at once (500 sessions served in one burst make the last wait for the 499 before it). It is
    explicit from then on: every originator of the subscription ticks on it, and it is shown
    in ``/sn:subscriptions`` and the state notifications for collectors to slot by."""
    trigger = spec.trigger
    if not isinstance(trigger, Periodic) or trigger.anchor_time is not None:
        return spec
    period_ms = trigger.period_cs * 10
    phase_ms = zlib.crc32(repr((spec.datastore, spec.filter, trigger.period_cs)).encode()) % period_ms
    return replace(spec, trigger=replace(trigger, anchor_time=EPOCH + timedelta(milliseconds=phase_ms)))
