"""Every originator of the device as the Master sees it: the Master itself (generator ``1``) and
the registered line-card agents; the Resource-Location Table of who owns what; which of them
a subscription's filter involves (the decomposer); and the component subscriptions that run on
agents.

Whenever ownership changes (an agent joins, leaves, times out, or a resource moves) the
``on_change`` callbacks run, so the placement engine re-decomposes what it serves; a component
an agent reports it cannot run goes to ``on_component_failed``, and an agent that leaves to
``on_agent_left``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from lxml import etree

from mso import control_channel as cc
from mso.date_and_time import format_epoch
from mso.filters import KeyIndex
from mso.generators import MASTER_GENERATOR
from mso.instance_path import InstancePathError, parse_instance_path
from mso.namespaces import DISTRIBUTED_EXPORT, SUBSCRIBED_NOTIFICATIONS, UDP_NOTIF_TRANSPORT, qn
from mso.rpc_error import RpcError, info_element
from mso.sampling import INTERFACE_LIST, selection_of
from mso.subscription_model import Encoding, FilterSpec, SubscriptionSpec
from mso.xml_parsing import parse_xml
from server.agent_registry import AgentLink, AgentRegistry
from server.decompose import Decomposition, decompose
from server.resource_location import OwnershipConflict, Resource, ResourceLocationTable
from server.rpc import Dispatcher, Reply, RpcContext

log = logging.getLogger("mso.originators")
DX = DISTRIBUTED_EXPORT
MASTER_CAPABILITY = cc.Capability(tuple(Encoding), 1, True)


class ResourcePathError(ValueError):
    """A resource path that does not name one list entry of the schema."""


class Originators:
    def __init__(self, keys: KeyIndex, prefix_namespaces: Mapping[str, str], *, timeout: float, centralized: bool,
                 boot_time: float, seed: int, agent_secret: bytes = b"") -> None:
        self.table = ResourceLocationTable()
        self.registry = AgentRegistry(self, timeout=timeout, boot_time=boot_time, seed=seed, secret=agent_secret)
        self.centralized = centralized
        self.on_change: list[Callable[[], None]] = []
        self.on_report: list[Callable[[int, etree._Element, float], None]] = []
        self.on_component_failed: list[Callable[[str, int, str], None]] = []
        self.on_agent_left: list[Callable[[str], None]] = []
        self._prefix_of = {uri: prefix for prefix, uri in prefix_namespaces.items()}
        self._namespace_of = dict(prefix_namespaces)
        self._keys = keys

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(qn(DX, "move-resource"), self._move_resource)

    def claim(self, resources: Iterable[Resource]) -> None:
        """The Master's own resources (main board, and the cards it simulates itself)."""
        self.table.assign(MASTER_GENERATOR, resources)

    # --- decomposition ------------------------------------------------------------------------

    def shares(self, selection: FilterSpec | None) -> Decomposition:
        """Who serves ``selection`` on operational data, each with what filter (the Master as
        ``1``); nobody when nobody owns what it selects (the last agent serving it has left)."""
        return decompose(selection, self.table, self._keys)

    def capability(self, generator: str) -> cc.Capability | None:
        if generator == MASTER_GENERATOR:
            return MASTER_CAPABILITY
        link = self.registry.agents.get(generator)
        return link.capability if link is not None else None

    # --- component subscriptions --------------------------------------------------------------

    def start_component(self, generator: str, spec: SubscriptionSpec) -> None:
        link = self.registry.agents.get(generator)
        if link is None:
            return
        link.components.add(spec.id)
        link.channel.send(cc.ComponentCreate(spec, report_to_master=self.centralized))

    def modify_component(self, generator: str, spec: SubscriptionSpec) -> None:
        """The subscription changed and the agent keeps a share of it."""
        link = self.registry.agents.get(generator)
        if link is None:
            return
        if spec.id not in link.components:
            self.start_component(generator, spec)
            return
        link.channel.send(cc.ComponentModify(spec, report_to_master=self.centralized))

    def stop_component(self, generator: str, subscription_id: int) -> None:
        link = self.registry.agents.get(generator)
        if link is None or subscription_id not in link.components:
            return
        link.components.discard(subscription_id)
        link.channel.send(cc.ComponentDelete(subscription_id))

    async def gather(self, requests: Mapping[str, FilterSpec | None]) -> list[etree._Element]:
        """What each agent's own filter selects of its data (``requests``: generator -> filter),
        one ``<data>`` element per agent that answered, in generator order."""
        replies = await self.registry.gather({g: f for g, f in requests.items() if g != MASTER_GENERATOR})
        elements = []
        for generator in sorted(replies, key=int):
            reply = replies[generator]
            if reply.error:
                log.warning("agent-get-error", extra={"fields": {"generator": generator, "error": reply.error}})
            elif reply.data:
                elements.append(parse_xml(reply.data.encode()))
        return elements

    async def gather_whole(self, selection: FilterSpec | None) -> list[etree._Element]:
        """Every agent's data under the top-level nodes ``selection`` can read, unfiltered: what
        the Master needs to evaluate the filter on the whole device."""
        tops = selection_of(selection).tags
        read = None if tops is None else FilterSpec(
            "subtree", subtree_xml=b"".join(etree.tostring(etree.Element(tag)) for tag in sorted(tops)))
        return await self.gather({generator: read for generator in self.registry.agents})

    # --- moves --------------------------------------------------------------------------------

    async def _move_resource(self, ctx: RpcContext, operation: etree._Element) -> Reply:
        path = operation.findtext(qn(DX, "path")) or ""
        to = (operation.findtext(qn(DX, "to")) or "").strip()
        try:
            self.move(path.strip(), to)
        except ResourcePathError as error:
            raise RpcError("invalid-value", str(error), info=[info_element("bad-element", "path")]) from None
        return None

    def move(self, path: str, to: str) -> str:
        """Move one list entry between agents; returns the previous owner."""
        resource = self.parse_path(path)
        owner = self.table.owner(resource)
        if owner is None:
            raise ResourcePathError(f"no originator owns {path}")
        if owner == MASTER_GENERATOR or to == MASTER_GENERATOR:
            raise ResourcePathError("only resources of line-card agents move; the Master's stay on the main board")
        if to not in self.registry.agents:
            raise ResourcePathError(f"no agent with generator id {to} is registered")
        if owner == to:
            return owner
        if resource[0] != INTERFACE_LIST:
            raise ResourcePathError("only interfaces move between line cards")
        self.table.move(resource, to)
        self.registry.send(owner, cc.ResourcesAssigned(removed=(resource,)))
        self.registry.send(to, cc.ResourcesAssigned(added=(resource,)))
        log.info("resource-moved", extra={"fields": {"path": path, "from": owner, "to": to}})
        self._changed()
        return owner

    def parse_path(self, path: str) -> Resource:
        try:
            steps = parse_instance_path(path)
        except InstancePathError:
            raise ResourcePathError(f"{path!r} is not a path like /if:interfaces/if:interface[if:name='2/0/7']") from None
        if any(not step.prefix for step in steps) or any(step.predicates for step in steps[:-1]):
            raise ResourcePathError(f"{path!r} must prefix every name and give keys on its last step only")
        list_path = tuple(self._clark(step.prefix, step.name) for step in steps)
        key_tags = self._keys.get(list_path)
        if key_tags is None:
            raise ResourcePathError(f"{path!r} does not end at a list")
        predicates = {self._clark(*key.split(":", 1)): value for key, value in steps[-1].predicates if ":" in key}
        if len(predicates) != len(steps[-1].predicates) or set(predicates) != set(key_tags):
            raise ResourcePathError(f"{path!r} must give every key of the list, and only its keys")
        return list_path, tuple(predicates[tag] for tag in key_tags)

    def _clark(self, prefix: str, name: str) -> str:
        namespace = self._namespace_of.get(prefix)
        if namespace is None:
            raise ResourcePathError(f"unknown prefix {prefix!r}")
        return qn(namespace, name)

    def format_path(self, resource: Resource) -> str:
        list_path, values = resource
        steps = [self._prefixed(tag) for tag in list_path]
        predicates = "".join(f"[{self._prefixed(tag)}='{value}']"
                             for tag, value in zip(self._keys[list_path], values))
        return "/" + "/".join(steps) + predicates

    def _prefixed(self, tag: str) -> str:
        name = etree.QName(tag)
        return f"{self._prefix_of.get(name.namespace, 'ns')}:{name.localname}"

    # --- RegistryEvents -----------------------------------------------------------------------

    def agent_joining(self, request: cc.Register) -> str | None:
        try:
            self._check_resources(request.resources)
            self.table.assign(str(request.generator_id), request.resources)
        except (OwnershipConflict, ResourcePathError) as error:
            return str(error)
        return None

    def _check_resources(self, resources: Iterable[Resource]) -> None:
        for list_path, values in resources:
            key_tags = self._keys.get(list_path)
            if key_tags is None or len(key_tags) != len(values):
                raise ResourcePathError(f"{'/'.join(list_path)} is not a list of the schema with {len(values)} key(s)")

    def agent_joined(self, link: AgentLink) -> None:
        self._changed()

    def agent_left(self, link: AgentLink, reason: str) -> None:
        self.table.release(link.generator)
        for callback in self.on_agent_left:
            callback(link.generator)
        self._changed()

    def component_status(self, link: AgentLink, message: cc.ComponentStatus) -> None:
        level = logging.INFO if message.state == "active" else logging.WARNING
        log.log(level, "component-status", extra={"fields": {"generator": link.generator, "id": message.subscription_id,
                                                             "state": message.state, "reason": message.reason}})
        if message.state == "error":
            link.components.discard(message.subscription_id)
            for callback in self.on_component_failed:
                callback(link.generator, message.subscription_id, message.reason)

    def data_report(self, link: AgentLink, message: cc.DataReport) -> None:
        event = parse_xml(message.event.encode())
        for report in self.on_report:
            report(message.subscription_id, event, message.event_time)

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    # --- operational data ---------------------------------------------------------------------

    def element(self, master_components: int) -> etree._Element:
        """``/mso-dx:resource-location-table``."""
        top = etree.Element(qn(DX, "resource-location-table"), nsmap={None: DX})
        self._originator(top, MASTER_GENERATOR, "master", 0, MASTER_CAPABILITY, time.time(), master_components)
        for generator, link in sorted(self.registry.agents.items(), key=lambda item: int(item[0])):
            self._originator(top, generator, "agent", link.slot, link.capability, link.last_heard_wall,
                             len(link.components))
        for list_path in sorted(self.table.list_paths()):
            for values, owner in self.table.entries(list_path).items():
                resource = etree.SubElement(top, qn(DX, "resource"))
                etree.SubElement(resource, qn(DX, "path")).text = self.format_path((list_path, values))
                etree.SubElement(resource, qn(DX, "message-generator-id")).text = owner
        return top

    @staticmethod
    def _originator(top: etree._Element, generator: str, kind: str, slot: int, capability: cc.Capability,
                    heard: float, components: int) -> None:
        entry = etree.SubElement(top, qn(DX, "originator"))
        etree.SubElement(entry, qn(DX, "message-generator-id")).text = generator
        etree.SubElement(entry, qn(DX, "kind")).text = kind
        etree.SubElement(entry, qn(DX, "slot")).text = str(slot)
        etree.SubElement(entry, qn(DX, "last-heartbeat")).text = format_epoch(heard)
        for encoding in capability.encodings:
            namespace = SUBSCRIBED_NOTIFICATIONS if encoding != Encoding.CBOR else UDP_NOTIF_TRANSPORT
            leaf = etree.SubElement(entry, qn(DX, "encoding"), nsmap={"enc": namespace})
            leaf.text = f"enc:{encoding.value}"
        etree.SubElement(entry, qn(DX, "minimum-period")).text = str(capability.minimum_period_cs)
        etree.SubElement(entry, qn(DX, "on-change")).text = "true" if capability.on_change else "false"
        etree.SubElement(entry, qn(DX, "component-subscriptions")).text = str(components)
