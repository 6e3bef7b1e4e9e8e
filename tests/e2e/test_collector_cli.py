"""``mso collector`` as a process against a real Master: configured and dynamic subscriptions,
and every usage error as one line with a non-zero exit."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncssh
import pytest
from ncclient import manager

from tests.collector_support import collector_factory, run_cli  # noqa: F401  (fixture)
from tests.conftest import ServerProcess, stop_process
from tests.e2e.test_configured_subscriptions import subscription_config


def connect(srv: ServerProcess) -> manager.Manager:
    return manager.connect(host=srv.host, port=srv.port, username=srv.user, password=srv.password,
                           hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20)


def periodic(record: dict) -> bool:
    return record["kind"] == "periodic"


def test_configured_subscription_becomes_complete_records(server: ServerProcess, collector_factory):
    collector = collector_factory()
    with connect(server) as m:
        m.edit_config(target="running", config=subscription_config(collector.port))
    records = collector.wait_for(periodic, count=3)
    for record in records:
        assert record["subscription-id"] == 40 and record["complete"] is True
        assert record["generators"] == {"expected": ["1"], "present": ["1"], "missing": [], "unexpected": []}
        interfaces = record["data"]["ietf-interfaces:interfaces"]["interface"]
        assert [i["name"] for i in interfaces] == ["2/0/3"]
    times = [r["time"] for r in records]
    assert times == sorted(times) and len(set(times)) == 3


def test_late_joiner_learns_the_subscription_from_the_master(server: ServerProcess, collector_factory):
    """The collector starts after subscription-started went by: it reads /sn:subscriptions."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # the Master pushes into the void until the collector binds this port
    with connect(server) as m:
        m.edit_config(target="running", config=subscription_config(port))
    collector = collector_factory(["--netconf", f"127.0.0.1:{server.port}", "--user", server.user,
                                   "--password", server.password], listen=f"127.0.0.1:{port}")
    (record,) = collector.wait_for(periodic)
    assert record["subscription-id"] == 40 and record["complete"] is True
    assert "subscriptions-learned ids=40" in collector.log()


def test_dynamic_subscription_from_the_command_line(server: ServerProcess, collector_factory):
    collector = collector_factory(["--netconf", f"127.0.0.1:{server.port}", "--user", server.user,
                                   "--password", server.password,
                                   "--subscribe", "/if:interfaces/if:interface[if:name='1/0/1']", "--period", "10"])
    records = collector.wait_for(periodic, count=2)
    assert all(r["complete"] and r["generators"]["present"] == ["1"] for r in records)
    assert [i["name"] for i in records[0]["data"]["ietf-interfaces:interfaces"]["interface"]] == ["1/0/1"]


@pytest.mark.parametrize("args, message", [
    (["--subscribe", "/if:interfaces", "--period", "10"], "--subscribe needs --netconf"),
    (["--netconf", "127.0.0.1:1"], "--netconf needs --user"),
    (["--netconf", "127.0.0.1:1", "--user", "u", "--password", "p", "--key", "k"], "exactly one of --password"),
    (["--netconf", "127.0.0.1:1", "--user", "u", "--key", "/nonexistent"], "--key: no such file"),
    (["--netconf", "127.0.0.1:1", "--user", "u", "--password", "p", "--subscribe", "/if:interfaces"],
     "exactly one of --period"),
    (["--netconf", "127.0.0.1:1", "--user", "u", "--password", "p", "--subscribe", "/nope:x", "--period", "5"],
     "unknown prefix 'nope'"),
    (["--netconf", "127.0.0.1:1", "--user", "u", "--password", "p", "--subscribe", "<a>", "--period", "5"],
     "not well-formed"),
    (["--listen", "nowhere"], "expected HOST:PORT"),
    (["--deadline", "0"], "expected a positive number"),
    (["--jsonl", "/nonexistent/dir/out.jsonl"], "no such directory"),
    (["--ui", "--jsonl", "-"], "both want the terminal"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith(("usage:", " "))]
    assert len(lines) == 1 and message in lines[0]  # argparse's usage lines aside


def test_unreachable_master_and_busy_port_exit_1(tmp_path: Path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = run_cli("--listen", "127.0.0.1:0", "--jsonl", str(tmp_path / "o"), "--netconf", f"127.0.0.1:{port}",
                     "--user", "u", "--password", "p")
    assert result.returncode == 1 and "cannot open a NETCONF session" in result.stderr
    assert "Traceback" not in result.stderr
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        result = run_cli("--listen", f"127.0.0.1:{busy.getsockname()[1]}", "--jsonl", str(tmp_path / "o"))
    finally:
        busy.close()
    assert result.returncode == 1 and "cannot listen on" in result.stderr and "Traceback" not in result.stderr


def test_master_restart_reconnects_and_subscribes_again(server_factory, collector_factory, tmp_path: Path):
    master = server_factory(tmp_path / "state")
    collector = collector_factory(["--netconf", f"127.0.0.1:{master.port}", "--user", master.user,
                                   "--password", master.password, "--subscribe",
                                   "/if:interfaces/if:interface[if:name='1/0/2']", "--period", "10"])
    (first,) = collector.wait_for(periodic)
    stop_process(master.process)
    server_factory(tmp_path / "state", port=master.port)
    (record,) = collector.wait_for(lambda r: periodic(r) and r["time"] > first["time"] and r["complete"],
                                   timeout=30)
    assert [i["name"] for i in record["data"]["ietf-interfaces:interfaces"]["interface"]] == ["1/0/2"]
    log = collector.log()
    assert "master-session-lost" in log and log.count("subscription-established") == 2


def test_public_key_login(server_factory, collector_factory, tmp_path: Path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "collector_key"))
    (tmp_path / "authorized_keys").write_bytes(key.export_public_key())
    master = server_factory(tmp_path / "state", ["--authorized-keys", str(tmp_path / "authorized_keys")])
    collector = collector_factory(["--netconf", f"127.0.0.1:{master.port}", "--user", "operator",
                                   "--key", str(tmp_path / "collector_key"),
                                   "--subscribe", "<interfaces xmlns='urn:ietf:params:xml:ns:yang:ietf-interfaces'>"
                                                  "<interface><name>1/0/3</name></interface></interfaces>",
                                   "--period", "10"])
    (record,) = collector.wait_for(periodic)
    assert [i["name"] for i in record["data"]["ietf-interfaces:interfaces"]["interface"]] == ["1/0/3"]
