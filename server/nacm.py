"""NACM (RFC 8341) as the gate's access policy: who may invoke which operation, write which
nodes, read which data and receive which notifications, by the rules in running's ``/nacm``.

Rules are evaluated as the RFC says: the rule-lists whose groups hold the user, in order, and
within each its rules in order; the first rule that matches decides. When none does, the
schema's ``nacm:default-deny-all`` / ``default-deny-write`` decide, then the ``*-default``
leaves. ``close-session`` is always permitted, ``kill-session`` and ``delete-config`` are denied
by default (§3.4.4); a recovery user, and the server itself, bypass NACM (§3.4.6.2).

Reads are pruned silently (§3.4.5): a node denied is left out with everything below it that is
denied too, and stays as bare structure where something below it is readable. The
common case, a user no read rule applies to and whose data holds no default-deny-all node, is
decided without walking the data, so NACM costs the push path a lookup.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from lxml import etree

from mso.filters import KeyIndex
from mso.instance_path import InstancePathError, parse_instance_path
from mso.namespaces import NACM, NETCONF_BASE, qn
from server.authz import DataWrite, Principal, access_denied
from server.datastore import Commit
from server.nacm_config import NacmConfig, Rule, Steps, read_nacm

ALWAYS_PERMITTED = frozenset({qn(NETCONF_BASE, "close-session")})
DENIED_BY_DEFAULT = frozenset({qn(NETCONF_BASE, "kill-session"), qn(NETCONF_BASE, "delete-config")})
_WRITE_ACCESS = {"create", "update", "delete"}


class Nacm:
    """Implements ``server.authz.AccessPolicy``."""

    def __init__(self, running_root: Callable[[], etree._Element], *, access_defaults: Mapping[tuple[str, ...], str],
                 keys: KeyIndex, module_of: Mapping[str, str], recovery_users: Collection[str] = ()) -> None:
        self._defaults = access_defaults
        self._keys = keys
        self._module_of = module_of
        self._recovery = frozenset(recovery_users)
        self._deny_all_tops = frozenset(path[0] for path, kind in access_defaults.items() if kind == "all")
        self._config = read_nacm(running_root())
        self._rules: dict[str, tuple[Rule, ...]] = {}
        self.generation = 0
        self.denied_operations = 0
        self.denied_data_writes = 0
        self.denied_notifications = 0

    def running_committed(self, commit: Commit) -> None:
        config = read_nacm(commit.after)
        if config != self._config:
            self._config = config
            self._rules.clear()
            self.generation += 1

    @property
    def config(self) -> NacmConfig:
        return self._config

    # --- AccessPolicy -------------------------------------------------------------------------------

    def unrestricted(self, who: Principal) -> bool:
        return not self._config.enabled or who.user in self._recovery or who.is_server

    def check_operation(self, who: Principal, operation: str) -> None:
        if operation in ALWAYS_PERMITTED or self.unrestricted(who):
            return
        if not self._operation_permitted(self._rules_of(who), operation):
            self.denied_operations += 1
            raise access_denied(f"user {who.user!r} may not invoke {self._named(operation)}")

    def check_write(self, who: Principal, writes: Sequence[DataWrite]) -> None:
        if self.unrestricted(who):
            return
        rules = self._rules_of(who)
        for write in writes:
            for steps, access in self._written_nodes(write):
                if not self._data_permitted(rules, steps, access):
                    self.denied_data_writes += 1
                    raise access_denied(f"user {who.user!r} may not {access} {write.path}")

    def filter_read(self, who: Principal, data: etree._Element) -> etree._Element:
        if self.unrestricted(who):
            return data
        rules = tuple(rule for rule in self._rules_of(who) if rule.kind in ("any", "data") and "read" in rule.operations)
        if not rules and self._config.read_permit and not any(node.tag in self._deny_all_tops for node in data):
            return data
        pruned = copy.deepcopy(data)
        self._prune(pruned, (), (), rules)
        return pruned

    def permit_notification(self, who: Principal, event: etree._Element) -> bool:
        if self.unrestricted(who):
            return True
        namespace, name = etree.QName(event).namespace, etree.QName(event).localname
        for rule in self._rules_of(who):
            if (rule.kind in ("any", "notification") and "read" in rule.operations and self._module(rule, namespace)
                    and rule.target in ("*", name)):
                permitted = rule.permit
                break
        else:
            permitted = self._defaults.get((event.tag,)) != "all" and self._config.read_permit
        if not permitted:
            self.denied_notifications += 1
        return permitted

    # --- decisions ----------------------------------------------------------------------------------------

    def _rules_of(self, who: Principal) -> tuple[Rule, ...]:
        rules = self._rules.get(who.user)
        if rules is None:
            rules = self._rules[who.user] = self._config.rules_for(who.user)
        return rules

    def _module(self, rule: Rule, namespace: str | None) -> bool:
        return rule.module == "*" or rule.module == self._module_of.get(namespace or "")

    def _named(self, clark: str) -> str:
        name = etree.QName(clark)
        return f"{self._module_of.get(name.namespace or '', 'ns')}:{name.localname}"

    def _operation_permitted(self, rules: Iterable[Rule], operation: str) -> bool:
        namespace, name = etree.QName(operation).namespace, etree.QName(operation).localname
        for rule in rules:
            if (rule.kind in ("any", "rpc") and "exec" in rule.operations and self._module(rule, namespace)
                    and rule.target in ("*", name)):
                return rule.permit
        if operation in DENIED_BY_DEFAULT or self._defaults.get((operation,)) == "all":
            return False
        return self._config.exec_permit

    def _data_permitted(self, rules: Iterable[Rule], steps: Steps, access: str) -> bool:
        namespace = etree.QName(steps[-1][0]).namespace
        for rule in rules:
            if rule.kind not in ("any", "data") or access not in rule.operations or not self._module(rule, namespace):
                continue
            if rule.kind == "data" and not _path_matches(rule.path, steps):
                continue
            return rule.permit
        schema_path = tuple(tag for tag, _ in steps)
        default = next((self._defaults[schema_path[:depth]] for depth in range(1, len(schema_path) + 1)
                        if schema_path[:depth] in self._defaults), None)
        if default == "all" or (default == "write" and access in _WRITE_ACCESS):
            return False
        return self._config.read_permit if access == "read" else self._config.write_permit

    # --- data --------------------------------------------------------------------------------------------------

    def _prune(self, parent: etree._Element, schema_path: tuple[str, ...], steps: Steps, rules: tuple[Rule, ...]) -> None:
        for node in list(parent.iterchildren(etree.Element)):
            if not self._keep(node, (*schema_path, node.tag), steps, rules):
                parent.remove(node)

    def _keep(self, node: etree._Element, schema_path: tuple[str, ...], steps: Steps, rules: tuple[Rule, ...]) -> bool:
        """Prune below ``node``; whether it stays: readable itself, or the way to something below
        that is (then as structure only: its keys and what is readable under it)."""
        node_steps = (*steps, (node.tag, self._key_values(node, schema_path)))
        readable = self._data_permitted(rules, node_steps, "read")
        keys = self._keys.get(schema_path, ())
        kept_below = False
        for child in list(node.iterchildren(etree.Element)):
            if child.tag in keys:
                continue  # an entry's keys go with it
            if self._keep(child, (*schema_path, child.tag), node_steps, rules):
                kept_below = True
            else:
                node.remove(child)
        return readable or kept_below

    def _key_values(self, node: etree._Element, schema_path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        return tuple((key, (node.findtext(key) or "").strip()) for key in self._keys.get(schema_path, ()))

    def _written_nodes(self, write: DataWrite) -> list[tuple[Steps, str]]:
        """The node a write names, and for a create or delete of a subtree every node in it."""
        try:
            parsed = parse_instance_path(write.path)
        except InstancePathError:
            return []
        namespaces = dict(write.namespaces)
        steps: Steps = tuple((qn(namespaces.get(step.prefix, ""), step.name),
                              tuple((qn(namespaces.get(key.partition(":")[0], ""), key.rpartition(":")[2]), value)
                                    for key, value in step.predicates if key != "."))
                             for step in parsed)
        found = [(steps, write.access)]
        if write.node is not None:
            schema_path = tuple(tag for tag, _ in steps)
            self._below(write.node, schema_path, steps, write.access, found)
        return found

    def _below(self, node: etree._Element, schema_path: tuple[str, ...], steps: Steps, access: str,
               found: list[tuple[Steps, str]]) -> None:
        for child in node.iterchildren(etree.Element):
            path = (*schema_path, child.tag)
            child_steps = (*steps, (child.tag, self._key_values(child, path)))
            found.append((child_steps, access))
            self._below(child, path, child_steps, access, found)

    # --- operational data -------------------------------------------------------------------------------------

    def state_nodes(self) -> list[etree._Element]:
        """The counters of ``/nacm`` (RFC 8341 §3.3.1)."""
        top = etree.Element(qn(NACM, "nacm"), nsmap={None: NACM})
        for name, value in (("denied-operations", self.denied_operations),
                            ("denied-data-writes", self.denied_data_writes),
                            ("denied-notifications", self.denied_notifications)):
            etree.SubElement(top, qn(NACM, name)).text = str(value)
        return [top]


def _path_matches(rule_path: Steps | None, steps: Steps) -> bool:
    """A rule's path names this node or one of its ancestors (keys given must match)."""
    if rule_path is None or len(rule_path) > len(steps):
        return False
    for (rule_tag, rule_keys), (tag, keys) in zip(rule_path, steps):
        if rule_tag != tag or not set(rule_keys) <= set(keys):
            return False
    return True
