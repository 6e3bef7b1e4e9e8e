"""The collector's NETCONF session with the Master (draft §4: the Subscriber half of a Collector).

On connecting it reads ``/sn:subscriptions`` so that a collector joining late knows every
subscription's expected generators without waiting for a ``subscription-started`` it missed,
then establishes the subscriptions asked for on the command line. The Master's own share of a
dynamic subscription and its state notifications arrive on this session. When the Master
announces ``mso-distributed-export``, the establish request also names this collector's UDP
address as the receiver of the agents' shares. A piece of a subscription the collector does
not know triggers another read (at most one a second). A lost session is re-opened with
back-off; the dynamic subscriptions died with it and are established again. SSH keepalives
tell a Master that went silent (a partition that closed nothing) from a quiet one, and its
session then counts as lost like a closed one. The Master's host key is checked
(collector.host_keys).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import asyncssh
from lxml import etree

from collector.device_description import DEVICE_FILTER, DeviceDescription, describe_device
from collector.host_keys import HostKeyError, HostKeyPolicy
from collector.knowledge import GENERATOR_LEAVES, Knowledge, Policy, parse_time
from collector.subscription_facts import facts_from_request
from mso.filters import xpath_prefixes
from mso.generators import MASTER_GENERATOR
from mso.namespaces import DATASTORES, DISTRIBUTED_EXPORT, SUBSCRIBED_NOTIFICATIONS, YANG_LIBRARY, YANG_PUSH, qn
from mso.netconf_client import NetconfClient, NetconfClientError
from mso.rpc_error import RpcError
from mso.xml_parsing import MalformedXML, parse_xml
from mso.yang_json import YangJson, YangJsonError

log = logging.getLogger("mso.collector")
SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
_SUBSCRIPTIONS = f'<subscriptions xmlns="{SN}"/>'
_EXPORT_MODULE = (f'<yang-library xmlns="{YANG_LIBRARY}"><module-set><module>'
                  f"<namespace>{DISTRIBUTED_EXPORT}</namespace></module></module-set></yang-library>")
_REFRESH_INTERVAL = 1.0
_RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0)
KEEPALIVE_INTERVAL = 15.0  # seconds
KEEPALIVE_COUNT = 3  # unanswered keepalives before the session counts as lost


class MasterError(Exception):
    """The Master cannot be reached or refused what was asked; the message is one line."""


class FilterError(ValueError):
    """A --subscribe selection that cannot be sent: unknown prefix, malformed subtree."""


class SessionSink(Protocol):
    """What the Master's session feeds: the pipeline of a collector, or the front of a scaled-out
    one, which hands it all to the reassemblers (collector.workers)."""

    knowledge: Knowledge

    def netconf_notification(self, notification: etree._Element) -> None: ...

    def knowledge_changed(self, subscription_ids: Iterable[int]) -> None: ...

    def forget(self, subscription_ids: Iterable[int]) -> None: ...


@dataclass(frozen=True)
class SubscribeRequest:
    """One ``--subscribe``: a datastore selection and its trigger."""

    selection: str  # an XPath ("/if:interfaces/...") or a subtree filter ("<interfaces .../>")
    period_cs: int | None = None
    anchor_time: str | None = None
    dampening_cs: int | None = None  # on-change when period_cs is None
    datastore: str = "ds:operational"


@dataclass(frozen=True)
class MasterConfig:
    host: str
    port: int
    username: str
    host_keys: HostKeyPolicy  # which host key the Master must present
    password: str | None = None
    client_keys: tuple[str, ...] = ()
    requests: tuple[SubscribeRequest, ...] = ()
    keepalive: float = KEEPALIVE_INTERVAL  # seconds of silence before an SSH keepalive


def xpath_namespaces(xpath: str, namespaces: dict[str, str]) -> dict[str, str]:
    """The prefixes an XPath uses, bound to their namespaces; FilterError for an unknown one."""
    used = xpath_prefixes(xpath)
    unknown = sorted(used - namespaces.keys())
    if unknown:
        raise FilterError(f"unknown prefix {unknown[0]!r} in {xpath!r}: use a YANG module name or prefix")
    return {prefix: namespaces[prefix] for prefix in used}


EPOCH_ANCHOR = "1970-01-01T00:00:00Z"


def establish_request(request: SubscribeRequest, namespaces: dict[str, str],
                      agent_receiver: tuple[str, int] | None) -> bytes:
    """The ``<establish-subscription>`` of one request (RFC 8639/8641)."""
    establish = etree.Element(qn(SN, "establish-subscription"), nsmap={None: SN})
    datastore = etree.SubElement(establish, qn(YP, "datastore"), nsmap={"ds": DATASTORES})
    datastore.text = request.datastore
    if request.selection.lstrip().startswith("<"):
        holder = etree.SubElement(establish, qn(YP, "datastore-subtree-filter"))
        try:
            holder.extend(parse_xml(f"<f>{request.selection}</f>".encode()))
        except MalformedXML:
            raise FilterError(f"the subtree filter is not well-formed XML: {request.selection!r}") from None
    else:
        holder = etree.SubElement(establish, qn(YP, "datastore-xpath-filter"),
                                  nsmap=xpath_namespaces(request.selection, namespaces))
        holder.text = request.selection
    if request.period_cs is not None:
        trigger = etree.SubElement(establish, qn(YP, "periodic"))
        etree.SubElement(trigger, qn(YP, "period")).text = str(request.period_cs)
        # always named: a publisher that picks one (RFC 8641) need not pick the epoch the slots assume
        etree.SubElement(trigger, qn(YP, "anchor-time")).text = request.anchor_time or EPOCH_ANCHOR
    else:
        trigger = etree.SubElement(establish, qn(YP, "on-change"))
        etree.SubElement(trigger, qn(YP, "dampening-period")).text = str(request.dampening_cs or 0)
    if agent_receiver is not None:
        receiver = etree.SubElement(establish, qn(DISTRIBUTED_EXPORT, "agent-receiver"),
                                    nsmap={None: DISTRIBUTED_EXPORT})
        etree.SubElement(receiver, qn(DISTRIBUTED_EXPORT, "address")).text = agent_receiver[0]
        etree.SubElement(receiver, qn(DISTRIBUTED_EXPORT, "port")).text = str(agent_receiver[1])
        encoding = etree.SubElement(receiver, qn(DISTRIBUTED_EXPORT, "encoding"), nsmap={"sn": SN})
        encoding.text = "sn:encode-json"
    return etree.tostring(establish)


def request_policy(request: SubscribeRequest, generators: frozenset[str]) -> Policy:
    if request.period_cs is None:
        return Policy(on_change=True, generators=generators)
    anchor = parse_time(request.anchor_time) if request.anchor_time else 0.0
    return Policy(period=request.period_cs / 100, anchor=anchor, generators=generators)


def reply_generators(reply: etree._Element) -> frozenset[str]:
    """The generator ids of an establish/modify-subscription reply under any accepted name;
    a publisher that names none serves the subscription alone, as the Master (generator 1)."""
    found = {(leaf.text or "").strip() for leaf in reply.iter()
             if isinstance(leaf.tag, str) and etree.QName(leaf).localname in GENERATOR_LEAVES}
    return frozenset(found) or frozenset({MASTER_GENERATOR})


class MasterChannel:
    def __init__(self, config: MasterConfig, pipeline: SessionSink, yang: YangJson,
                 namespaces: dict[str, str], udp_address: tuple[str, int], *,
                 module_names: dict[str, str] | None = None, describe_device: bool = False) -> None:
        self.config = config
        self._module_names = module_names or {}  # prefix or module name -> module name
        self._describe_device = describe_device  # telemetry messages carry the device's manifest
        self._device: DeviceDescription | None = None
        self._pipeline = pipeline
        self._yang = yang
        self._namespaces = namespaces
        self._udp_address = udp_address
        self._client: NetconfClient | None = None
        self._established: list[int] = []
        self._refresh: asyncio.Task | None = None
        self._last_refresh = float("-inf")
        self._closing = False

    async def start(self) -> None:
        """Connect, learn and subscribe; MasterError when any of it fails."""
        client = await self._connect()
        try:
            await self._learn(client)
            if self._describe_device:
                await self._describe(client)
            await self._subscribe(client)
        except (RpcError, NetconfClientError, asyncio.TimeoutError) as error:
            client.abort()
            raise MasterError(f"the Master refused: {_one_line(error)}") from None

    async def run(self) -> None:
        """Keep the session: when it is lost, forget its subscriptions and open a new one."""
        attempt = 0
        while not self._closing:
            if self._client is not None and not self._client.closed:
                await self._client.wait_closed()
                if self._closing:
                    return
                log.warning("master-session-lost")
                self._pipeline.forget(self._established)
                self._established = []
            await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
            try:
                await self.start()
                attempt = 0
            except MasterError as error:
                attempt += 1
                log.warning("master-reconnect-failed", extra={"fields": {"error": str(error)}})

    def unknown_subscription(self, subscription_id: int) -> None:
        """A piece of a subscription not known yet: read /sn:subscriptions again, soon."""
        loop = asyncio.get_running_loop()
        if self._refresh is not None and not self._refresh.done():
            return
        if loop.time() - self._last_refresh < _REFRESH_INTERVAL or self._client is None:
            return
        self._last_refresh = loop.time()
        self._refresh = loop.create_task(self._refresh_knowledge(self._client))

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.config.host, self.config.port

    @property
    def local_address(self) -> tuple[str, int] | None:
        return self._client.local_address if self._client is not None else None

    @property
    def device(self) -> DeviceDescription | None:
        """The device as the Master describes itself (with ``describe_device``), once read."""
        return self._device

    async def close(self) -> None:
        self._closing = True
        if self._refresh is not None:
            self._refresh.cancel()
        if self._client is not None:
            await self._client.close()

    async def _connect(self) -> NetconfClient:
        config = self.config
        try:
            known_hosts = await config.host_keys.prepare(config.host, config.port)
            client = await NetconfClient.connect(config.host, config.port, username=config.username,
                                                 password=config.password,
                                                 client_keys=list(config.client_keys) or None,
                                                 known_hosts=known_hosts, keepalive_interval=config.keepalive,
                                                 keepalive_count_max=KEEPALIVE_COUNT)
        except HostKeyError as error:
            raise MasterError(str(error)) from None
        except asyncssh.HostKeyNotVerifiable:
            raise MasterError(config.host_keys.refusal(config.host, config.port)) from None
        except (OSError, asyncssh.Error, NetconfClientError, asyncio.TimeoutError) as error:
            raise MasterError(f"cannot open a NETCONF session with {config.host}:{config.port}: "
                              f"{_one_line(error)}") from None
        client.on_notification = self._pipeline.netconf_notification
        self._client = client
        log.info("master-connected", extra={"fields": {"session-id": client.session_id}})
        return client

    async def _learn(self, client: NetconfClient) -> None:
        data = await client.get(subtree=_SUBSCRIPTIONS)
        try:
            tree = self._yang.data_to_json(data)
        except YangJsonError as error:
            log.warning("subscriptions-unreadable", extra={"fields": {"error": str(error)}})
            return
        subscriptions = tree.get("ietf-subscribed-notifications:subscriptions", {})
        learned = self._pipeline.knowledge.learn_subscriptions(subscriptions)
        self._pipeline.knowledge_changed(learned)
        log.info("subscriptions-learned", extra={"fields": {"ids": ",".join(map(str, learned))}})

    async def _describe(self, client: NetconfClient) -> None:
        """Read the chassis and the YANG library; a Master that refuses leaves the manifest out."""
        try:
            self._device = describe_device(await client.get(subtree=DEVICE_FILTER))
        except RpcError as error:
            log.warning("device-description-refused", extra={"fields": {"error": _one_line(error)}})

    async def _refresh_knowledge(self, client: NetconfClient) -> None:
        try:
            await self._learn(client)
        except (RpcError, NetconfClientError, asyncio.TimeoutError) as error:
            log.warning("subscriptions-refresh-failed", extra={"fields": {"error": _one_line(error)}})

    async def _subscribe(self, client: NetconfClient) -> None:
        if not self.config.requests:
            return
        agent_receiver = self._agent_receiver(client) if await self._exports_to_agents(client) else None
        for request in self.config.requests:
            reply = await self._establish(client, request, agent_receiver)
            subscription_id = int(reply.findtext(qn(SN, "id")) or "0")
            policy = request_policy(request, reply_generators(reply))
            self._pipeline.knowledge.start(subscription_id, policy)
            self._pipeline.knowledge.facts[subscription_id] = facts_from_request(
                request.datastore, request.selection, request.period_cs, request.anchor_time, request.dampening_cs,
                self._module_names)
            self._pipeline.knowledge_changed([subscription_id])
            self._established.append(subscription_id)
            log.info("subscription-established", extra={"fields": {
                "id": subscription_id, "generators": ",".join(sorted(policy.generators))}})

    async def _establish(self, client: NetconfClient, request: SubscribeRequest,
                         agent_receiver: tuple[str, int] | None) -> etree._Element:
        """establish-subscription; a Master that announces the module but refuses the
        agent-receiver is asked again without it, and only its own share will arrive."""
        try:
            return await client.rpc(establish_request(request, self._namespaces, agent_receiver))
        except RpcError as error:
            if agent_receiver is None:
                raise
            log.warning("agent-receiver-refused", extra={"fields": {"error": _one_line(error)}})
        return await client.rpc(establish_request(request, self._namespaces, None))

    async def _exports_to_agents(self, client: NetconfClient) -> bool:
        """Whether the Master announces mso-distributed-export (hello or YANG library)."""
        if any(capability.startswith(DISTRIBUTED_EXPORT) for capability in client.server_capabilities):
            return True
        try:
            data = await client.get(subtree=_EXPORT_MODULE)
        except RpcError:
            return False
        return any(element.text == DISTRIBUTED_EXPORT for element in data.iter(qn(YANG_LIBRARY, "namespace")))

    def _agent_receiver(self, client: NetconfClient) -> tuple[str, int]:
        """Where agents should send: our UDP address, or, when it is a wildcard, the address
        this host has towards the Master."""
        host, port = self._udp_address
        if host in ("0.0.0.0", "::", ""):
            local = client.local_address
            host = local[0] if local is not None else host
        return host, port


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


def names_and_prefixes(modules: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Module name and prefix -> namespace, for XPath filters given on the command line."""
    namespaces: dict[str, str] = {}
    for name, prefix, namespace in modules:
        namespaces.setdefault(prefix, namespace)
        namespaces[name] = namespace
    return namespaces
