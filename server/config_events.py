"""RFC 6470 ``netconf-config-change``: the event a commit of running puts on the NETCONF stream."""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from mso.namespaces import NETCONF_NOTIFICATIONS as NCN
from mso.tree_diff import Change
from server.authz import Principal

# RFC 6470 edit operations for our yang-patch style changes
_OPERATION = {"create": "create", "delete": "delete", "replace": "replace"}


def netconf_config_change(who: Principal, changes: Sequence[Change]) -> etree._Element:
    event = etree.Element(f"{{{NCN}}}netconf-config-change", nsmap={None: NCN})
    changed_by = etree.SubElement(event, f"{{{NCN}}}changed-by")
    etree.SubElement(changed_by, f"{{{NCN}}}username").text = who.user
    etree.SubElement(changed_by, f"{{{NCN}}}session-id").text = str(who.session_id)
    etree.SubElement(event, f"{{{NCN}}}datastore").text = "running"
    for change in changes:
        edit = etree.SubElement(event, f"{{{NCN}}}edit")
        target = etree.SubElement(edit, f"{{{NCN}}}target", nsmap=dict(change.namespaces))
        target.text = change.path
        etree.SubElement(edit, f"{{{NCN}}}operation").text = _OPERATION[change.operation]
    return event
