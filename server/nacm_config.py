"""The NETCONF Access Control Model's configuration (RFC 8341 ``/nacm``) as running holds it.

Pure: reading a ``<data>`` tree into rules whose names are resolved to namespaces, no I/O. A
rule path's prefixes are bound as the ``path`` leaf declares them in running; a path that
cannot be read (an unknown prefix, not an instance path) becomes a rule that matches nothing,
as the RFC leaves such a path without effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from mso.instance_path import InstancePathError, parse_instance_path
from mso.namespaces import NACM, qn

ACCESS_OPERATIONS = frozenset({"create", "read", "update", "delete", "exec"})
Steps = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (Clark name, ((key Clark name, value), ...))


@dataclass(frozen=True)
class Rule:
    name: str
    module: str  # a module name, or "*"
    kind: str  # "any" | "rpc" | "notification" | "data"
    target: str = "*"  # the rpc or notification name (or "*")
    path: Steps | None = None  # data rules; () is "/", everything; None when the path could not be read
    operations: frozenset[str] = ACCESS_OPERATIONS
    permit: bool = False


@dataclass(frozen=True)
class RuleList:
    name: str
    groups: frozenset[str]  # "*" is every group
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class NacmConfig:
    enabled: bool = True
    read_permit: bool = True
    write_permit: bool = False
    exec_permit: bool = True
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)  # group -> user names
    rule_lists: tuple[RuleList, ...] = ()

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(group for group, users in self.groups.items() if user in users)

    def rules_for(self, user: str) -> tuple[Rule, ...]:
        """The rules that apply to ``user``, in the order they are evaluated."""
        groups = self.groups_of(user)
        return tuple(rule for rule_list in self.rule_lists
                     if "*" in rule_list.groups or rule_list.groups & groups for rule in rule_list.rules)


def read_nacm(running: etree._Element) -> NacmConfig:
    """``/nacm`` of running; the RFC's defaults where it says nothing (or is absent)."""
    top = running.find(qn(NACM, "nacm"))
    if top is None:
        return NacmConfig()
    groups = {(_text(group, "name")): frozenset((u.text or "").strip() for u in group.iterchildren(qn(NACM, "user-name")))
              for group in top.iterfind(f"{{{NACM}}}groups/{{{NACM}}}group")}
    rule_lists = tuple(RuleList(_text(entry, "name"),
                                frozenset((g.text or "").strip() for g in entry.iterchildren(qn(NACM, "group"))),
                                tuple(_rule(rule) for rule in entry.iterchildren(qn(NACM, "rule"))))
                       for entry in top.iterchildren(qn(NACM, "rule-list")))
    return NacmConfig(enabled=_flag(top, "enable-nacm", True), read_permit=_action(top, "read-default", "permit"),
                      write_permit=_action(top, "write-default", "deny"), exec_permit=_action(top, "exec-default", "permit"),
                      groups=groups, rule_lists=rule_lists)


def _rule(entry: etree._Element) -> Rule:
    common = dict(name=_text(entry, "name"), module=_text(entry, "module-name") or "*",
                  operations=_operations(_text(entry, "access-operations") or "*"),
                  permit=_text(entry, "action") == "permit")
    if (rpc := entry.findtext(qn(NACM, "rpc-name"))) is not None:
        return Rule(kind="rpc", target=rpc.strip(), **common)
    if (notification := entry.findtext(qn(NACM, "notification-name"))) is not None:
        return Rule(kind="notification", target=notification.strip(), **common)
    path = entry.find(qn(NACM, "path"))
    if path is not None:
        return Rule(kind="data", path=_steps((path.text or "").strip(), path.nsmap), **common)
    return Rule(kind="any", **common)


def _steps(text: str, nsmap: Mapping[str | None, str]) -> Steps | None:
    if text == "/":
        return ()
    try:
        steps = parse_instance_path(text)
    except InstancePathError:
        return None
    resolved = []
    for step in steps:
        namespace = nsmap.get(step.prefix) if step.prefix else None
        if namespace is None:
            return None
        keys = []
        for key, value in step.predicates:
            prefix, _, name = key.rpartition(":")
            key_namespace = nsmap.get(prefix) if prefix else namespace
            if key_namespace is None or key == ".":
                return None
            keys.append((qn(key_namespace, name), value))
        resolved.append((qn(namespace, step.name), tuple(keys)))
    return tuple(resolved)


def _operations(text: str) -> frozenset[str]:
    if text.strip() == "*":
        return ACCESS_OPERATIONS
    return frozenset(text.split()) & ACCESS_OPERATIONS


def _text(element: etree._Element, name: str) -> str:
    return (element.findtext(qn(NACM, name)) or "").strip()


def _flag(element: etree._Element, name: str, default: bool) -> bool:
    text = element.findtext(qn(NACM, name))
    return default if text is None else text.strip() == "true"


def _action(element: etree._Element, name: str, default: str) -> bool:
    return (element.findtext(qn(NACM, name)) or default).strip() == "permit"
