"""The control channel between the Master and its line-card agents: message types and framing.

Each message is a 4-byte big-endian length followed by one JSON object whose ``type`` names the
message. The agent opens the TCP connection; the Master sends a ``challenge`` (a nonce), the
agent answers with ``register`` carrying its own nonce and an HMAC proof that it holds the
secret both share (the Master's state dir keeps it), and the Master's ``register-reply`` proves
it holds it too. The secret never crosses the wire. After the reply either side may send at any
time. Messages are plain frozen data and the
codec is pure, so both ends and the fuzz tests share it.

Agent → Master: register, heartbeat, component-status, get-reply, data-report.
Master → Agent: challenge, register-reply, resources-assigned, component-create, component-modify,
component-delete, get-request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Union

import orjson

from mso.date_and_time import format_datetime, parse_datetime
from mso.subscription_model import Encoding, FilterSpec, OnChange, Periodic, Receiver, SubscriptionSpec

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a get-reply of a large card fits; a garbage length does not
_LENGTH = struct.Struct(">I")

Resource = tuple[tuple[str, ...], tuple[str, ...]]
"""A list entry: (schema path of the list as Clark names, key values)."""


class ControlChannelError(ValueError):
    """A message that cannot be decoded (bad length, not JSON, unknown type, missing fields)."""


# --- messages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capability:
    encodings: tuple[Encoding, ...] = (Encoding.JSON, Encoding.XML, Encoding.CBOR)
    minimum_period_cs: int = 1
    on_change: bool = True


@dataclass(frozen=True)
class Challenge:
    """The Master's first message: a nonce the agent's proof must cover."""

    TYPE: ClassVar[str] = "challenge"
    nonce: str


@dataclass(frozen=True)
class Register:
    TYPE: ClassVar[str] = "register"
    generator_id: int
    slot: int
    resources: tuple[Resource, ...]
    capability: Capability = Capability()
    nonce: str = ""  # the agent's, for the Master's proof
    proof: str = ""  # agent_proof(secret, challenge, nonce, generator_id)


@dataclass(frozen=True)
class RegisterReply:
    """``accepted`` false carries the reason; true carries what the agent needs to simulate its
    share of one device: the device's boot time and seed, and how often to send heartbeats."""

    TYPE: ClassVar[str] = "register-reply"
    accepted: bool
    reason: str = ""
    boot_time: float = 0.0
    seed: int = 1
    heartbeat_interval: float = 1.0
    proof: str = ""  # master_proof(secret, the agent's nonce, challenge), when accepted


@dataclass(frozen=True)
class Heartbeat:
    """The agent is alive; ``skipped`` counts, per component subscription that skipped any, the
    ticks it passed over since it started because the card could not keep up; ``samples``, how
    often it read its card and at how many instants (one reading per instant when several
    subscriptions share it)."""

    TYPE: ClassVar[str] = "heartbeat"
    skipped: tuple[tuple[int, int], ...] = ()  # (subscription id, ticks)
    samples: tuple[int, int] = (0, 0)  # readings of its data source, and the instants they served


@dataclass(frozen=True)
class ResourcesAssigned:
    """The Master moves resources to (added) or away from (removed) the agent. ``cards`` are
    the (slot, ports) of the cards the added ones come from, so the agent renders them as their
    home card does. The agent's gets follow at once; its components' samples from ``at`` (epoch
    seconds; None: at once), when the Master switches the subscriptions' originators."""

    TYPE: ClassVar[str] = "resources-assigned"
    added: tuple[Resource, ...] = ()
    removed: tuple[Resource, ...] = ()
    cards: tuple[tuple[int, int], ...] = ()
    at: float | None = None


@dataclass(frozen=True)
class ComponentCreate:
    """Run a component subscription: ``spec`` carries the global id, trigger, filter, encoding
    and receivers. ``report_to_master`` (centralized mode) sends each event to the Master over
    this channel instead of pushing it. ``at`` (epoch seconds; None: at once): its first sample
    is the first after then, when the Master announced the agent takes over."""

    TYPE: ClassVar[str] = "component-create"
    spec: SubscriptionSpec
    report_to_master: bool = False
    at: float | None = None


@dataclass(frozen=True)
class ComponentModify:
    """Run the component with ``spec`` instead, from ``at`` (None: at once)."""

    TYPE: ClassVar[str] = "component-modify"
    spec: SubscriptionSpec
    report_to_master: bool = False
    at: float | None = None


