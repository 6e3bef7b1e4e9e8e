"""Every originator of the device as the Master sees it: the Master itself (generator ``1``) and
the registered line-card agents; the Resource-Location Table of who owns what; which of them
a subscription's filter involves (the decomposer); and the component subscriptions that run on
agents.

Whenever ownership changes (an agent joins, leaves, times out, or a resource moves) the
``on_change`` callbacks run with the instant the change takes effect for the subscriptions, so
the placement engine re-decomposes what it serves; a component an agent reports it cannot run
goes to ``on_component_failed``, and an agent that leaves to ``on_agent_left``.

A change that is not forced on the Master (a move, an agent joining) takes effect
``SWITCH_LEAD_SECONDS`` after it is decided: the subscribers are told the new generator set
before the first slot it serves, and every originator switches at that instant (the table and
the agents' gets at once). An agent that leaves takes its data with it at once.

Any resource of a line card moves: its ports, and its module and sensors. The table remembers
where each resource was moved to: an agent registering again keeps what was moved away from it
with its new owner and takes back what was moved to it, and when an agent leaves, what was moved
to it falls back to the agent it came from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

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
SWITCH_LEAD_SECONDS = 0.25  # how long before a change of originators takes effect it is announced
Switch = Callable[[float | None], None]  # told when a change of ownership takes effect (None: now)


@dataclass(frozen=True)
class _Joining:
    """What a registration changes beyond the agent's own resources."""

    kept_away: tuple[Resource, ...]  # its resources that stay where they were moved
    taken_back: tuple[tuple[Resource, str], ...]  # resources moved to it, and who holds them now


class ResourcePathError(ValueError):
    """A resource path that does not name one list entry of the schema."""


