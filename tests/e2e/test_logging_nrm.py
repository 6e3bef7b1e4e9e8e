"""The 3GPP Logging NRM on a real Master, over real SSH with two users: logs created with
edit-config record operations (with the nodes they touched), notifications, pushes summarised
and measurement jobs, each with its time and consumer; bounded, stopped at endTime, persisted,
readable with get and with ``mso logs``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from mso.namespaces import INTERFACES, LOGGING, NETCONF_BASE, NRM, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH, qn
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from tests.conftest import PASSWORD, USER, ServerProcess, run

LOG = LOGGING
OTHER_USER, OTHER_PASSWORD = "bob", "bob-secret"
TWO_USERS = ["--user", f"{OTHER_USER}:{OTHER_PASSWORD}", "--recovery-user", OTHER_USER, "--line-cards", "1", "--ports", "2"]
FUTURE = "2099-01-01T00:00:00Z"


def log_info(log_id: str, *, categories: tuple[str, ...] = (), names: tuple[str, ...] = (), max_size: int = 1_000_000,
             action: str = "wrap", end_time: str = FUTURE) -> str:
    selectors = "".join(f"<mNSCategories>{c}</mNSCategories>" for c in categories)
    selectors += "".join(f"<mNSToBeLogged>{n}</mNSToBeLogged>" for n in names)
    return (f"<LogInfo><id>{log_id}</id><attributes>{selectors}<endTime>{end_time}</endTime>"
            f"<maxSize>{max_size}</maxSize><logFullAction>{action}</logFullAction></attributes></LogInfo>")


def logging_edit(*logs: str, max_logs: int = 4, registry: str = "logs", subnetwork: str = "device") -> str:
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<SubNetwork xmlns="{NRM}"><id>{subnetwork}</id><LogRegistry xmlns="{LOG}"><id>{registry}</id>'
            f"<attributes><maxLogs>{max_logs}</maxLogs></attributes>{''.join(logs)}</LogRegistry></SubNetwork>"
            f"</config></edit-config>")


def describe_mgmt0(text: str) -> str:
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<interfaces xmlns="{INTERFACES}"><interface><name>mgmt0</name><description>{text}</description>'
            f'<type xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type">t:ethernetCsmacd</type></interface>'
            f"</interfaces></config></edit-config>")


async def connect(master: ServerProcess, user: str = USER, password: str = PASSWORD) -> NetconfClient:
    return await NetconfClient.connect(master.host, master.port, username=user, password=password)


async def log_state(client: NetconfClient, log_id: str) -> tuple[dict[str, str], list[etree._Element]]:
    """A log's read-only attributes and its LogEntry records (as XML)."""
    data = await client.get(subtree=f'<SubNetwork xmlns="{NRM}"><LogRegistry xmlns="{LOG}"><LogInfo><id>{log_id}</id>'
                                    "</LogInfo></LogRegistry></SubNetwork>")
    info = next(i for i in data.iter(qn(LOG, "LogInfo")) if i.findtext(qn(LOG, "id")) == log_id)
    attributes = {etree.QName(a).localname: a.text or "" for a in info.find(qn(LOG, "attributes"))}
    return attributes, list(info.iter(qn(LOG, "logEntry")))


def field(entry: etree._Element, path: str) -> str | None:
    return entry.findtext("/".join(f"{{{LOG}}}{step}" for step in path.split("/")))


def values(entry: etree._Element, path: str) -> list[str]:
    return [leaf.text or "" for leaf in entry.iterfind("/".join(f"{{{LOG}}}{step}" for step in path.split("/")))]


