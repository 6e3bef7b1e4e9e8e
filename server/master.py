"""The Master publisher's composition root: it builds every part and wires each to the narrow
things it uses. Nothing here decides anything; the parts do."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from lxml import etree

from mso.device_sim import CardSpec, DeviceSimulator
from mso.generators import MASTER_PUBLISHER_ID
from mso.namespaces import (
    DISTRIBUTED_EXPORT,
    NACM,
    NETCONF_MONITORING,
    NRM,
    SUBSCRIBED_NOTIFICATIONS,
    YANG_LIBRARY,
    qn,
)
from mso.notification_encoding import EnvelopeCodec
from mso.sampling import (
    COMPONENT_LIST,
    HARDWARE_TOP,
    INTERFACE_LIST,
    INTERFACES_TOP,
    device_nodes,
)
from mso.schema import Schema, ValidationError
from mso.subscription_model import AgentReceiver
from mso.subscription_runner import JobFactory, SharedSampler
from mso.tree_diff import entry_paths
from mso.udp_notif_sender import UdpNotifPublisher
from mso.yang_json import YangJson
from server.activity_log import ActivityLog
from server.agent_registry import load_or_create_secret
from server.authz import SERVER, AccessPolicy, Gate
from server.configured_reconciler import ConfiguredReconciler
from server.datastore import DatastoreError, RunningDatastore
from server.delivery import PushSummaries
from server.dynamic_subscriptions import DynamicSubscriptions
from server.event_stream import STREAMS, EventStream
from server.login_guard import LoginGuard
from server.monitoring import netconf_state
from server.nacm import Nacm
from server.netconf_ops import ROLLBACK_ON_ERROR, DatastoreServices, NetconfOperations
from server.nrm.log_recorder import LogRecorder
from server.nrm.log_store import LogStore
from server.nrm.message_bus import BusSettings, MessageBus
from server.observation import DataNode, Observers
from server.operational import DatastoreSampler, DeviceReader, OperationalDatastore
from server.originators import Originators
from server.placement import Placement
from server.resource_location import Resource
from server.rpc import Dispatcher
from server.session import SEND_BUFFER_HIGH
from server.sessions import SessionRegistry
from server.ssh_transport import SshSettings, start_ssh
from server.subscription_requests import Limits
from server.subscription_state import streams_element, subscriptions_element
from server.subscription_table import SubscriptionTable
from server.whole_device import WholeDevice
from server.xpath_isolation import XPathIsolation

# Capabilities of RFC 6241 features the handlers implement beyond what the schema announces.
EXTRA_CAPABILITIES = ("urn:ietf:params:netconf:capability:validate:1.1", ROLLBACK_ON_ERROR)
OPERATIONAL_POLL_SECONDS = 1.0  # on-change of operational data: how often the sources are compared


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8300
    state_dir: Path = Path(".mso-state")
    users: tuple[tuple[str, str], ...] = ()
    authorized_keys: Path | None = None
    max_message_bytes: int = 16 * 1024 * 1024
    line_cards: int = 3
    ports_per_card: int = 48
    extra_yang_dirs: tuple[Path, ...] = field(default=())
    agent_host: str = "127.0.0.1"
    agent_port: int = 8301  # the agents' control channel; 0 picks a free port
    agent_timeout: float = 3.0  # seconds without a heartbeat before an agent is gone
    centralized: bool = False  # agents report to the Master, which pushes everything itself
    dynamic_receiver: AgentReceiver | None = None  # agents' receiver for dynamic subscriptions without one
    seed: int = 1  # of the simulated device; agents get it at registration
    bus: BusSettings = BusSettings()  # the message bus when the Master does not run it all itself
    recovery_users: tuple[str, ...] = ()  # users NACM does not restrict (RFC 8341 §3.4.6.2)
    passwords: bool = True  # password authentication offered (--no-password: keys only)
    max_sessions: int | None = None
    max_pending_bytes: int = SEND_BUFFER_HIGH  # unsent per session before its subscriptions are suspended
    limits: Limits = Limits()  # subscriptions: per session, in all, the shortest period
    xpath_budget: float = 2.0  # seconds a read's costly XPath filter may run (in a child process)


class Master:
    def __init__(self, config: ServerConfig, schema: Schema | None = None, policy: AccessPolicy | None = None,
                 announce: Callable[[str], None] = lambda line: None) -> None:
        self.config = config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.schema = schema = schema or Schema.load(config.extra_yang_dirs)
        keys = schema.key_index
        self._module_of = {m.namespace: m.name for m in schema.modules}
        self.running = RunningDatastore(config.state_dir)
        self._check_stored_config()

        self.logs = LogRecorder(LogStore(config.state_dir), lambda: self.running.root, self._module_of)
        self.observers = Observers([ActivityLog(), self.logs])
        self.nacm = Nacm(lambda: self.running.root, access_defaults=schema.access_defaults, keys=keys,
                         module_of=self._module_of, recovery_users=config.recovery_users)
        self.gate = Gate(policy or self.nacm, {m.name: m.namespace for m in schema.modules}, keys)
        self.dispatcher = Dispatcher(self.gate, self.observers, self._node_paths)
        self.capabilities = [*schema.hello_capabilities(), *EXTRA_CAPABILITIES]
        self.sessions = SessionRegistry(self.dispatcher, self.capabilities, config.max_message_bytes,
                                        max_sessions=config.max_sessions, max_pending_bytes=config.max_pending_bytes)
        self.logins = LoginGuard()

        self.device = DeviceSimulator(self._own_cards(), seed=config.seed)
        self.originators = Originators(keys, schema.prefix_namespaces, timeout=config.agent_timeout,
                                       centralized=config.centralized, boot_time=self.device.boot_time,
                                       seed=config.seed, agent_secret=load_or_create_secret(config.state_dir))
        self.originators.claim(self._own_resources())
        self.operational = OperationalDatastore(self.running, keys)
        self.xpath = XPathIsolation(config.xpath_budget)

        self.subscriptions = SubscriptionTable(self.observers)
        self.sampler = SharedSampler(DatastoreSampler(self.running, self.operational, keys))
        jobs = JobFactory(schema, self.sampler, publisher_id=MASTER_PUBLISHER_ID,
                          operational_poll=OPERATIONAL_POLL_SECONDS)
        self.whole = WholeDevice(self.operational, self.originators.gather_whole, keys,
                                 poll_seconds=OPERATIONAL_POLL_SECONDS)
        whole_jobs = JobFactory(schema, SharedSampler(self.whole), publisher_id=MASTER_PUBLISHER_ID,
                                operational_poll=OPERATIONAL_POLL_SECONDS)
        self.placement = Placement(self.originators, jobs, self.subscriptions, self.gate, keys, self.whole, whole_jobs)
        self.dynamic = DynamicSubscriptions(self.subscriptions, self.placement, self.gate, self.observers,
                                            limits=config.limits, dynamic_receiver=config.dynamic_receiver)
        self.bus = MessageBus(config.state_dir, lambda: self.running.root, to_json=YangJson(schema).event_to_json,
                              keys=keys, settings=config.bus, announce=announce)
        self.configured = ConfiguredReconciler(self.subscriptions, self.placement, self.gate, self.observers,
                                               schema.prefix_namespaces, state_dir=config.state_dir,
                                               derived=self.bus.job_subscriptions,
                                               max_subscriptions=config.limits.max_subscriptions)
        self.events = EventStream(self.subscriptions)
        self._push_summaries = PushSummaries(self.subscriptions.deliveries)
        self._udp: UdpNotifPublisher | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._wire()

    def _check_stored_config(self) -> None:
        try:
            self.schema.validate_config(self.running.root)
        except ValidationError as error:
            raise DatastoreError(f"{self.running.path}: stored configuration is invalid: {error.error_message}") from None

    def _own_cards(self) -> list[CardSpec]:
        """The main board and the line cards the Master simulates itself (those without an agent)."""
        ports = self.config.ports_per_card
        return [CardSpec(0, 0)] + [CardSpec(slot, ports) for slot in range(1, self.config.line_cards + 1)]

    def _own_resources(self) -> list[Resource]:
        return ([(COMPONENT_LIST, (name,)) for name in self.device.component_names()]
                + [(INTERFACE_LIST, (name,)) for name in self.device.interface_names()])

    def _node_paths(self, data: etree._Element) -> list[DataNode]:
        """What a reply carried, for the observers: its list entries and loose leaves."""
        return [DataNode(path, tuple(sorted(namespaces.items())))
                for path, namespaces in entry_paths(data, self.schema.key_index, self.schema.leaf_lists,
                                                    prefix_of=lambda ns: self._module_of.get(ns, "ns"))]

    def _wire(self) -> None:
        schema, dispatcher = self.schema, self.dispatcher
        reader = DeviceReader(self.operational, self.originators, schema.key_index)
        NetconfOperations(DatastoreServices(schema, self.running, self.gate, reader.read, self.sessions, self.xpath,
                                            config_checks=[self.configured.check, self.bus.check, self.logs.check])
                          ).register(dispatcher)
        self.dynamic.register(dispatcher)
        self.originators.register(dispatcher)

        self.running.preparers.append(self.configured.prepare_commit)
        self.running.listeners += [self.nacm.running_committed, self.configured.running_committed,
                                   self.placement.running_committed,
                                   self.events.running_committed, self.bus.running_committed,
                                   self.logs.running_committed]
        self.sessions.on_closed += [self.running.release, self.dynamic.session_closed]
        self.sessions.on_paused.append(self.placement.session_paused)
        self.originators.on_change.append(self.placement.redecompose)
        self.originators.on_report.append(self.placement.agent_report)
        self.originators.on_component_failed.append(self.placement.component_failed)
        self.originators.on_agent_left.append(self.placement.agent_left)
        self.events.listeners.append(self.bus.event)
        self.bus.on_receivers_changed.append(lambda: self.configured.reconcile(self.running.root, SERVER))
        self.bus.on_collector_restarted.append(self.configured.announce)
        self._add_state_sources()

    def _add_state_sources(self) -> None:
        keys, schema, add = self.schema.key_index, self.schema, self.operational.add_source
        add({HARDWARE_TOP, INTERFACES_TOP}, lambda s: device_nodes(self.device, s, keys), fresh=True,
            shaped=lambda shape, key, s: self.device.shaped_interfaces(shape, key,
                                                                       names=s.entry_names(INTERFACE_LIST, keys)))
        add({qn(DISTRIBUTED_EXPORT, "resource-location-table")},
            lambda s: [self.originators.element(self.placement.master_jobs(),
                                                (self.sampler.reads, self.sampler.instants))])
        add({qn(YANG_LIBRARY, "yang-library"), qn(YANG_LIBRARY, "modules-state")},
            lambda s: [schema.yang_library(), schema.modules_state()])
        add({qn(NETCONF_MONITORING, "netconf-state")},
            lambda s: [netconf_state(self.capabilities, schema.netconf_state_schemas(), self.running.lock_holder,
                                     [session.info for session in self.sessions], self.sessions.statistics,
                                     self.logins.failed)])
        add({qn(SUBSCRIBED_NOTIFICATIONS, "streams"), qn(SUBSCRIBED_NOTIFICATIONS, "subscriptions")},
            lambda s: [streams_element(STREAMS), subscriptions_element(self.subscriptions, self.originators.skipped_ticks)])
        add({qn(NACM, "nacm")}, lambda s: self.nacm.state_nodes())
        add({qn(NRM, "SubNetwork")}, lambda s: self.bus.state_nodes())
        add({qn(NRM, "SubNetwork")}, lambda s: self.logs.state_nodes())

    async def start(self, *, listen: bool = True) -> None:
        """Start serving. ``listen`` false (in-process tests) opens neither the SSH port nor the
        agents' control channel: sessions and agents are then whatever the caller plugs in."""
        if listen:
            await self.originators.registry.start(self.config.agent_host, self.config.agent_port)
        codec = EnvelopeCodec(self.schema, hostname=socket.gethostname())
        self._udp = await UdpNotifPublisher.open(MASTER_PUBLISHER_ID, codec)
        await self.bus.start()  # first, so the reporting jobs' subscriptions start with their collector
        self.configured.start(self._udp, self.running.root)
        self._push_summaries.start()
        self.logs.start()
        if listen:
            config = self.config
            self._acceptor = await start_ssh(SshSettings(config.host, config.port, config.state_dir, config.users,
                                                         config.authorized_keys, config.passwords),
                                             self.sessions, self.logins)

    @property
    def port(self) -> int:
        assert self._acceptor is not None, "start() first"
        return self._acceptor.sockets[0].getsockname()[1]

    @property
    def agent_port(self) -> int:
        return self.originators.registry.port

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        self.sessions.close_all("server shutdown")
        for subscription in self.subscriptions:
            self.placement.remove(subscription, "server shutdown")
        self._push_summaries.stop()
        await self.bus.close()
        await self.logs.close()
        await self.xpath.close()
        if self._udp is not None:
            self._udp.close()
        await self.originators.registry.close()
