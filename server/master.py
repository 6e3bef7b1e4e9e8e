"""The Master publisher: composes the schema, datastores, sessions, dispatcher and transport."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh
from lxml import etree

from mso.device_sim import CardSpec, DeviceSimulator
from mso.filters import merge_into
from mso.rpc_error import RpcError, info_element
from mso.sampling import COMPONENT_LIST, HARDWARE_TOP, INTERFACE_LIST, INTERFACES_TOP, device_nodes, selection_of
from mso.subscription_model import FilterSpec
from mso.namespaces import DISTRIBUTED_EXPORT, NETCONF_MONITORING, SUBSCRIBED_NOTIFICATIONS, YANG_LIBRARY, qn
from mso.tree_diff import Change
from mso.schema import Schema, ValidationError
from server import netconf_ops
from server.authz import AccessControl, PermitAll, Principal
from server.config_events import netconf_config_change
from server.datastore import DatastoreError, RunningDatastore
from server.monitoring import netconf_state
from server.operational import OperationalDatastore
from server.originators import Originators, ResourcePathError
from server.resource_location import Resource
from server.rpc import Dispatcher, Reply, RpcContext, RpcEvent
from server.subscription_requests import AgentReceiver
from server.sessions import SessionRegistry
from server.subscription_service import SubscriptionService
from server.ssh_transport import start_ssh

if TYPE_CHECKING:
    from server.session import NetconfSession

log = logging.getLogger("mso.master")

# Capabilities of RFC 6241 features the handlers implement beyond what the schema announces.
EXTRA_CAPABILITIES = ("urn:ietf:params:netconf:capability:validate:1.1",)


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


def log_rpc(event: RpcEvent) -> None:
    fields = {
        "session-id": event.session_id,
        "user": event.user,
        "op": event.operation,
        "message-id": event.message_id,
        "outcome": "error" if event.error else "ok",
        "ms": f"{event.seconds * 1000:.3f}",
    }
    if event.error is not None:
        fields["error-tag"] = event.error.tag
    log.info("rpc", extra={"fields": fields})


class Master:
    def __init__(self, config: ServerConfig, schema: Schema | None = None, access: AccessControl | None = None) -> None:
        self.config = config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.schema = schema or Schema.load(config.extra_yang_dirs)
        self.running = RunningDatastore(config.state_dir)
        self._check_stored_config()
        self.sessions = SessionRegistry()
        self.access = access or PermitAll()
        self.dispatcher = Dispatcher(self.access)
        netconf_ops.register(self.dispatcher)
        self.device = DeviceSimulator(self._own_cards(), seed=config.seed)
        self.originators = Originators(self, timeout=config.agent_timeout, centralized=config.centralized,
                                       boot_time=self.device.boot_time, seed=config.seed)
        self.originators.claim(self._own_resources())
        self.dispatcher.register(qn(DISTRIBUTED_EXPORT, "move-resource"), self._move_resource)
        self.subscriptions = SubscriptionService(self, self.originators, dynamic_receiver=config.dynamic_receiver)
        self.subscriptions.register(self.dispatcher)
        self.running.listeners.append(self._running_committed)
        # checks a new running configuration must pass, beyond the schema, before it is committed
        self.config_checks: list[Callable[[etree._Element], None]] = [self.subscriptions.check_config]
        self.dispatcher.observers.append(log_rpc)
        self.capabilities = [*self.schema.hello_capabilities(), *EXTRA_CAPABILITIES]
        self.operational = OperationalDatastore(self.running, self.schema.key_index)
        self._add_state_sources()
        self._acceptor: asyncssh.SSHAcceptor | None = None

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

    def _add_state_sources(self) -> None:
        keys = self.schema.key_index
        self.operational.add_source({HARDWARE_TOP, INTERFACES_TOP}, lambda s: device_nodes(self.device, s, keys))
        self.operational.add_source({qn(DISTRIBUTED_EXPORT, "resource-location-table")},
                                    lambda s: [self.originators.element(self.subscriptions.master_jobs())])
        self.operational.add_source(
            {qn(YANG_LIBRARY, "yang-library"), qn(YANG_LIBRARY, "modules-state")},
            lambda s: [self.schema.yang_library(), self.schema.modules_state()],
        )
        self.operational.add_source({qn(NETCONF_MONITORING, "netconf-state")}, lambda s: [netconf_state(self)])
        self.operational.add_source(
            {qn(SUBSCRIBED_NOTIFICATIONS, "streams"), qn(SUBSCRIBED_NOTIFICATIONS, "subscriptions")},
            lambda s: [self.subscriptions.streams(), self.subscriptions.subscriptions_element()],
        )

    def _running_committed(self, old: etree._Element, new: etree._Element) -> None:
        self.subscriptions.reconcile_configured(new)
        self.subscriptions.datastore_changed("ds:running")

    async def start(self) -> None:
        await self.originators.registry.start(self.config.agent_host, self.config.agent_port)
        await self.subscriptions.start()
        self._acceptor = await start_ssh(self)

    @property
    def port(self) -> int:
        assert self._acceptor is not None, "start() first"
        return self._acceptor.sockets[0].getsockname()[1]

    def session_closed(self, session: "NetconfSession") -> None:
        """Whatever a session held ends with it: its locks and its dynamic subscriptions."""
        self.release_locks(session.info.session_id)
        self.subscriptions.session_closed(session)

    def session_paused(self, session: "NetconfSession", paused: bool) -> None:
        self.subscriptions.session_paused(session, paused)

    def config_changed(self, who: Principal, changes: Sequence[Change]) -> None:
        """A commit of running: RFC 6470 netconf-config-change on the NETCONF stream."""
        self.subscriptions.publish_event("NETCONF", netconf_config_change(who, changes), time.time())

    def release_locks(self, session_id: int) -> None:
        if self.running.lock_owner == session_id:
            self.running.lock_owner = None
            self.running.lock_time = None

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        for session in self.sessions:
            session.close("server shutdown")
        self.subscriptions.close()
        await self.originators.registry.close()

    async def read_operational(self, selection: FilterSpec | None) -> etree._Element:
        """The operational datastore as a read sees it: the Master's own data plus what the
        agents owning selected data return (those that do not answer in time are left out)."""
        data = self.operational.snapshot(selection_of(selection))
        for share in await self.originators.gather(selection):
            merge_into(data, share, self.schema.key_index)
        return data

    async def _move_resource(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        path = operation.findtext(qn(DISTRIBUTED_EXPORT, "path")) or ""
        to = (operation.findtext(qn(DISTRIBUTED_EXPORT, "to")) or "").strip()
        try:
            self.originators.move(path.strip(), to)
        except ResourcePathError as error:
            raise RpcError("invalid-value", str(error), info=[info_element("bad-element", "path")]) from None
        return None

    async def wait_closed(self) -> None:
        assert self._acceptor is not None, "start() first"
        await self._acceptor.wait_closed()