async def until(check, timeout: float = 10.0):
    for _ in range(int(timeout / 0.1)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_each_moi_is_created_by_edit_config_and_each_refusal_has_its_error(server_factory) -> None:
    master = server_factory(extra_args=TWO_USERS)

    async def refused(client: NetconfClient, edit: str) -> RpcError:
        with pytest.raises(RpcError) as raised:
            await client.rpc(edit)
        return raised.value

    async def body() -> None:
        client = await connect(master)
        too_many = await refused(client, logging_edit(log_info("a", categories=("ProvMnS",)),
                                                      log_info("b", categories=("ProvMnS",)), max_logs=1))
        assert too_many.tag == "resource-denied" and "maxLogs" in too_many.message and "1" in too_many.message
        unknown = await refused(client, logging_edit(log_info("a", categories=("BillingMnS",))))
        assert unknown.tag == "invalid-value"
        both = await refused(client, logging_edit(log_info("a", categories=("ProvMnS",),
                                                           names=("ietf-netconf:get",))))
        assert both.tag == "invalid-value" and "exactly one" in both.message
        neither = await refused(client, logging_edit(log_info("a")))
        assert neither.tag == "invalid-value"
        await client.rpc(logging_edit(log_info("prov", categories=("ProvMnS",))))
        second = await refused(client, logging_edit(log_info("x", categories=("ProvMnS",)), registry="other"))
        assert (second.tag, second.app_tag) == ("operation-failed", "too-many-elements")
        attributes, _ = await log_state(client, "prov")
        assert attributes["logState"] == "logging" and attributes["maxSize"] == "1000000"
        await client.close()

    run(body())


def test_records_name_the_user_and_source_and_the_nodes_an_operation_touched(server_factory) -> None:
    master = server_factory(extra_args=TWO_USERS)

    async def body() -> list[etree._Element]:
        admin = await connect(master)
        await admin.rpc(describe_mgmt0("initial"))  # creates /interfaces, before the log exists
        await admin.rpc(logging_edit(log_info("prov", categories=("ProvMnS",))))
        bob = await connect(master, OTHER_USER, OTHER_PASSWORD)
        await bob.rpc(describe_mgmt0("uplink"))
        await bob.get(xpath="/if:interfaces/if:interface[if:name='1/0/1']/if:statistics/if:in-octets",
                      namespaces={"if": INTERFACES})
        source = "%s:%d" % bob.local_address
        await bob.close()
        _, entries = await until(lambda: _with(admin, "prov", 3))
        await admin.close()
        return entries, source

    entries, source = run(body())
    bobs = [e for e in entries if field(e, "consumerIdentification/userName") == OTHER_USER]
    by_name = {field(e, "operationInvoked/name"): e for e in bobs}
    edit, get = by_name["ietf-netconf:edit-config"], by_name["ietf-netconf:get"]
    assert field(edit, "consumerIdentification/userName") == OTHER_USER
    assert field(edit, "consumerIdentification/sourceAddress") == source
    assert field(edit, "operationInvoked/datastore") == "running" and field(edit, "operationInvoked/result") == "success"
    assert values(edit, "operationInvoked/nodes") == ["/ietf-interfaces:interfaces/ietf-interfaces:interface"
                                                      "[ietf-interfaces:name='mgmt0']/ietf-interfaces:description"]
    assert values(edit, "operationInvoked/modules") == ["ietf-interfaces"]
    assert values(get, "operationInvoked/nodes") == ["/ietf-interfaces:interfaces/ietf-interfaces:interface"
                                                     "[ietf-interfaces:name='1/0/1']"]
    assert field(get, "operationInvoked/datastore") == "operational"
    assert field(get, "logTime").endswith("Z")


async def _with(client: NetconfClient, log_id: str, count: int):
    attributes, entries = await log_state(client, log_id)
    return (attributes, entries) if len(entries) >= count else None


def test_a_subscriptions_records_carry_its_measurement_job_and_summaries_never_values(server_factory) -> None:
    master = server_factory(extra_args=TWO_USERS)
    establish = (f'<establish-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}">'
                 f'<datastore xmlns="{YANG_PUSH}" xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">ds:operational'
                 f'</datastore><datastore-xpath-filter xmlns="{YANG_PUSH}" xmlns:if="{INTERFACES}">'
                 f"/if:interfaces/if:interface[if:name='1/0/1']</datastore-xpath-filter>"
                 f'<periodic xmlns="{YANG_PUSH}"><period>20</period></periodic></establish-subscription>')

    async def body() -> list[etree._Element]:
        admin = await connect(master)
        await admin.rpc(logging_edit(log_info("streams", categories=("StreamingDataReportingMnS",))))
        bob = await connect(master, OTHER_USER, OTHER_PASSWORD)
        await bob.rpc(establish)
        await asyncio.sleep(2.5)  # two push summaries
        await bob.close()
        _, entries = await until(lambda: _with(admin, "streams", 4))
        await admin.close()
        return entries

    entries = run(body())
    jobs = [e for e in entries if e.find(qn(LOG, "performanceMetricCollected")) is not None]
    started = next(e for e in jobs if field(e, "performanceMetricCollected/change") == "started")
    assert field(started, "performanceMetricCollected/period") == "20"
    assert field(started, "performanceMetricCollected/target") == "ds:operational"
    assert "1/0/1" in field(started, "performanceMetricCollected/filter")
    assert field(started, "consumerIdentification/userName") == OTHER_USER
    pushes = [e for e in entries if field(e, "notificationInvoked/name") == "ietf-yang-push:push-update"]
    assert pushes and all(int(field(e, "notificationInvoked/count")) >= 1 for e in pushes)
    operations = [field(e, "operationInvoked/name") for e in entries if e.find(qn(LOG, "operationInvoked")) is not None]
    assert "ietf-subscribed-notifications:establish-subscription" in operations
    for entry in entries:  # values are never recorded
        assert b"in-octets" not in etree.tostring(entry) and b"statistics" not in etree.tostring(entry)


def test_wrap_drops_the_oldest_halt_keeps_what_it_has_and_end_time_stops(server_factory) -> None:
    master = server_factory(extra_args=TWO_USERS)
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    get_config = f'<get-config xmlns="{NETCONF_BASE}"><source><running/></source></get-config>'

    async def body() -> tuple[dict, list, dict, list, dict, dict]:
        admin = await connect(master)
        await admin.rpc(logging_edit(log_info("wrap", names=("ietf-netconf:get-config",), max_size=1200, action="wrap"),
                                     log_info("halt", names=("ietf-netconf:get-config",), max_size=1200, action="halt"),
                                     log_info("brief", names=("ietf-netconf:get-config",), end_time=soon)))
        for _ in range(12):
            await admin.rpc(get_config)
        wrapped, wrapped_entries = await log_state(admin, "wrap")
        halted, halted_entries = await log_state(admin, "halt")

        async def stopped() -> dict | None:
            attributes, _ = await log_state(admin, "brief")
            return attributes if attributes["logState"] == "stopped" else None

        at_stop = await until(stopped)
        for _ in range(2):
            await admin.rpc(get_config)
        after_stop, _ = await log_state(admin, "brief")
        await admin.close()
        return wrapped, wrapped_entries, halted, halted_entries, at_stop, after_stop

    wrapped, wrapped_entries, halted, halted_entries, at_stop, after_stop = run(body())
    assert wrapped["logState"] == "logging" and int(wrapped["currentSize"]) <= 1200
    assert int(wrapped["logRecordCount"]) == len(wrapped_entries) < 12
    first_kept = min(int(e.getparent().getparent().findtext(qn(LOG, "id"))) for e in wrapped_entries)
    assert first_kept > 1  # the oldest went
    assert halted["logState"] == "logFull" and int(halted["currentSize"]) <= 1200
    assert {int(e.getparent().getparent().findtext(qn(LOG, "id"))) for e in halted_entries} == set(
        range(1, len(halted_entries) + 1))  # the first ones stay
    assert int(at_stop["logRecordCount"]) >= 1
    assert after_stop == at_stop  # nothing is recorded past endTime


def test_records_survive_a_restart_and_mso_logs_filters_by_user_and_time(server_factory, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    master = server_factory(state_dir, extra_args=TWO_USERS)

    async def before() -> str:
        admin = await connect(master)
        await admin.rpc(logging_edit(log_info("prov", categories=("ProvMnS",))))
        await admin.rpc(describe_mgmt0("first"))
        await asyncio.sleep(0.05)
        middle = datetime.now(timezone.utc).isoformat()
        bob = await connect(master, OTHER_USER, OTHER_PASSWORD)
        await bob.rpc(describe_mgmt0("second"))
        await bob.close()
        await admin.close()
        await asyncio.sleep(1.5)  # one flush
        return middle

    middle = run(before())
    from tests.conftest import stop_process
    stop_process(master.process)
    master = server_factory(state_dir, extra_args=TWO_USERS)

    async def after() -> list[etree._Element]:
        admin = await connect(master)
        _, entries = await log_state(admin, "prov")
        await admin.close()
        return entries

    edits = [e for e in run(after()) if field(e, "operationInvoked/name") == "ietf-netconf:edit-config"]
    assert [field(e, "consumerIdentification/userName") for e in edits] == [USER, USER, OTHER_USER]

    def logs(*args: str) -> list[dict]:
        done = subprocess.run([sys.executable, "-m", "mso", "logs", "--state-dir", str(state_dir), "--log", "prov",
                               "--json", *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    bobs = logs("--user", OTHER_USER)
    assert bobs and {r["consumerIdentification"]["userName"] for r in bobs} == {OTHER_USER}
    later = logs("--since", middle)
    assert later and all(r["logTime"] >= middle.replace("+00:00", "Z")[:19] for r in later)
    assert len(later) < len(logs())
    readable = subprocess.run([sys.executable, "-m", "mso", "logs", "--state-dir", str(state_dir), "--log", "prov",
                               "--user", OTHER_USER], capture_output=True, text=True, timeout=30)
    assert f"{OTHER_USER}@127.0.0.1:" in readable.stdout and "operation ietf-netconf:edit-config running success" \
        in readable.stdout
    missing = subprocess.run([sys.executable, "-m", "mso", "logs", "--state-dir", str(state_dir), "--log", "nope"],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and missing.stderr.startswith("mso logs: no records of log 'nope'")


def test_reading_the_logs_is_recorded_only_by_a_log_that_names_get(server_factory) -> None:
    master = server_factory(extra_args=TWO_USERS)

    async def body() -> tuple[list, list]:
        admin = await connect(master)
        await admin.rpc(logging_edit(log_info("prov", categories=("ProvMnS",)),
                                     log_info("reads", names=("ietf-netconf:get",))))
        for _ in range(3):
            await log_state(admin, "prov")  # a get that returns LogEntry records
        _, prov = await log_state(admin, "prov")
        _, reads = await log_state(admin, "reads")
        await admin.close()
        return prov, reads

    prov, reads = run(body())
    assert [field(e, "operationInvoked/name") for e in prov] == ["ietf-netconf:edit-config"]
    assert len([e for e in reads if field(e, "operationInvoked/name") == "ietf-netconf:get"]) >= 3


def test_get_selects_records_by_consumer_and_by_time_with_xpath(server_factory) -> None:
    master = server_factory(extra_args=TWO_USERS)
    entries = "/nrm:SubNetwork/log3gpp:LogRegistry/log3gpp:LogInfo/log3gpp:LogEntry"
    namespaces = {"nrm": NRM, "log3gpp": LOG}

    async def body() -> tuple[list[str], list[str], str]:
        admin = await connect(master)
        await admin.rpc(logging_edit(log_info("prov", names=("ietf-netconf:get-config",))))
        get_config = f'<get-config xmlns="{NETCONF_BASE}"><source><running/></source></get-config>'
        await admin.rpc(get_config)
        await asyncio.sleep(0.05)
        middle = datetime.now(timezone.utc)
        bob = await connect(master, OTHER_USER, OTHER_PASSWORD)
        await bob.rpc(get_config)
        await bob.close()
        by_user = await admin.get(xpath=f"{entries}[log3gpp:attributes/log3gpp:logEntry/log3gpp:consumerIdentification"
                                        f"/log3gpp:userName='{OTHER_USER}']", namespaces=namespaces)
        # XPath 1.0 compares numbers (doubles): a date-and-time without its separators is one, from
        # the day of the month on, so that its 14 digits to the microsecond stay exact (20 would be
        # rounded to 4 ms, and bob's login takes little more)
        threshold = middle.strftime("%d%H%M%S%f")
        after = await admin.get(xpath=f"{entries}[substring(translate(log3gpp:attributes/log3gpp:logEntry"
                                      f"/log3gpp:logTime, '-:TZ.', ''), 7) > {threshold}]", namespaces=namespaces)
        await admin.close()
        users = lambda data: [u.text for u in data.iter(qn(LOG, "userName"))]  # noqa: E731
        return users(by_user), users(after), threshold

    by_user, after, _ = run(body())
    assert by_user == [OTHER_USER]
    assert after == [OTHER_USER]