@dataclass(frozen=True)
class ComponentDelete:
    """Stop the component; from ``at`` (None: at once), it samples no more."""

    TYPE: ClassVar[str] = "component-delete"
    subscription_id: int
    at: float | None = None


@dataclass(frozen=True)
class ComponentStatus:
    TYPE: ClassVar[str] = "component-status"
    subscription_id: int
    state: str  # "active" | "suspended" | "error"
    reason: str = ""


@dataclass(frozen=True)
class GetRequest:
    TYPE: ClassVar[str] = "get-request"
    request_id: int
    filter: FilterSpec | None = None


@dataclass(frozen=True)
class GetReply:
    """``data`` is a ``<data>`` element serialised as XML holding the agent's selected data."""

    TYPE: ClassVar[str] = "get-reply"
    request_id: int
    data: str = ""
    error: str = ""


@dataclass(frozen=True)
class DataReport:
    """Centralized mode: one event (push-update / push-change-update XML) for the Master to push."""

    TYPE: ClassVar[str] = "data-report"
    subscription_id: int
    event_time: float
    event: str


Message = Union[Challenge, Register, RegisterReply, Heartbeat, ResourcesAssigned, ComponentCreate,
                ComponentModify, ComponentDelete, ComponentStatus, GetRequest, GetReply, DataReport]
_TYPES: dict[str, type] = {cls.TYPE: cls for cls in Message.__args__}  # type: ignore[attr-defined]


# --- proofs -----------------------------------------------------------------------------------

SECRET_FILE = "agent-secret"  # in the Master's state dir: the secret agents share with it, hex


def new_nonce() -> str:
    return secrets.token_hex(16)


def agent_proof(secret: bytes, challenge: str, nonce: str, generator_id: int) -> str:
    """What an agent sends to show it holds ``secret``, bound to this connection and identity."""
    return hmac.new(secret, f"agent|{challenge}|{nonce}|{generator_id}".encode(), hashlib.sha256).hexdigest()


def master_proof(secret: bytes, nonce: str, challenge: str) -> str:
    """What the Master sends back to show it holds ``secret`` too."""
    return hmac.new(secret, f"master|{nonce}|{challenge}".encode(), hashlib.sha256).hexdigest()


