"""Operations on the Master core in-process: error-option, the lock of running and what releases
it, and modify-subscription with each part of its input on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from mso.namespaces import INTERFACES, NETCONF_BASE, NETCONF_MONITORING, qn
from mso.rpc_error import RpcError
from mso.schema import Schema
from tests.conftest import run
from tests.master_fakes import DS, SN, YP, FakeSession, establish, rpc, running_master, subscription_id

NC = NETCONF_BASE
MGMT0 = "/if:interfaces/if:interface[if:name='mgmt0']"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def edit(error_option: str | None = None, description: str = "uplink") -> str:
    option = f"<error-option>{error_option}</error-option>" if error_option else ""
    return (f'<edit-config xmlns="{NC}"><target><running/></target>{option}<config>'
            f'<interfaces xmlns="{INTERFACES}"><interface><name>mgmt0</name><description>{description}</description>'
            f'<type xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type">t:ethernetCsmacd</type>'
            f"</interface></interfaces></config></edit-config>")


async def refused(master, session, operation: str) -> RpcError:
    with pytest.raises(RpcError) as raised:
        await rpc(master, session, operation)
    return raised.value


def test_error_options_the_all_or_nothing_edit_honours_are_accepted_and_continue_is_refused(
        tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            session = FakeSession()
            assert "urn:ietf:params:netconf:capability:rollback-on-error:1.0" in master.capabilities
            for option in ("stop-on-error", "rollback-on-error"):
                assert await rpc(master, session, edit(option, option)) is None
            error = await refused(master, session, edit("continue-on-error"))
            assert error.tag == "operation-not-supported" and "continue-on-error" in error.message
            described = master.running.root.findtext(f".//{{{INTERFACES}}}description")
            assert described == "rollback-on-error"

    run(body())


def test_the_lock_of_running_refuses_other_sessions_and_ends_with_its_session(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            holder, other = FakeSession(), FakeSession()
            master.sessions.opened(holder)  # type: ignore[arg-type]
            lock = f'<lock xmlns="{NC}"><target><running/></target></lock>'
            await rpc(master, holder, lock)
            assert (await refused(master, other, lock)).tag == "lock-denied"
            assert (await refused(master, other, edit())).tag == "in-use"
            state = await rpc(master, other, f'<get xmlns="{NC}"><filter><netconf-state xmlns="{NETCONF_MONITORING}">'
                                             f"<datastores/></netconf-state></filter></get>")
            assert state[0].findtext(f".//{{{NETCONF_MONITORING}}}locked-by-session") == str(holder.session_id)
            unlock = f'<unlock xmlns="{NC}"><target><running/></target></unlock>'
            assert (await refused(master, other, unlock)).tag == "operation-failed"
            master.sessions.closed(holder, dropped=True)  # type: ignore[arg-type]
            assert master.running.lock_holder is None
            await rpc(master, other, edit())

    run(body())


def test_modify_changes_what_it_carries_and_refuses_a_filter_without_its_datastore(tmp_path: Path,
                                                                                  schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            session = FakeSession()
            sub = subscription_id(await rpc(master, session, establish(MGMT0, period_cs=50)))
            period_only = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id>'
                           f'<periodic xmlns="{YP}"><period>20</period></periodic></modify-subscription>')
            await rpc(master, session, period_only)
            modified = await session.next("subscription-modified")
            assert modified.findtext(f"{{{YP}}}periodic/{{{YP}}}period") == "20"
            filter_only = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id>'
                           f'<datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">/if:interfaces'
                           f"</datastore-xpath-filter></modify-subscription>")
            error = await refused(master, session, filter_only)
            assert error.tag == "missing-element" and "datastore" in error.message
            stream_filter = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id>'
                             f'<stream-xpath-filter xmlns:if="{INTERFACES}">/if:interfaces</stream-xpath-filter>'
                             f"</modify-subscription>")
            assert (await refused(master, session, stream_filter)).tag == "invalid-value"

    run(body())


def test_modify_of_an_event_stream_subscription_changes_its_filter(tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema) as master:
            session = FakeSession()
            stream = f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream></establish-subscription>'
            sub = subscription_id(await rpc(master, session, stream))
            nothing = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id><stream-subtree-filter>'
                       f'<no-such-event xmlns="urn:example"/></stream-subtree-filter></modify-subscription>')
            await rpc(master, session, nothing)
            await rpc(master, session, edit())
            table = master.subscriptions.get(sub)
            assert table is not None and table.delivery.excluded == 1
            assert session.named("netconf-config-change") == []
            periodic = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id>'
                        f'<periodic xmlns="{YP}"><period>20</period></periodic></modify-subscription>')
            assert (await refused(master, session, periodic)).tag == "invalid-value"
            datastore = (f'<modify-subscription xmlns="{SN}"><id>{sub}</id>'
                         f'<datastore xmlns="{YP}" xmlns:ds="{DS}">ds:operational</datastore></modify-subscription>')
            assert (await refused(master, session, datastore)).tag == "invalid-value"
            assert qn(SN, "subscription-modified") in {e.tag for e in session.events}

    run(body())
