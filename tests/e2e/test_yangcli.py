"""yangcli (Debian's yuma123 2.13) against a real Master, each run in batch mode as its own process.

yangcli learns the server's modules from the hello and get-schema, so it knows the YANG 1.0 ones;
a batch script stops at the first rpc-error, so a command expected to fail runs on its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mso.schema import ietf_module_dirs
from tests.conftest import ServerProcess, start_server, stop_process

MODULE_SOURCE = Path(__file__).parents[2] / "yang" / "ietf-multiple-stream-originators@2019-10-12.yang"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if shutil.which("yangcli") is None:
        pytest.fail("yangcli is missing: scripts/bootstrap.sh installs the Debian package yangcli")
    srv = start_server(tmp_path_factory.mktemp("yangcli") / "state")
    yield srv
    stop_process(srv.process)


def yangcli(srv: ServerProcess, home: Path, *commands: str, modpath: list[Path] | None = None) -> str:
    """Run ``commands`` as one yangcli batch script; returns what yangcli printed."""
    script = home / "commands.txt"
    script.write_text("\n".join(commands) + "\n")
    args = ["yangcli", f"--server={srv.host}", f"--ncport={srv.port}", f"--user={srv.user}",
            f"--password={srv.password}", "--batch-mode", f"--run-script={script}"]
    if modpath:
        args.append("--modpath=" + ":".join(str(d) for d in modpath))
    # HOME: yangcli keeps its history and settings in ~/.yuma
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=home,
                            env={**os.environ, "HOME": str(home)})
    return result.stdout + result.stderr


def test_yangcli_hello_and_sget_of_the_capabilities(master: ServerProcess, tmp_path: Path):
    out = yangcli(master, tmp_path, "sget /netconf-state/capabilities")
    assert "Protocol version set to: RFC 6241 (base:1.1)" in out
    assert "capability urn:ietf:params:netconf:capability:xpath:1.0" in out


def test_yangcli_get_with_a_subtree_and_a_prefixed_xpath_filter(master: ServerProcess, tmp_path: Path):
    out = yangcli(master, tmp_path, "sget /interfaces/interface[name='2/0/7']/name",
                  "xget /ncm:netconf-state/ncm:capabilities")
    assert "interface 2/0/7 {" in out
    assert "interface 2/0/8" not in out
    assert "capability urn:ietf:params:netconf:base:1.1" in out


def test_yangcli_unprefixed_xget_is_an_rpc_error_that_says_the_name_has_no_prefix(master: ServerProcess,
                                                                                    tmp_path: Path):
    # yangcli sends select="/netconf-state/capabilities" as typed; it used to get an empty <data/>
    out = yangcli(master, tmp_path, "xget /netconf-state/capabilities")
    assert "error-tag invalid-value" in out
    assert "'netconf-state', 'capabilities' have no prefix" in out


def test_yangcli_merge_then_sget_config(master: ServerProcess, tmp_path: Path):
    out = yangcli(master, tmp_path,
                  "merge /interfaces/interface -- name=1/0/5 type=ianaift:ethernetCsmacd description=set-by-yangcli",
                  "sget-config /interfaces source=running")
    assert "RPC OK Reply" in out
    assert "interface 1/0/5 {" in out and "description set-by-yangcli" in out


def test_yangcli_get_schema(master: ServerProcess, tmp_path: Path):
    out = yangcli(master, tmp_path, "get-schema identifier=ietf-multiple-stream-originators")
    # yangcli prints the reply's string as  data '<module text>'  inside rpc-reply { }
    text = out.split("data '", 1)[1].rsplit("'\n}", 1)[0]
    assert text.strip() == MODULE_SOURCE.read_text().strip()


def test_yangcli_cannot_establish_subscriptions_nor_receive_pushes_yuma123_cannot_load_their_module(
        master: ServerProcess, tmp_path: Path):
    # ietf-subscribed-notifications is YANG 1.1, so not in the hello; given the file, yuma123 2.13
    # fails to compile it (refines into its choices), so yangcli has no establish-subscription
    load = yangcli(master, tmp_path, "mgrload ietf-subscribed-notifications", modpath=ietf_module_dirs())
    assert "Load module failed (missing refine target)" in load
    establish = yangcli(master, tmp_path, "establish-subscription")
    assert "Error: Unrecognized command" in establish
