"""The message-bus data reporting and polling MnS at work on NATS JetStream.

What running says (``message_bus_config``) is brought about here, and kept so:

- the broker: on a loopback ``brokerEndpoint`` where nothing listens the Master starts its own
  nats-server (storage and configuration in the state dir); otherwise it connects to the one
  that answers;
- each unlocked reporting job: a stream for its topic, a configured YANG-Push subscription that
  the placement engine decomposes like any other, and a route that tells the Master's collector
  (a supervised ``mso collector`` child) to publish that subscription's records to the topic;
- each polling job: a durable consumer per topic, and the broker's own authorisation, so that
  its consumer may read those topics through those consumers and nothing else (reloaded when
  jobs change; a deleted job's user is cut off at once);
- data collection coordination (``coordination``): a polling job that asks for data is served
  its share of the topic of the collection serving it (cut by a bus worker), an operator's
  reporting job or a system-created one
  (``sys-N``, a reporting job in operational data only, with its own stream, subscription and
  route), widened, narrowed and ended as the decisions say;
- the polling jobs a bus worker serves (``BusPlan.shaped``: those with formatting or
  processing instructions, and those that ask for data, whose share of their collection the
  worker cuts): their instructions in the KV bucket the bus workers read, a durable
  ``bus-worker`` on each topic they read, a stream of their own deliveries that their consumer
  reads instead of the topic, and the bus worker the Master runs as a child;
- the read-only attributes: operational states with their reasons, records and bytes
  published, who shares which collection and how each was decided, consumers' deliveries, lag
  and last acknowledgement.

Everything happens in one task that converges on the latest configuration, so commits never
wait for the broker, and a broker that cannot be reached is retried while the jobs say why
they are disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nats
from lxml import etree
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import KeyNotFoundError, NoKeysError, NotFoundError

from mso import bus
from mso.atomic_file import write_atomically
from mso.date_and_time import format_datetime, format_epoch
from mso.filters import KeyIndex
from mso.generators import MASTER_GENERATOR
from mso.namespaces import MESSAGE_BUS, NRM, SUBSCRIBED_NOTIFICATIONS, qn
from mso.rpc_error import RpcError
from mso.subscription_model import Receiver, SubscriptionSpec
from server.datastore import Commit
from server.event_stream import NETCONF_STREAM, compile_stream_filter
from server.nrm.collector_process import CollectorProcess
from server.nrm.coordination import BusPlan, Coordination, plan
from server.nrm.message_bus_config import (FAULT, PATH_NAMESPACES, PERFORMANCE, PROPRIETARY, BusConfig, BusConfigError,
                                           PollingJob, ReportingJob, check, check_one_function, job_subscription,
                                           read_bus_config)
from server.nrm.supervised_child import SupervisedChild
from server.nrm.worker_process import bus_worker

log = logging.getLogger("mso.bus")
FIRST_JOB_SUBSCRIPTION = 2**31  # reporting jobs' subscription ids; below are dynamic and user-configured ones
MASTER_USER, COLLECTOR_USER = "mso-master", "mso-collector"
RETRY_SECONDS = 2.0
CLOSE_SECONDS = 2.0  # a client of a broker that is gone gets this long to close
SETTING_UP = "being set up: the broker is not yet in line with this configuration"
WORKER_PIN_TIMEOUT = 5.0  # seconds a silent bus worker keeps its topics before another gets them
REFRESH_SECONDS = 1.0
ENABLED, DISABLED = "ENABLED", "DISABLED"
_DELIVER = {"FROM_START": DeliverPolicy.ALL, "FROM_TIME": DeliverPolicy.BY_START_TIME, "NEW_ONLY": DeliverPolicy.NEW}
MB = MESSAGE_BUS
ToJson = Callable[[etree._Element], dict]


@dataclass
class Published:
    messages: int = 0
    bytes: int = 0
    last: float | None = None


@dataclass
class Consumed:
    delivered: int = 0
    pending: int = 0
    last_acknowledged: datetime | None = None


@dataclass(frozen=True)
class BusSettings:
    """How the Master reaches the bus when it does not run it all itself."""

    credentials: tuple[str, str] | None = None  # user and password on an external broker
    collector: tuple[str, int] | None = None  # an external collector's UDP address (run with --bus-routes)


class _Persisted:
    """What must survive a restart: the jobs' subscription ids, the coordination decisions and
    the Master's own broker passwords (state dir, mode 0600)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        stored = json.loads(path.read_text()) if path.exists() else {}
        self.subscription_ids: dict[str, int] = stored.get("subscription-ids", {})
        self.passwords: dict[str, str] = stored.get("passwords", {})
        self.coordination = Coordination.from_json(stored.get("coordination", {}))

    def decide(self, config: BusConfig, keys: KeyIndex) -> BusPlan:
        """The bus as ``config`` and the decisions so far make it (the new decisions kept)."""
        decided = plan(self.coordination, config, keys)
        if decided.coordination != self.coordination:
            self.coordination = decided.coordination
            self.save()
        return decided

    def password(self, user: str) -> str:
        if user not in self.passwords:
            self.passwords[user] = secrets.token_urlsafe(24)
            self.save()
        return self.passwords[user]

    def subscription_id(self, job_id: str) -> int:
        if job_id not in self.subscription_ids:
            taken = set(self.subscription_ids.values())
            self.subscription_ids[job_id] = next(i for i in range(FIRST_JOB_SUBSCRIPTION, 2**32) if i not in taken)
            self.save()
        return self.subscription_ids[job_id]

    def keep(self, job_ids: set[str]) -> None:
        if set(self.subscription_ids) - job_ids:
            self.subscription_ids = {j: i for j, i in self.subscription_ids.items() if j in job_ids}
            self.save()

    def save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self._path, json.dumps({"subscription-ids": self.subscription_ids, "passwords": self.passwords,
                                                 "coordination": self.coordination.to_json()}, indent=2).encode())