def proof_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def read_secret(path: Path) -> bytes:
    """The shared secret from its file; ControlChannelError when it cannot be read."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except OSError as error:
        raise ControlChannelError(f"cannot read the agent secret {path}: {error.strerror or error}") from None
    except ValueError:
        raise ControlChannelError(f"{path} does not hold an agent secret (hex)") from None


# --- JSON forms -------------------------------------------------------------------------------

def _resources_out(resources: tuple[Resource, ...]) -> list[list[list[str]]]:
    return [[list(path), list(keys)] for path, keys in resources]


def _resources_in(raw: Any) -> tuple[Resource, ...]:
    resources = []
    for path, keys in raw:
        if not all(isinstance(p, str) for p in path) or not all(isinstance(k, str) for k in keys):
            raise ControlChannelError("a resource is a list path and key values, all strings")
        resources.append((tuple(path), tuple(keys)))
    return tuple(resources)


def _time_out(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


def _time_in(raw: str | None) -> datetime | None:
    return None if raw is None else parse_datetime(raw)


def _filter_out(spec: FilterSpec | None) -> dict | None:
    if spec is None:
        return None
    return {"kind": spec.kind, "subtree": spec.subtree_xml.decode(), "xpath": spec.xpath,
            "namespaces": [list(pair) for pair in spec.namespaces]}


def _filter_in(raw: dict | None) -> FilterSpec | None:
    if raw is None:
        return None
    return FilterSpec(raw["kind"], raw["subtree"].encode(), raw["xpath"],
                      tuple((prefix, uri) for prefix, uri in raw["namespaces"]))


def _trigger_out(trigger: Periodic | OnChange | None) -> dict | None:
    if isinstance(trigger, Periodic):
        return {"periodic": trigger.period_cs, "anchor-time": _time_out(trigger.anchor_time)}
    if isinstance(trigger, OnChange):
        return {"dampening": trigger.dampening_cs, "sync-on-start": trigger.sync_on_start,
                "excluded-changes": list(trigger.excluded_changes)}
    return None


def _trigger_in(raw: dict | None) -> Periodic | OnChange | None:
    if raw is None:
        return None
    if "periodic" in raw:
        return Periodic(int(raw["periodic"]), _time_in(raw["anchor-time"]))
    return OnChange(int(raw["dampening"]), bool(raw["sync-on-start"]), tuple(raw["excluded-changes"]))


def spec_to_json(spec: SubscriptionSpec) -> dict:
    return {
        "id": spec.id, "stream": spec.stream, "datastore": spec.datastore, "filter": _filter_out(spec.filter),
        "trigger": _trigger_out(spec.trigger), "encoding": spec.encoding.value, "stop-time": _time_out(spec.stop_time),
        "configured": spec.configured,
        "receivers": [{"name": r.name, "address": r.address, "port": r.port, "segmentation": r.enable_segmentation,
                       "max-segment-size": r.max_segment_size} for r in spec.receivers],
    }


def spec_from_json(raw: dict) -> SubscriptionSpec:
    receivers = tuple(Receiver(r["name"], r["address"], int(r["port"]), bool(r["segmentation"]), r["max-segment-size"])
                      for r in raw["receivers"])
    return SubscriptionSpec(id=int(raw["id"]), stream=raw["stream"], datastore=raw["datastore"],
                            filter=_filter_in(raw["filter"]), trigger=_trigger_in(raw["trigger"]),
                            encoding=Encoding(raw["encoding"]), stop_time=_time_in(raw["stop-time"]),
                            configured=bool(raw["configured"]), receivers=receivers)


def _to_json(message: Message) -> dict:
    body: dict[str, Any] = {"type": message.TYPE}
    for name in (f.name for f in fields(message)):
        value = getattr(message, name)
        if name in ("resources", "added", "removed"):
            value = _resources_out(value)
        elif name == "spec":
            value = spec_to_json(value)
        elif name == "filter":
            value = _filter_out(value)
        elif name == "capability":
            value = {"encodings": [e.value for e in value.encodings], "minimum-period": value.minimum_period_cs,
                     "on-change": value.on_change}
        body[name] = value
    return body


def _from_json(body: dict) -> Message:
    cls = _TYPES.get(body.pop("type", None))
    if cls is None:
        raise ControlChannelError("unknown message type")
    for name in ("resources", "added", "removed"):
        if name in body:
            body[name] = _resources_in(body[name])
    if "cards" in body:
        body["cards"] = tuple((int(slot), int(ports)) for slot, ports in body["cards"])
    if "skipped" in body:
        body["skipped"] = tuple((int(sid), int(ticks)) for sid, ticks in body["skipped"])
    if "samples" in body:
        reads, instants = body["samples"]
        body["samples"] = (int(reads), int(instants))
    if body.get("at") is not None and not isinstance(body["at"], (int, float)):
        raise ControlChannelError("at must be a number of seconds")
    if "spec" in body:
        body["spec"] = spec_from_json(body["spec"])
    if "filter" in body:
        body["filter"] = _filter_in(body["filter"])
    if "capability" in body:
        raw = body["capability"]
        body["capability"] = Capability(tuple(Encoding(e) for e in raw["encodings"]), int(raw["minimum-period"]),
                                        bool(raw["on-change"]))
    _check_scalars(cls, body)
    return cls(**body)


_SCALARS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _check_scalars(cls: type, body: dict) -> None:
    """Scalar fields must hold their declared JSON type (true is not an int here)."""
    for spec in fields(cls):
        expected = _SCALARS.get(spec.type) if isinstance(spec.type, str) else None
        value = body.get(spec.name)
        if expected is None or spec.name not in body:
            continue
        if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
            raise ControlChannelError(f"{cls.TYPE}: {spec.name} must be {spec.type}")


# --- framing ----------------------------------------------------------------------------------

def encode(message: Message) -> bytes:
    payload = orjson.dumps(_to_json(message))
    return _LENGTH.pack(len(payload)) + payload


def decode(payload: bytes) -> Message:
    """One message from its JSON bytes (the part after the length)."""
    try:
        body = orjson.loads(payload)
        if not isinstance(body, dict):
            raise ControlChannelError("a message is a JSON object")
        return _from_json(body)
    except ControlChannelError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise ControlChannelError(f"malformed message: {error}") from None


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; ``asyncio.IncompleteReadError`` when the peer closed the connection."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_MESSAGE_BYTES:
        raise ControlChannelError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
    return decode(await reader.readexactly(length))


@dataclass
class Channel:
    """One end of an open control connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: str = field(default="")

    def send(self, message: Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(message))

    async def receive(self) -> Message:
        return await read_message(self.reader)

    def close(self) -> None:
        self.writer.close()
