"""Limits and logins on a real Master: each limit refuses with its RFC error, failed logins are
logged and counted (and slowed: that is LoginGuard's, unit-tested), --no-password leaves keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest
from lxml import etree

from mso.namespaces import DATASTORES, INTERFACES, NETCONF_MONITORING, NETCONF_SERVER, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from mso.netconf_client import NetconfClient
from mso.rpc_error import RpcError
from tests.conftest import PASSWORD, USER, ServerProcess, run

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH


def establish(period: int = 100) -> str:
    return (f'<establish-subscription xmlns="{SN}"><datastore xmlns="{YP}" xmlns:ds="{DATASTORES}">ds:operational'
            f'</datastore><datastore-xpath-filter xmlns="{YP}" xmlns:if="{INTERFACES}">/if:interfaces/if:interface'
            f"[if:name='1/0/1']</datastore-xpath-filter><periodic xmlns=\"{YP}\"><period>{period}</period></periodic>"
            "</establish-subscription>")


async def connect(master: ServerProcess, password: str = PASSWORD) -> NetconfClient:
    return await NetconfClient.connect(master.host, master.port, username=USER, password=password)


async def statistic(client: NetconfClient, name: str) -> int:
    data = await client.get(subtree=f'<netconf-state xmlns="{NETCONF_MONITORING}"><statistics/></netconf-state>')
    return int(data.findtext(f".//{{{NETCONF_SERVER}}}{name}"))


async def refused(client: NetconfClient, operation: str) -> RpcError:
    with pytest.raises(RpcError) as raised:
        await client.rpc(operation)
    return raised.value


def test_sessions_and_subscriptions_have_limits_with_their_errors(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2", "--max-sessions", "2",
                                        "--max-subscriptions", "3", "--max-subscriptions-per-session", "2",
                                        "--min-period", "50"])

    async def body() -> None:
        first, second = await connect(master), await connect(master)
        with pytest.raises((asyncssh.Error, OSError, asyncio.TimeoutError)):
            await connect(master)
        assert await statistic(first, "refused-sessions") == 1
        short = await refused(first, establish(period=10))
        assert short.app_tag == "ietf-yang-push:period-unsupported"
        assert etree.fromstring(etree.tostring(short.to_element())).findtext(f".//{{{YP}}}period-hint") == "50"
        await first.rpc(establish())
        await first.rpc(establish())
        per_session = await refused(first, establish())
        assert (per_session.tag, per_session.app_tag) == ("resource-denied",
                                                          "ietf-subscribed-notifications:insufficient-resources")
        await second.rpc(establish())
        in_all = await refused(second, establish())
        assert in_all.app_tag == "ietf-subscribed-notifications:insufficient-resources" and "at most 3" in in_all.message
        await first.close()
        await second.close()

    run(body())


def test_failed_logins_are_logged_and_counted(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2"])

    async def body() -> int:
        for _ in range(2):
            with pytest.raises(asyncssh.PermissionDenied):
                await connect(master, password="wrong")
        client = await connect(master)
        failed = await statistic(client, "failed-logins")
        await client.close()
        return failed

    assert run(body()) >= 2
    lines = [line for line in master.log().splitlines() if "event=auth-failed" in line]
    assert "failures=1" in lines[0] and f"user={USER}" in lines[0] and "source=127.0.0.1" in lines[0]
    assert any("failures=2" in line and "next-delay=0.4" in line for line in lines)


def test_no_password_leaves_public_keys_only(server_factory, tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id").write_bytes(key.export_private_key())
    (tmp_path / "authorized_keys").write_bytes(key.export_public_key())
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "2", "--no-password",
                                        "--authorized-keys", str(tmp_path / "authorized_keys")])

    async def body() -> None:
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(master)
        client = await NetconfClient.connect(master.host, master.port, username=USER, client_keys=[str(tmp_path / "id")])
        await client.close()

    run(body())