@dataclass
class _Broker:
    """The connection the Master holds, and the server it runs (if it does)."""

    endpoint: bus.Endpoint
    client: nats.NATS
    embedded: bus.EmbeddedBroker | None = None
    users: list[bus.BrokerUser] = field(default_factory=list)

    @property
    def version(self) -> str:
        return str(self.client._server_info.get("version", ""))


class MessageBus:
    def __init__(self, state_dir: Path, running_root: Callable[[], etree._Element], *, to_json: ToJson, keys: KeyIndex,
                 settings: BusSettings = BusSettings(), announce: Callable[[str], None] = lambda line: None) -> None:
        self._home = state_dir / "bus"
        self._running_root = running_root
        self._to_json = to_json
        self._keys = keys
        self._sending: set[asyncio.Task] = set()
        self._settings = settings
        self._announce = announce
        self._persisted = _Persisted(self._home / "bus.json")
        self.on_receivers_changed: list[Callable[[], None]] = []
        self.on_collector_restarted: list[Callable[[list[int]], None]] = []
        self._broker: _Broker | None = None
        self._collector: CollectorProcess | None = None
        self._worker: SupervisedChild | None = None
        self._problem = "not started"
        self._converged: BusPlan | None = None  # what the bus was last brought in line with
        self._published: dict[str, Published] = {}
        self._consumed: dict[str, Consumed] = {}
        self._wanted = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._converging = False

    # --- what the rest of the Master asks ---------------------------------------------------------

    def check(self, data: etree._Element) -> None:
        """The configuration check of a new running datastore (before it is committed)."""
        try:
            check_one_function(data)
            check(read_bus_config(data))
        except BusConfigError as error:
            raise RpcError(error.error_tag, error.message, type="application", app_tag=error.app_tag,
                           path=error.path, path_namespaces=PATH_NAMESPACES) from None
        reserved = [i for i in data.iterfind(f"{{{SUBSCRIBED_NOTIFICATIONS}}}subscriptions/"
                                             f"{{{SUBSCRIBED_NOTIFICATIONS}}}subscription/{{{SUBSCRIBED_NOTIFICATIONS}}}id")
                    if (i.text or "").strip().isdigit() and int(i.text) >= FIRST_JOB_SUBSCRIPTION]
        if reserved:
            value = reserved[0].text.strip()
            raise RpcError("invalid-value", f"subscription ids from {FIRST_JOB_SUBSCRIPTION} are the message-bus "
                           "reporting jobs'", type="application", path=f"/sn:subscriptions/sn:subscription[sn:id='{value}']",
                           path_namespaces={"sn": SUBSCRIBED_NOTIFICATIONS})

    def job_subscriptions(self, data: etree._Element) -> list[SubscriptionSpec]:
        """The configured subscriptions the reporting jobs in ``data`` need, pushed to the
        Master's collector (to nobody until it runs)."""
        config = read_bus_config(data)
        if config is None:
            self._persisted.keep(set())
            return []
        reporting = self._persisted.decide(config, self._keys).reporting
        self._persisted.keep({job.id for job in reporting})
        receivers = self._receivers()
        specs = (job_subscription(job, self._persisted.subscription_id(job.id), receivers)
                 for job in reporting if job.data_type == PERFORMANCE)
        return [spec for spec in specs if spec is not None]

    def _receivers(self) -> tuple[Receiver, ...]:
        address = self._settings.collector or (self._collector.address if self._collector else None)
        return () if address is None else (Receiver("mso-bus-collector", address[0], address[1]),)

    def running_committed(self, commit: Commit) -> None:
        self._wanted.set()

    def event(self, stream: str, event: etree._Element, event_time: float) -> None:
        """An event on the Master's event stream: published to every unlocked PROPRIETARY job's
        topic that its selector passes."""
        config = read_bus_config(self._running_root())
        if self._broker is None or config is None or stream != NETCONF_STREAM:
            return
        for job in config.reporting:
            if not job.unlocked or job.data_type != PROPRIETARY:
                continue
            selected = compile_stream_filter(job.selector, self._keys)
            passed = selected(event) if selected is not None else event
            if passed is None:
                continue
            ((name, body),) = self._to_json(passed).items()
            record = {"kind": "event", "time": format_epoch(event_time), "event": name, "generator": MASTER_GENERATOR,
                      "data": body}
            task = asyncio.get_running_loop().create_task(self._send(bus.topic_subject(job.topic), record))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, subject: str, record: dict) -> None:
        broker = self._broker
        if broker is None:
            return
        try:
            await broker.client.jetstream().publish(subject, json.dumps(record).encode(), timeout=5)
        except (NatsError, asyncio.TimeoutError) as error:
            log.warning("bus-event-not-published", extra={"fields": {"subject": subject, "error": str(error)}})

    # --- life -------------------------------------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> None:
        """Bring the bus in line with running, waiting at most ``timeout`` (then in the background)."""
        self._task = asyncio.get_running_loop().create_task(self._converge_forever())
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())
        self._wanted.set()
        deadline = time.monotonic() + timeout
        while self._wanted.is_set() or self._converging:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in (self._task, self._refresher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._teardown()

    async def _converge_forever(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            self._converging = True
            try:
                await self._converge(read_bus_config(self._running_root()))
                self._problem = ""
            except (bus.BusError, NatsError, OSError, asyncio.TimeoutError) as error:
                self._problem = str(error) or type(error).__name__
                log.warning("bus-unavailable", extra={"fields": {"reason": self._problem}})
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._wanted.set)
            except asyncio.CancelledError:
                if _cancelled_from_outside():
                    raise
                # a library's own cancellation leaking out (nats-py closing a client cut off while
                # it reconnects) must not end the task that keeps the bus in line: retry
                self._problem = "interrupted while bringing the bus in line"
                log.warning("bus-converge-interrupted")
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._wanted.set)
            except Exception as error:  # a bug here must not stop the bus for good: say so and retry
                self._problem = f"internal error: {error!r}"
                log.exception("bus-converge-failed")
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._wanted.set)
            finally:
                self._converging = False

    async def _converge(self, config: BusConfig | None) -> None:
        if config is None:
            await self._teardown()
            self._problem = "no MessageBrokingFunction is configured"
            return
        bus_plan = self._persisted.decide(config, self._keys)
        broker = await self._ensure_broker(bus.parse_endpoint(config.endpoint), bus_plan)
        jetstream = broker.client.jetstream()
        await self._ensure_streams(jetstream, bus_plan)
        await self._ensure_routes(jetstream, bus_plan)
        await self._ensure_consumers(jetstream, bus_plan)
        await self._ensure_instructions(jetstream, bus_plan)
        await self._ensure_collector(broker)
        await self._ensure_worker(broker)
        self._converged = bus_plan

    async def _teardown(self) -> None:
        for child in (self._collector, self._worker):
            if child is not None:
                await child.stop()
        self._collector = self._worker = None
        self._converged = None
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.client.close()
            if broker.embedded is not None:
                broker.embedded.stop()
                self._announce(f"message bus: stopped nats-server at {broker.endpoint.url}")

    # --- the broker ------------------------------------------------------------------------------------

    async def _ensure_broker(self, endpoint: bus.Endpoint, bus_plan: BusPlan) -> _Broker:
        broker = self._broker
        if broker is not None and broker.embedded is not None and not broker.embedded.alive:
            # its streams, consumers and routes are in the store it restarts on; the old client,
            # reconnecting to a server that is gone, may never finish closing
            with contextlib.suppress(NatsError, asyncio.TimeoutError):
                await asyncio.wait_for(broker.client.close(), CLOSE_SECONDS)
            self._broker = broker = None
        if broker is not None and broker.endpoint != endpoint:
            await self._teardown()
            broker = None
        users = self._users(bus_plan)
        if broker is None:
            broker = self._broker = await self._open_broker(endpoint, users)
        elif broker.embedded is not None and users != broker.users:
            broker.embedded.reload(users)
            broker.users = users
            log.info("bus-authorization-reloaded", extra={"fields": {"users": len(users)}})
        return broker

    async def _open_broker(self, endpoint: bus.Endpoint, users: list[bus.BrokerUser]) -> _Broker:
        embedded = None
        if endpoint.loopback and not await asyncio.to_thread(endpoint.listening):
            embedded = bus.EmbeddedBroker(endpoint, self._home / "nats", on_exit=self._broker_exited)
            await embedded.start(users)
            user, password = MASTER_USER, self._persisted.password(MASTER_USER)
        else:
            user, password = self._settings.credentials or (None, None)
        try:
            client = await bus.connect(endpoint.url, user=user, password=password, name="mso-master")
        except bus.BusError:
            if embedded is not None:
                embedded.stop()
            raise
        broker = _Broker(endpoint, client, embedded, users)
        await client.subscribe(f"{bus.TOPIC_PREFIX}.>", cb=self._count_published)
        await client.subscribe(f"{bus.JOBS_PREFIX}.*.*", cb=self._describe_job)
        how = "started nats-server" if embedded else "connected to the broker"
        self._announce(f"message bus: {how} {broker.version} at {endpoint.url}"
                       + (f" (store {embedded.home})" if embedded else ""))
        return broker

    def _broker_exited(self) -> None:
        """Our nats-server ended without being asked to: start it again on the same store."""
        log.warning("bus-broker-exited", extra={"fields": {"log": str(self._home / "nats" / "nats-server.log")}})
        self._wanted.set()

    def _users(self, bus_plan: BusPlan) -> list[bus.BrokerUser]:
        """Who may use the Master's own broker: the Master, its collector, its bus workers, and
        each polling job's consumer with exactly its grants."""
        collector_publish = (f"{bus.TOPIC_PREFIX}.>", *bus.kv_reader_grants(bus.ROUTES_BUCKET))
        worker_publish = (f"{bus.JS_API}.CONSUMER.MSG.NEXT.*.{bus.WORKER_DURABLE}", f"$JS.ACK.*.{bus.WORKER_DURABLE}.>",
                          f"{bus.DELIVERY_PREFIX}.>", *bus.kv_reader_grants(bus.INSTRUCTIONS_BUCKET))
        users = [bus.BrokerUser(MASTER_USER, self._persisted.password(MASTER_USER)),
                 bus.BrokerUser(COLLECTOR_USER, self._persisted.password(COLLECTOR_USER), collector_publish,
                                (f"{bus.inbox_prefix(COLLECTOR_USER)}.>",)),
                 bus.BrokerUser(bus.WORKER_USER, self._persisted.password(bus.WORKER_USER), worker_publish,
                                (f"{bus.inbox_prefix(bus.WORKER_USER)}.>", f"{bus.FETCH_PREFIX}.>"), responses=True)]
        for job in bus_plan.config.polling:
            shaped = bus_plan.shaped(job)
            publish, subscribe = bus.consumer_grants(job.consumer, job.id, bus_plan.topics(job), instructed=shaped,
                                                     fetch=shaped and _fetched(job))
            users.append(bus.BrokerUser(job.consumer, job.secret, publish, subscribe))
        return bus.merge_users(users)

    async def _count_published(self, message: nats.aio.msg.Msg) -> None:
        counts = self._published.setdefault(message.subject, Published())
        counts.messages += 1
        counts.bytes += len(message.data)
        counts.last = time.time()

    async def _describe_job(self, message: nats.aio.msg.Msg) -> None:
        """What a polling job lets the consumer that asks read (the subject names them both;
        the broker lets only that consumer publish on it)."""
        _, _, consumer, job_id = message.subject.split(".", 3)
        config = read_bus_config(self._running_root())
        job = next((j for j in config.polling if j.id == job_id and j.consumer == consumer), None) if config else None
        if job is None:
            answer: dict = {"error": f"no polling job {job_id!r} for consumer {consumer!r}"}
        else:
            bus_plan = self._persisted.decide(config, self._keys)
            topics = bus_plan.topics(job)
            shaped = bus_plan.shaped(job)
            subjects = ([bus.delivery_subject(job.id)] if shaped
                        else [bus.topic_subject(topic) for topic in sorted(set(topics))])
            answer = {"job": job.id, "consumer": consumer, "durable": bus.durable_name(job.id),
                      "replay": bus.replay_name(job.id), "topics": list(topics),
                      "streams": bus.job_streams(job.id, topics, instructed=shaped), "subjects": subjects,
                      "fetch": _fetched(job)}
        if message.reply:
            await message.respond(json.dumps(answer).encode())

    # --- streams, routes, consumers --------------------------------------------------------------------

    async def _ensure_streams(self, jetstream: nats.js.JetStreamContext, bus_plan: BusPlan) -> None:
        """A stream per topic, and one per polling job a worker serves, for its own deliveries."""
        wanted = {bus.topic_stream(job.topic): bus.topic_subject(job.topic) for job in bus_plan.reporting}
        wanted |= {bus.delivery_stream(job.id): bus.delivery_subject(job.id)
                   for job in bus_plan.config.polling if bus_plan.shaped(job)}
        names = {info.config.name for info in await jetstream.streams_info()}
        for stream, subject in wanted.items():
            if stream not in names:
                await jetstream.add_stream(StreamConfig(name=stream, subjects=[subject]))
                log.info("bus-stream-created", extra={"fields": {"stream": stream}})
        for stream in names:
            if stream.startswith((bus.TOPIC_STREAM_PREFIX, bus.DELIVERY_STREAM_PREFIX)) and stream not in wanted:
                await jetstream.delete_stream(stream)
                log.info("bus-stream-deleted", extra={"fields": {"stream": stream}})

    async def _ensure_routes(self, jetstream: nats.js.JetStreamContext, bus_plan: BusPlan) -> None:
        try:
            routes = await jetstream.key_value(bus.ROUTES_BUCKET)
        except NotFoundError:
            routes = await jetstream.create_key_value(bucket=bus.ROUTES_BUCKET, history=1)
        wanted = {str(self._persisted.subscription_id(job.id)): bus.topic_subject(job.topic)
                  for job in bus_plan.reporting if job.unlocked and job.data_type == PERFORMANCE}
        try:
            present = set(await routes.keys())
        except NoKeysError:
            present = set()
        for key, subject in wanted.items():
            await routes.put(key, subject.encode())
        for key in present - wanted.keys():
            await routes.delete(key)

    async def _ensure_consumers(self, jetstream: nats.js.JetStreamContext, bus_plan: BusPlan) -> None:
        """Each polling job's durable on each stream it reads, and the bus workers' on each
        topic a job they serve reads."""
        wanted: dict[tuple[str, str], PollingJob] = {}
        for job in bus_plan.config.polling:
            for stream in bus.job_streams(job.id, bus_plan.topics(job), instructed=bus_plan.shaped(job)):
                wanted[stream, bus.durable_name(job.id)] = job
        worked = {bus.topic_stream(bus_plan.topics(job)[0]) for job in bus_plan.config.polling if bus_plan.shaped(job)}
        streams = {bus.topic_stream(job.topic) for job in bus_plan.reporting}
        streams |= {bus.delivery_stream(job.id) for job in bus_plan.config.polling if bus_plan.shaped(job)}
        for stream in streams:
            for info in await jetstream.consumers_info(stream):
                name = info.name
                job = wanted.get((stream, name))
                if name.startswith("job-") and not name.endswith("-replay") and (
                        job is None or not _same_start(info.config, job)):
                    await jetstream.delete_consumer(stream, name)
                elif name == bus.WORKER_DURABLE and stream not in worked:
                    await jetstream.delete_consumer(stream, name)
        for (stream, name), job in wanted.items():
            try:
                await jetstream.consumer_info(stream, name)
            except NotFoundError:
                await jetstream.add_consumer(stream, _consumer_config(name, job))
                log.info("bus-consumer-created", extra={"fields": {"stream": stream, "consumer": name}})
        for stream in worked:
            await self._ensure_worker_consumer(stream)

    async def _ensure_worker_consumer(self, stream: str) -> None:
        """The workers' durable on ``stream``: pinned to one worker at a time (nats-py has no
        words for priority groups, so the request is written out), reading from what comes next."""
        broker = self._broker
        assert broker is not None
        name = bus.WORKER_DURABLE
        try:
            await broker.client.jetstream().consumer_info(stream, name)
            return
        except NotFoundError:
            pass
        config = {"durable_name": name, "name": name, "ack_policy": "explicit", "deliver_policy": "new",
                  "max_ack_pending": -1, "priority_groups": [bus.WORKER_GROUP], "priority_policy": "pinned_client",
                  "priority_timeout": int(WORKER_PIN_TIMEOUT * 1_000_000_000)}
        reply = await broker.client.request(f"{bus.JS_API}.CONSUMER.CREATE.{stream}.{name}",
                                            json.dumps({"stream_name": stream, "config": config}).encode(), timeout=10)
        error = json.loads(reply.data).get("error")
        if error:
            raise bus.BusError(f"cannot make consumer {name} on {stream}: {error.get('description', error)}")
        log.info("bus-consumer-created", extra={"fields": {"stream": stream, "consumer": name}})

    async def _ensure_instructions(self, jetstream: nats.js.JetStreamContext, bus_plan: BusPlan) -> None:
        """What the bus workers do for the polling jobs they serve, where they read it."""
        try:
            bucket = await jetstream.key_value(bus.INSTRUCTIONS_BUCKET)
        except NotFoundError:
            bucket = await jetstream.create_key_value(bucket=bus.INSTRUCTIONS_BUCKET, history=1)
        wanted = {job.id: json.dumps(instructions.to_wire(), sort_keys=True).encode()
                  for job in bus_plan.config.polling if (instructions := bus_plan.instructions(job)) is not None}
        try:
            present = set(await bucket.keys())
        except NoKeysError:
            present = set()
        for key, value in wanted.items():
            try:
                if (await bucket.get(key)).value == value:
                    continue
            except KeyNotFoundError:
                pass
            await bucket.put(key, value)
        for key in present - wanted.keys():
            await bucket.delete(key)

    # --- the collector ----------------------------------------------------------------------------------

    async def _ensure_collector(self, broker: _Broker) -> None:
        if self._settings.collector is not None or self._collector is not None:
            return
        self._collector = CollectorProcess(self._home / "collector.log", broker_url=broker.endpoint.url,
                                           user=COLLECTOR_USER, password=self._persisted.password(COLLECTOR_USER),
                                           on_restart=self._collector_restarted)
        if not await self._collector.start():
            raise bus.BusError(self._collector.failure or "the collector did not start")
        for callback in self.on_receivers_changed:
            callback()

    async def _ensure_worker(self, broker: _Broker) -> None:
        """The Master's bus worker, on its own broker (where the workers' user is the Master's to
        make); with another broker, polling jobs are not the Master's to serve."""
        if self._worker is not None or broker.embedded is None:
            return
        self._worker = bus_worker(self._home / "bus-worker.log", broker_url=broker.endpoint.url,
                                  password=self._persisted.password(bus.WORKER_USER))
        if not await self._worker.start():
            raise bus.BusError(self._worker.failure or "the bus worker did not start")

    def _collector_restarted(self) -> None:
        ids = sorted(self._persisted.subscription_ids.values())
        for callback in self.on_collector_restarted:
            callback(ids)

    # --- operational data ---------------------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            broker = self._broker
            config = read_bus_config(self._running_root())
            if broker is None or config is None:
                continue
            try:
                await self._refresh(broker.client.jetstream(), config)
            except (NatsError, asyncio.TimeoutError) as error:
                log.debug("bus-refresh-failed", extra={"fields": {"error": str(error)}})

    async def _refresh(self, jetstream: nats.js.JetStreamContext, config: BusConfig) -> None:
        bus_plan = self._persisted.decide(config, self._keys)
        for job in config.polling:
            consumed = Consumed()
            for stream in bus.job_streams(job.id, bus_plan.topics(job), instructed=bus_plan.shaped(job)):
                try:
                    info = await jetstream.consumer_info(stream, bus.durable_name(job.id))
                except NotFoundError:
                    continue
                consumed.delivered += info.delivered.consumer_seq if info.delivered else 0
                consumed.pending += (info.num_pending or 0) + (info.num_ack_pending or 0)
                acknowledged = info.ack_floor.last_active if info.ack_floor else None
                if acknowledged and (consumed.last_acknowledged is None or acknowledged > consumed.last_acknowledged):
                    consumed.last_acknowledged = acknowledged
            self._consumed[job.id] = consumed

    def state_nodes(self) -> list[etree._Element]:
        """The read-only attributes, under the same keys as running's configuration."""
        config = read_bus_config(self._running_root())
        if config is None:
            return []
        subnetwork = etree.Element(qn(NRM, "SubNetwork"), nsmap={None: NRM})
        etree.SubElement(subnetwork, qn(NRM, "id")).text = config.subnetwork
        function = etree.SubElement(subnetwork, qn(MB, "MessageBrokingFunction"), nsmap={None: MB})
        etree.SubElement(function, qn(MB, "id")).text = config.function
        attributes = etree.SubElement(function, qn(MB, "attributes"))
        self._state(attributes, self._problem)
        if self._broker is not None:
            etree.SubElement(attributes, qn(MB, "brokerVersion")).text = self._broker.version
        bus_plan = self._persisted.decide(config, self._keys)
        for job in bus_plan.reporting:
            etree.SubElement(attributes, qn(MB, "streams")).text = bus.topic_stream(job.topic)
        for job in bus_plan.reporting:
            self._reporting_state(function, job, bus_plan)
        for polling in config.polling:
            self._polling_state(function, polling, bus_plan)
        return [subnetwork]

    def _reporting_state(self, function: etree._Element, job: ReportingJob, bus_plan: BusPlan) -> None:
        attributes = _job_entry(function, "MessageBusDataReportingJob", job.id)
        if job.system_created:
            _system_job_configuration(attributes, job)
        if not job.unlocked:
            reason = "administrativeState is LOCKED"
        elif job.data_type == FAULT:
            reason = "this device has no fault (alarm) source to report"
        elif job.data_type == PERFORMANCE and not self._receivers():
            reason = self._problem or (self._collector.failure if self._collector else "") or "the collector is not running"
        elif not self._problem and (self._converged is None or job not in self._converged.reporting):
            reason = SETTING_UP
        else:
            reason = self._problem
        self._state(attributes, reason)
        if job.unlocked and job.data_type == PERFORMANCE:
            etree.SubElement(attributes, qn(MB, "subscriptionId")).text = str(self._persisted.subscription_id(job.id))
        published = self._published.get(bus.topic_subject(job.topic), Published())
        etree.SubElement(attributes, qn(MB, "messagesPublished")).text = str(published.messages)
        etree.SubElement(attributes, qn(MB, "bytesPublished")).text = str(published.bytes)
        if published.last is not None:
            etree.SubElement(attributes, qn(MB, "lastPublished")).text = format_epoch(published.last)
        etree.SubElement(attributes, qn(MB, "systemCreated")).text = "true" if job.system_created else "false"
        for polling in bus_plan.sharing(job):
            etree.SubElement(attributes, qn(MB, "pollingJobs")).text = polling
        for polling, assignment in sorted(bus_plan.coordination.assignments.items()):
            if assignment.job == job.id:
                served = etree.SubElement(attributes, qn(MB, "servedRequests"))
                etree.SubElement(served, qn(MB, "pollingJob")).text = polling
                etree.SubElement(served, qn(MB, "collectionStatus")).text = assignment.status

    def _polling_state(self, function: etree._Element, job: PollingJob, bus_plan: BusPlan) -> None:
        attributes = _job_entry(function, "MessageBusDataPollingJob", job.id)
        embedded = self._broker is not None and self._broker.embedded is not None
        reason = self._problem or ("" if embedded or self._broker is None else
                                   "the broker is not the Master's own: its authorisation is not kept by the Master")
        converged = self._converged
        if not reason and (converged is None or job not in converged.config.polling
                           or converged.topics(job) != bus_plan.topics(job)):
            reason = SETTING_UP
        self._state(attributes, reason)
        consumed = self._consumed.get(job.id, Consumed())
        etree.SubElement(attributes, qn(MB, "delivered")).text = str(consumed.delivered)
        etree.SubElement(attributes, qn(MB, "pending")).text = str(consumed.pending)
        if consumed.last_acknowledged is not None:
            etree.SubElement(attributes, qn(MB, "lastAcknowledged")).text = format_datetime(
                consumed.last_acknowledged.astimezone(timezone.utc))
        assignment = bus_plan.coordination.assignments.get(job.id)
        if assignment is not None:
            etree.SubElement(attributes, qn(MB, "servingReportingJob")).text = assignment.job
            etree.SubElement(attributes, qn(MB, "collectionStatus")).text = assignment.status

    @staticmethod
    def _state(attributes: etree._Element, reason: str) -> None:
        etree.SubElement(attributes, qn(MB, "operationalState")).text = DISABLED if reason else ENABLED
        if reason:
            etree.SubElement(attributes, qn(MB, "operationalStateReason")).text = reason