class Originators:
    def __init__(self, keys: KeyIndex, prefix_namespaces: Mapping[str, str], *, timeout: float, centralized: bool,
                 boot_time: float, seed: int, agent_secret: bytes = b"") -> None:
        self.table = ResourceLocationTable()
        self.registry = AgentRegistry(self, timeout=timeout, boot_time=boot_time, seed=seed, secret=agent_secret)
        self.centralized = centralized
        self.on_change: list[Switch] = []
        self.on_report: list[Callable[[int, etree._Element, float], None]] = []
        self.on_component_failed: list[Callable[[str, int, str], None]] = []
        self.on_agent_left: list[Callable[[str], None]] = []
        self._prefix_of = {uri: prefix for prefix, uri in prefix_namespaces.items()}
        self._namespace_of = dict(prefix_namespaces)
        self._keys = keys
        self._home: dict[Resource, str] = {}  # the agent whose registration brought each resource
        self._card_of: dict[str, tuple[int, int]] = {}  # agent -> (slot, ports) of its card, as registered
        self._moved: dict[Resource, str] = {}  # where move-resource put a resource, if not its home
        self._joining: dict[str, _Joining] = {}
        self._now = time.time

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

    def start_component(self, generator: str, spec: SubscriptionSpec, at: float | None = None) -> None:
        """The agent runs a component of the subscription from ``at`` (None: now)."""
        link = self.registry.agents.get(generator)
        if link is None:
            return
        link.components.add(spec.id)
        link.channel.send(cc.ComponentCreate(spec, report_to_master=self.centralized, at=at))

    def modify_component(self, generator: str, spec: SubscriptionSpec, at: float | None = None) -> None:
        """The subscription (or the agent's filter for it) changed and the agent keeps a share of it."""
        link = self.registry.agents.get(generator)
        if link is None:
            return
        if spec.id not in link.components:
            self.start_component(generator, spec, at)
            return
        link.channel.send(cc.ComponentModify(spec, report_to_master=self.centralized, at=at))

    def stop_component(self, generator: str, subscription_id: int, at: float | None = None) -> None:
        link = self.registry.agents.get(generator)
        if link is None or subscription_id not in link.components:
            return
        link.components.discard(subscription_id)
        link.channel.send(cc.ComponentDelete(subscription_id, at=at))

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
        """Move one list entry (a port, a module, a sensor) between agents, from
        ``SWITCH_LEAD_SECONDS`` on; returns the previous owner."""
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
        at = self._now() + SWITCH_LEAD_SECONDS
        self._hand_over(resource, owner, to, at)
        if self._home.get(resource) == to:
            self._moved.pop(resource, None)
        else:
            self._moved[resource] = to
        log.info("resource-moved", extra={"fields": {"path": path, "from": owner, "to": to}})
        self._changed(at)
        return owner

    def _hand_over(self, resource: Resource, owner: str, to: str, at: float | None) -> None:
        """Give ``resource`` from ``owner`` to ``to`` in the table, and tell both agents."""
        self.table.move(resource, to)
        self.registry.send(owner, cc.ResourcesAssigned(removed=(resource,), at=at))
        self.registry.send(to, self._assigned((resource,), at))

    def _assigned(self, resources: tuple[Resource, ...], at: float | None) -> cc.ResourcesAssigned:
        """Resources given to an agent, with the cards they come from (to render them as those do)."""
        cards = {self._card_of[home] for home in (self._home.get(r) for r in resources) if home in self._card_of}
        return cc.ResourcesAssigned(added=resources, cards=tuple(sorted(cards)), at=at)

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
        """Take a registering agent's resources, but for those moved to other agents that hold
        them (they stay there); what was moved to it comes back when it has joined."""
        generator = str(request.generator_id)
        kept_away = tuple(r for r in request.resources if self._moved.get(r, generator) == self.table.owner(r)
                          and self.table.owner(r) not in (None, generator))
        try:
            self._check_resources(request.resources)
            self.table.assign(generator, [r for r in request.resources if r not in kept_away])
        except (OwnershipConflict, ResourcePathError) as error:
            return str(error)
        for resource in request.resources:
            self._home[resource] = generator
        ports = sum(1 for list_path, _ in request.resources if list_path == INTERFACE_LIST)
        self._card_of[generator] = (request.slot, ports)
        taken_back = tuple((r, owner) for r, to in self._moved.items()
                           if to == generator and (owner := self.table.owner(r)) not in (None, generator))
        self._joining[generator] = _Joining(kept_away, taken_back)
        return None

    def _check_resources(self, resources: Iterable[Resource]) -> None:
        for list_path, values in resources:
            key_tags = self._keys.get(list_path)
            if key_tags is None or len(key_tags) != len(values):
                raise ResourcePathError(f"{'/'.join(list_path)} is not a list of the schema with {len(values)} key(s)")

    def agent_joined(self, link: AgentLink) -> None:
        """Its data is there from now; its share of the subscriptions from the announced instant."""
        at = self._now() + SWITCH_LEAD_SECONDS
        joining = self._joining.pop(link.generator, _Joining((), ()))
        if joining.kept_away:
            link.channel.send(cc.ResourcesAssigned(removed=joining.kept_away))
        for resource, owner in joining.taken_back:
            self._hand_over(resource, owner, link.generator, at)
        self._changed(at)

    def agent_left(self, link: AgentLink, reason: str) -> None:
        """Its data is gone at once; what was moved to it falls back to the agents it came from."""
        released = self.table.release(link.generator)
        for resource in released:
            home = self._home.get(resource)
            if home is not None and home != link.generator and home in self.registry.agents:
                self.table.assign(home, [resource])
                self.registry.send(home, self._assigned((resource,), None))
        for callback in self.on_agent_left:
            callback(link.generator)
        self._changed(None)

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

    def _changed(self, at: float | None) -> None:
        for callback in self.on_change:
            callback(at)

    # --- operational data ---------------------------------------------------------------------

    def skipped_ticks(self, subscription_id: int) -> dict[str, int]:
        """Per agent, the ticks of this subscription it said overload made it skip."""
        return {generator: link.skipped_ticks[subscription_id] for generator, link in self.registry.agents.items()
                if link.skipped_ticks.get(subscription_id)}

    def element(self, master_components: int, master_samples: tuple[int, int]) -> etree._Element:
        """``/mso-dx:resource-location-table``; ``master_samples``: the Master's readings of its
        own data for subscriptions, and the instants they served."""
        top = etree.Element(qn(DX, "resource-location-table"), nsmap={None: DX})
        self._originator(top, MASTER_GENERATOR, "master", 0, MASTER_CAPABILITY, time.time(), master_components,
                         master_samples)
        for generator, link in sorted(self.registry.agents.items(), key=lambda item: int(item[0])):
            self._originator(top, generator, "agent", link.slot, link.capability, link.last_heard_wall,
                             len(link.components), link.samples)
        for list_path in sorted(self.table.list_paths()):
            for values, owner in self.table.entries(list_path).items():
                resource = etree.SubElement(top, qn(DX, "resource"))
                etree.SubElement(resource, qn(DX, "path")).text = self.format_path((list_path, values))
                etree.SubElement(resource, qn(DX, "message-generator-id")).text = owner
        return top

    @staticmethod
    def _originator(top: etree._Element, generator: str, kind: str, slot: int, capability: cc.Capability,
                    heard: float, components: int, samples: tuple[int, int]) -> None:
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
        etree.SubElement(entry, qn(DX, "samples-taken")).text = str(samples[0])
        etree.SubElement(entry, qn(DX, "sampling-instants")).text = str(samples[1])
