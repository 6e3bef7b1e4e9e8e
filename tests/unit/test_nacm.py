"""NACM decisions on their own (RFC 8341 §3.4): rule order, groups, defaults, the schema's
default-deny extensions, and pruning that keeps the way to what is readable."""

from __future__ import annotations

import pytest
from lxml import etree

from mso.namespaces import INTERFACES, NACM, NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, qn
from mso.rpc_error import RpcError
from mso.schema import Schema
from server.authz import SERVER, DataWrite, Principal
from server.datastore import Commit
from server.nacm import Nacm
from server.nacm_config import read_nacm

NC, IF = NETCONF_BASE, INTERFACES
ALICE, BOB, ROOT = Principal("alice", 3), Principal("bob", 4), Principal("root", 5)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def running(*rule_lists: str, **defaults: str) -> etree._Element:
    leaves = "".join(f"<{name.replace('_', '-')}>{value}</{name.replace('_', '-')}>" for name, value in defaults.items())
    return etree.fromstring(
        f'<data xmlns="{NC}"><nacm xmlns="{NACM}">{leaves}<groups><group><name>ops</name><user-name>alice</user-name>'
        f"</group><group><name>guests</name><user-name>bob</user-name></group></groups>{''.join(rule_lists)}</nacm></data>")


def rule_list(group: str, *rules: str) -> str:
    return f"<rule-list><name>{group}-rules</name><group>{group}</group>{''.join(rules)}</rule-list>"


def rule(name: str, action: str, body: str = "", operations: str = "*", module: str = "*") -> str:
    return (f"<rule><name>{name}</name><module-name>{module}</module-name>{body}"
            f"<access-operations>{operations}</access-operations><action>{action}</action></rule>")


def policy(schema: Schema, data: etree._Element) -> Nacm:
    module_of = {m.namespace: m.name for m in schema.modules}
    return Nacm(lambda: data, access_defaults=schema.access_defaults, keys=schema.key_index, module_of=module_of,
                recovery_users=("root",))


def interfaces(*names: str) -> etree._Element:
    entries = "".join(f"<interface><name>{n}</name><description>d-{n}</description></interface>" for n in names)
    return etree.fromstring(f'<data xmlns="{NC}"><interfaces xmlns="{IF}">{entries}</interfaces></data>')


def test_defaults_are_read_permit_write_deny_exec_permit(schema: Schema) -> None:
    nacm = policy(schema, etree.fromstring(f'<data xmlns="{NC}"/>'))
    assert read_nacm(etree.fromstring(f'<data xmlns="{NC}"/>')).enabled
    data = interfaces("a")
    assert nacm.filter_read(BOB, data) is data  # nothing to prune: not even copied
    nacm.check_operation(BOB, qn(NC, "get"))
    with pytest.raises(RpcError) as denied:
        nacm.check_write(BOB, [DataWrite("/if:interfaces", "create", (("if", IF),))])
    assert denied.value.tag == "access-denied" and nacm.denied_data_writes == 1


def test_the_first_matching_rule_decides_in_rule_list_order(schema: Schema) -> None:
    path = f'<path xmlns:if="{IF}">/if:interfaces/if:interface[if:name=\'a\']</path>'
    nacm = policy(schema, running(rule_list("guests", rule("allow-a", "permit", path, "read"),
                                            rule("no-interfaces", "deny", "", "read", module="ietf-interfaces"))))
    assert [n.text for n in nacm.filter_read(BOB, interfaces("a", "b")).iter(qn(IF, "name"))] == ["a"]
    assert [n.text for n in nacm.filter_read(ALICE, interfaces("a", "b")).iter(qn(IF, "name"))] == ["a", "b"]


def test_a_denied_ancestor_stays_as_structure_for_a_readable_descendant(schema: Schema) -> None:
    path = f'<path xmlns:if="{IF}">/if:interfaces/if:interface[if:name=\'b\']/if:description</path>'
    nacm = policy(schema, running(rule_list("guests", rule("b-description", "permit", path, "read")),
                                  read_default="deny"))
    pruned = nacm.filter_read(BOB, interfaces("a", "b"))
    (entry,) = pruned.iter(qn(IF, "interface"))
    assert entry.findtext(qn(IF, "name")) == "b" and entry.findtext(qn(IF, "description")) == "d-b"


def test_schema_defaults_deny_all_and_the_recovery_user_bypasses(schema: Schema) -> None:
    config = running(rule_list("guests", rule("everything", "permit")))
    nacm = policy(schema, config)
    data = etree.fromstring(f'<data xmlns="{NC}"><nacm xmlns="{NACM}"><enable-nacm>true</enable-nacm></nacm></data>')
    assert len(policy(schema, running()).filter_read(BOB, data)) == 0  # nacm is default-deny-all
    assert nacm.filter_read(BOB, data) is not data  # an explicit rule opens it
    assert len(nacm.filter_read(BOB, data)) == 1
    kill = qn(SUBSCRIBED_NOTIFICATIONS, "kill-subscription")
    with pytest.raises(RpcError):
        policy(schema, running()).check_operation(ALICE, kill)
    for unrestricted in (ROOT, SERVER):
        policy(schema, running()).check_operation(unrestricted, kill)
    policy(schema, running()).check_operation(ALICE, qn(NC, "close-session"))
    with pytest.raises(RpcError):
        policy(schema, running()).check_operation(ALICE, qn(NC, "kill-session"))


def test_a_created_subtree_needs_create_on_every_node(schema: Schema) -> None:
    description = f'<path xmlns:if="{IF}">/if:interfaces/if:interface/if:description</path>'
    nacm = policy(schema, running(rule_list("ops", rule("no-descriptions", "deny", description, "create"),
                                            rule("interfaces", "permit", "", "create", module="ietf-interfaces"))))
    entry = interfaces("a")[0][0]
    with pytest.raises(RpcError):
        nacm.check_write(ALICE, [DataWrite("/if:interfaces/if:interface[if:name='a']", "create", (("if", IF),), entry)])
    bare = etree.fromstring(f'<interface xmlns="{IF}"><name>a</name></interface>')
    nacm.check_write(ALICE, [DataWrite("/if:interfaces/if:interface[if:name='a']", "create", (("if", IF),), bare)])


def test_notifications_follow_notification_rules_and_are_counted(schema: Schema) -> None:
    changes = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
    nacm = policy(schema, running(rule_list("guests", rule("no-changes", "deny", "<notification-name>"
                                                           "netconf-config-change</notification-name>"))))
    event = etree.Element(qn(changes, "netconf-config-change"))
    assert not nacm.permit_notification(BOB, event) and nacm.permit_notification(ALICE, event)
    assert nacm.denied_notifications == 1


def test_a_new_configuration_applies_at_once(schema: Schema) -> None:
    data = running()
    nacm = policy(schema, data)
    closed = running(enable_nacm="false")
    nacm.running_committed(Commit(data, closed, ALICE, ()))
    nacm.check_write(BOB, [DataWrite("/if:interfaces", "create", (("if", IF),))])
    assert nacm.unrestricted(BOB)