def _fetched(job: PollingJob) -> bool:
    return job.formatting is not None and job.formatting.cons_trig_notif


def _system_job_configuration(attributes: etree._Element, job: ReportingJob) -> None:
    """What an operator's job has in running, for one the Master made (it is in operational
    data only)."""
    etree.SubElement(attributes, qn(MB, "topic")).text = job.topic
    etree.SubElement(attributes, qn(MB, "managementDataType")).text = job.data_type
    if job.selector is not None:
        selector = etree.SubElement(attributes, qn(MB, "dataSelector"), nsmap=dict(job.selector.namespaces))
        selector.text = job.selector.xpath
    etree.SubElement(attributes, qn(MB, "reportingPeriod")).text = str(job.period_cs)
    etree.SubElement(attributes, qn(MB, "encoding")).text = job.encoding.name.lower()
    etree.SubElement(attributes, qn(MB, "administrativeState")).text = "UNLOCKED"


def _job_entry(function: etree._Element, kind: str, job_id: str) -> etree._Element:
    entry = etree.SubElement(function, qn(MB, kind))
    etree.SubElement(entry, qn(MB, "id")).text = job_id
    return etree.SubElement(entry, qn(MB, "attributes"))


def _consumer_config(name: str, job: PollingJob) -> ConsumerConfig:
    start = job.start_time.astimezone(timezone.utc).isoformat() if job.start_time and job.start == "FROM_TIME" else None
    return ConsumerConfig(durable_name=name, name=name, deliver_policy=_DELIVER[job.start], opt_start_time=start,
                          ack_policy=AckPolicy.EXPLICIT)


def _same_start(config: ConsumerConfig, job: PollingJob) -> bool:
    """Whether an existing durable reads from where the job says (else it is made again)."""
    if config.deliver_policy != _DELIVER[job.start]:
        return False
    if job.start != "FROM_TIME" or job.start_time is None:
        return True
    return str(config.opt_start_time or "")[:19] == job.start_time.astimezone(timezone.utc).isoformat()[:19]


def _cancelled_from_outside() -> bool:
    """Whether the running task itself was cancelled (rather than a CancelledError raised by
    something it awaited, about a task of that library's own)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
