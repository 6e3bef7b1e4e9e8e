"""RFC 6022 ``/netconf-state``: capabilities, datastores and locks, schemas, sessions, statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from mso.date_and_time import format_datetime
from mso.namespaces import NETCONF_MONITORING, qn

if TYPE_CHECKING:
    from server.master import Master

NCM = NETCONF_MONITORING


def _leaf(parent: etree._Element, name: str, value: object) -> etree._Element:
    element = etree.SubElement(parent, qn(NCM, name))
    element.text = str(value)
    return element


def netconf_state(master: "Master") -> etree._Element:
    # "ncm" is bound as well as the default namespace: identity values such as ncm:netconf-ssh need it
    state = etree.Element(qn(NCM, "netconf-state"), nsmap={None: NCM, "ncm": NCM})
    caps = etree.SubElement(state, qn(NCM, "capabilities"))
    for uri in master.capabilities:
        _leaf(caps, "capability", uri)
    _datastores(state, master)
    state.append(master.schema.netconf_state_schemas())
    _sessions(state, master)
    _statistics(state, master)
    return state


def _datastores(state: etree._Element, master: "Master") -> None:
    datastore = etree.SubElement(etree.SubElement(state, qn(NCM, "datastores")), qn(NCM, "datastore"))
    _leaf(datastore, "name", "running")
    owner = master.running.lock_owner
    if owner is not None:
        lock = etree.SubElement(etree.SubElement(datastore, qn(NCM, "locks")), qn(NCM, "global-lock"))
        _leaf(lock, "locked-by-session", owner)
        _leaf(lock, "locked-time", format_datetime(master.running.lock_time, digits=0))


def _sessions(state: etree._Element, master: "Master") -> None:
    sessions = etree.SubElement(state, qn(NCM, "sessions"))
    for session in master.sessions:
        info = session.info
        entry = etree.SubElement(sessions, qn(NCM, "session"))
        _leaf(entry, "session-id", info.session_id)
        _leaf(entry, "transport", "ncm:netconf-ssh")
        _leaf(entry, "username", info.user)
        _leaf(entry, "source-host", info.source_host.rsplit(":", 1)[0])
        _leaf(entry, "login-time", format_datetime(info.login_time, digits=0))
        counters = info.counters
        _leaf(entry, "in-rpcs", counters.in_rpcs)
        _leaf(entry, "in-bad-rpcs", counters.in_bad_rpcs)
        _leaf(entry, "out-rpc-errors", counters.out_rpc_errors)
        _leaf(entry, "out-notifications", counters.out_notifications)


def _statistics(state: etree._Element, master: "Master") -> None:
    stats = master.sessions.statistics
    element = etree.SubElement(state, qn(NCM, "statistics"))
    _leaf(element, "netconf-start-time", format_datetime(stats.start_time, digits=0))
    _leaf(element, "in-bad-hellos", stats.in_bad_hellos)
    _leaf(element, "in-sessions", stats.in_sessions)
    _leaf(element, "dropped-sessions", stats.dropped_sessions)
    _leaf(element, "in-rpcs", stats.in_rpcs)
    _leaf(element, "in-bad-rpcs", stats.in_bad_rpcs)
    _leaf(element, "out-rpc-errors", stats.out_rpc_errors)
    _leaf(element, "out-notifications", stats.out_notifications)
