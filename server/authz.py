"""The gate: the one point every operation, write and datum leaving the server passes, as the
user it is for.

The dispatcher asks ``check_operation`` before any handler runs; handlers that write name the
nodes they touch in ``check_write``; replies of reads pass ``read``; every notification a
subscription sends passes ``notification`` as the subscription's owner, and generator-id lists
in RPC replies pass ``generators`` (draft-zhou-netconf-multi-stream-originators §13).

Decisions are an ``AccessPolicy``'s. The gate knows the shapes (what a push-update's data is,
what a yang-patch edit names) and asks the policy only about data trees, operations and
notifications, so NACM (RFC 8341) replaces ``PermitAll`` without touching a handler or the gate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from mso.filters import KeyIndex
from mso.instance_path import InstancePathError, parse_restconf_target
from mso.namespaces import DISTRIBUTED_NOTIF, MSO, NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.rpc_error import RpcError

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
PUSH_UPDATE = qn(YP, "push-update")
PUSH_CHANGE_UPDATE = qn(YP, "push-change-update")
STATE_NOTIFICATIONS = frozenset(qn(SN, name) for name in (
    "subscription-started", "subscription-modified", "subscription-terminated", "subscription-suspended",
    "subscription-resumed", "subscription-completed", "replay-completed"))
_GENERATOR_LEAVES = (qn(MSO, "message-generator-id"), qn(DISTRIBUTED_NOTIF, "message-publisher-id"))
_PUSH_ID = qn(YP, "id")


@dataclass(frozen=True)
class Principal:
    """Who is asking: the authenticated user, the session they ask from and its source address.
    Session id 0 is the server itself (a configured subscription restored from running)."""

    user: str
    session_id: int
    source: str = ""

    @property
    def is_server(self) -> bool:
        return self.session_id == 0 and not self.user


SERVER = Principal("", 0)


@dataclass(frozen=True)
class DataWrite:
    """One node an operation is about to create, change or delete."""

    path: str
    access: str  # "create" | "update" | "delete" (RFC 8341 §3.2 access operations)
    namespaces: tuple[tuple[str, str], ...] = ()  # the prefixes ``path`` uses
    node: etree._Element | None = field(default=None, compare=False, repr=False)  # created or deleted subtree


class AccessPolicy(Protocol):
    def unrestricted(self, who: Principal) -> bool:
        """True when nothing is withheld from ``who`` (lets every push leave without a look)."""

    def check_operation(self, who: Principal, operation: str) -> None:
        """Raise ``access_denied`` unless ``who`` may invoke ``operation`` (a Clark name)."""

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        """Raise ``access_denied`` unless every write is allowed."""

    def filter_read(self, who: Principal, data: etree._Element) -> etree._Element:
        """``data`` (children are top-level data nodes) without what ``who`` may not read
        (RFC 8341: silently omitted). Returns ``data`` itself when nothing is withheld."""

    def permit_notification(self, who: Principal, event: etree._Element) -> bool:
        """Whether an event-stream notification may reach ``who`` at all."""

    @property
    def generation(self) -> int:
        """Changes whenever decisions may (a new configuration), so answers can be kept till then."""


class PermitAll:
    """The policy until NACM lands: everything is allowed."""

    def unrestricted(self, who: Principal) -> bool:
        return True

    def check_operation(self, who: Principal, operation: str) -> None:
        return None

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        return None

    def filter_read(self, who: Principal, data: etree._Element) -> etree._Element:
        return data

    def permit_notification(self, who: Principal, event: etree._Element) -> bool:
        return True

    @property
    def generation(self) -> int:
        return 0


def access_denied(message: str) -> RpcError:
    return RpcError("access-denied", message, type="protocol")


class Gate:
    """``module_namespaces`` (module name -> namespace) and ``keys`` let the gate rebuild the data
    node a yang-patch edit names, so an edit is judged like the data it carries."""

    def __init__(self, policy: AccessPolicy, module_namespaces: Mapping[str, str], keys: KeyIndex) -> None:
        self.policy = policy
        self._module_namespaces = module_namespaces
        self._keys = keys
        self._views: dict[str, _ReadView] = {}
        self._generator_sight: dict[tuple[str, int, int], bool] = {}  # (user, subscription, generation)

    def check_operation(self, who: Principal, operation: str) -> None:
        self.policy.check_operation(who, operation)

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        self.policy.check_write(who, writes)

    def read(self, who: Principal, data: etree._Element) -> etree._Element:
        """A reply's data as ``who`` may see it."""
        return self.policy.filter_read(who, data)

    def view(self, who: Principal) -> Callable[[etree._Element], etree._Element]:
        """What ``who`` may see of each sample the Master's jobs take, pruned once per sample
        however many of their subscriptions share it (pushes built from it need no more)."""
        view = self._views.get(who.user)
        if view is None:
            view = self._views[who.user] = _ReadView(self.policy, who)
        return view

    def generators(self, who: Principal, subscription_id: int, generators: Sequence[str]) -> list[str]:
        """A subscription's generator ids as ``who`` may see them: all, or none (§13)."""
        return list(generators) if self._sees_generators(who, subscription_id) else []

    def notification(self, who: Principal, event: etree._Element, viewed: bool = False,
                     subscription_id: int | None = None) -> etree._Element | None:
        """``event`` as the subscription owner ``who`` may receive it; None: not at all.
        ``viewed``: a push built from samples already seen through ``view``."""
        if self.policy.unrestricted(who):
            return event
        if viewed and event.tag in (PUSH_UPDATE, PUSH_CHANGE_UPDATE):
            return self._without_generators(who, event, subscription_id)
        if event.tag == PUSH_UPDATE:
            return self._push_update(who, event)
        if event.tag == PUSH_CHANGE_UPDATE:
            return self._push_change_update(who, event)
        if event.tag in STATE_NOTIFICATIONS:
            return self._state_notification(who, event)
        return event if self.policy.permit_notification(who, event) else None

    # --- shapes -------------------------------------------------------------------------------

    def _sees_generators(self, who: Principal, subscription_id: int) -> bool:
        """Readable like the leaf-list of ``/sn:subscriptions/sn:subscription/mso:message-generator-id``
        (asked once per user, subscription and policy generation: every push asks)."""
        if self.policy.unrestricted(who):
            return True
        key = (who.user, subscription_id, self.policy.generation)
        known = self._generator_sight.get(key)
        if known is None:
            if len(self._generator_sight) > 4096:
                self._generator_sight.clear()
            known = self._generator_sight[key] = self._probe_generators(who, subscription_id)
        return known

    def _probe_generators(self, who: Principal, subscription_id: int) -> bool:
        probe = etree.Element(qn(NETCONF_BASE, "data"))
        entry = etree.SubElement(etree.SubElement(probe, qn(SN, "subscriptions")), qn(SN, "subscription"))
        etree.SubElement(entry, qn(SN, "id")).text = str(subscription_id)
        etree.SubElement(entry, qn(MSO, "message-generator-id")).text = "1"
        return next(self.policy.filter_read(who, probe).iter(qn(MSO, "message-generator-id")), None) is not None

    def _push_update(self, who: Principal, event: etree._Element) -> etree._Element:
        contents = event.find(qn(YP, "datastore-contents"))
        if contents is None:
            return event
        pruned = copy.deepcopy(event)
        kept = pruned.find(qn(YP, "datastore-contents"))
        allowed = self.policy.filter_read(who, kept)
        if allowed is not kept:
            kept.getparent().replace(kept, _retagged(allowed, kept.tag))
        return self._without_generators(who, pruned)

    def _push_change_update(self, who: Principal, event: etree._Element) -> etree._Element | None:
        pruned = copy.deepcopy(event)
        patch = pruned.find(f"{{{YP}}}datastore-changes/{{{YP}}}yang-patch")
        if patch is None:
            return self._without_generators(who, pruned)
        for edit in list(patch.iterchildren(qn(YP, "edit"))):
            if not self._edit_readable(who, edit):
                patch.remove(edit)
        if next(patch.iterchildren(qn(YP, "edit")), None) is None:
            return None
        return self._without_generators(who, pruned)

    def _edit_readable(self, who: Principal, edit: etree._Element) -> bool:
        """An edit is sent when the node it names, with the value it carries, is readable; a
        partly readable value is cut down to what is."""
        target = (edit.findtext(qn(YP, "target")) or "").strip()
        value = edit.find(qn(YP, "value"))
        tree = self._node_tree(target, value)
        if tree is None:
            return False
        data, node_path = tree
        allowed = self.policy.filter_read(who, data)
        kept = _follow(allowed, node_path)
        if kept is None:
            return False
        if value is not None and allowed is not data:
            value[:] = [copy.deepcopy(kept)] if len(value) else []
        return True

    def _node_tree(self, target: str, value: etree._Element | None
                   ) -> tuple[etree._Element, list[tuple[str, tuple[str, ...]]]] | None:
        """The ``<data>`` tree holding the node ``target`` names (with ``value``'s content as
        that node), and the path to it as (tag, key values) steps; None for a target this
        schema does not know."""
        try:
            steps = parse_restconf_target(target)
        except InstancePathError:
            return None
        data = parent = etree.Element(qn(NETCONF_BASE, "data"))
        schema_path: tuple[str, ...] = ()
        node_path: list[tuple[str, tuple[str, ...]]] = []
        namespace = None
        for number, step in enumerate(steps, 1):
            namespace = self._module_namespaces.get(step.module) if step.module else namespace
            if namespace is None:
                return None
            tag = qn(namespace, step.name)
            schema_path += (tag,)
            last = number == len(steps)
            node = copy.deepcopy(value[0]) if last and value is not None and len(value) else etree.Element(tag)
            parent.append(node)
            key_tags = self._keys.get(schema_path, ())
            if step.keys and len(key_tags) == len(step.keys) and node.find(key_tags[0]) is None:
                for key_tag, key_value in zip(key_tags, step.keys):
                    etree.SubElement(node, key_tag).text = key_value
            node_path.append((tag, step.keys))
            parent = node
        return data, node_path

    def _state_notification(self, who: Principal, event: etree._Element) -> etree._Element:
        subscription_id = event.findtext(qn(SN, "id"))
        if subscription_id is None or not subscription_id.isdigit():
            return event
        return self._without_generators(who, event, int(subscription_id))

    def _without_generators(self, who: Principal, event: etree._Element, subscription_id: int | None = None
                            ) -> etree._Element:
        if subscription_id is None:
            subscription_id = int(event.findtext(_PUSH_ID) or 0)
        if self._sees_generators(who, subscription_id):
            return event
        if not any(True for tag in _GENERATOR_LEAVES for _ in event.iterchildren(tag)):
            return event
        stripped = copy.deepcopy(event)
        for tag in _GENERATOR_LEAVES:
            for leaf in list(stripped.iterchildren(tag)):
                stripped.remove(leaf)
        return stripped


class _ReadView:
    """One user's view of samples: the last few pruned, each kept with the sample it came from."""

    _KEPT = 64

    def __init__(self, policy: AccessPolicy, who: Principal) -> None:
        self._policy = policy
        self._who = who
        self._pruned: dict[int, tuple[etree._Element, etree._Element]] = {}

    def __call__(self, sample: etree._Element) -> etree._Element:
        if self._policy.unrestricted(self._who):
            return sample
        kept = self._pruned.get(id(sample))
        if kept is not None and kept[0] is sample:
            return kept[1]
        if len(self._pruned) >= self._KEPT:
            self._pruned.clear()
        pruned = self._policy.filter_read(self._who, sample)
        self._pruned[id(sample)] = (sample, pruned)
        return pruned


def _retagged(data: etree._Element, tag: str) -> etree._Element:
    data.tag = tag
    return data


def _follow(data: etree._Element, node_path: list[tuple[str, tuple[str, ...]]]) -> etree._Element | None:
    """The node at ``node_path`` in a tree built by ``Gate._node_tree`` and then filtered."""
    node = data
    for tag, _ in node_path:
        node = node.find(tag)
        if node is None:
            return None
    return node
