"""RFC 6022 ``/netconf-state``: capabilities, datastores and locks, schemas, sessions, statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lxml import etree

from mso.date_and_time import format_datetime
from mso.namespaces import NETCONF_MONITORING, NETCONF_SERVER, qn
from server.datastore import Lock
from server.session import ServerStatistics, SessionInfo

NCM = NETCONF_MONITORING


def _leaf(parent: etree._Element, name: str, value: object) -> etree._Element:
    element = etree.SubElement(parent, qn(NCM, name))
    element.text = str(value)
    return element


def netconf_state(capabilities: Sequence[str], schemas: etree._Element, lock: Lock | None,
                  sessions: Iterable[SessionInfo], statistics: ServerStatistics, failed_logins: int) -> etree._Element:
    # "ncm" is bound as well as the default namespace: identity values such as ncm:netconf-ssh need it
    state = etree.Element(qn(NCM, "netconf-state"), nsmap={None: NCM, "ncm": NCM})
    caps = etree.SubElement(state, qn(NCM, "capabilities"))
    for uri in capabilities:
        _leaf(caps, "capability", uri)
    _datastores(state, lock)
    state.append(schemas)
    _sessions(state, sessions)
    _statistics(state, statistics, failed_logins)
    return state


def _datastores(state: etree._Element, lock: Lock | None) -> None:
    datastore = etree.SubElement(etree.SubElement(state, qn(NCM, "datastores")), qn(NCM, "datastore"))
    _leaf(datastore, "name", "running")
    if lock is not None:
        global_lock = etree.SubElement(etree.SubElement(datastore, qn(NCM, "locks")), qn(NCM, "global-lock"))
        _leaf(global_lock, "locked-by-session", lock.session_id)
        _leaf(global_lock, "locked-time", format_datetime(lock.since, digits=0))


def _sessions(state: etree._Element, sessions: Iterable[SessionInfo]) -> None:
    element = etree.SubElement(state, qn(NCM, "sessions"))
    for info in sessions:
        entry = etree.SubElement(element, qn(NCM, "session"))
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


def _statistics(state: etree._Element, stats: ServerStatistics, failed_logins: int) -> None:
    element = etree.SubElement(state, qn(NCM, "statistics"))
    _leaf(element, "netconf-start-time", format_datetime(stats.start_time, digits=0))
    _leaf(element, "in-bad-hellos", stats.in_bad_hellos)
    _leaf(element, "in-sessions", stats.in_sessions)
    _leaf(element, "dropped-sessions", stats.dropped_sessions)
    _leaf(element, "in-rpcs", stats.in_rpcs)
    _leaf(element, "in-bad-rpcs", stats.in_bad_rpcs)
    _leaf(element, "out-rpc-errors", stats.out_rpc_errors)
    _leaf(element, "out-notifications", stats.out_notifications)
    for name, value in (("failed-logins", failed_logins), ("refused-sessions", stats.refused_sessions)):
        etree.SubElement(element, qn(NETCONF_SERVER, name), nsmap={None: NETCONF_SERVER}).text = str(value)
