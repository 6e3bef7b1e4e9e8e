"""netconf-console2 — a second real client, run as its own process — against the Master."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerProcess

CONSOLE = str(Path(sys.executable).with_name("netconf-console2"))


def console(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CONSOLE, "--host", srv.host, "--port", str(srv.port), "-u", srv.user, "-p", srv.password, *args],
        capture_output=True, text=True, timeout=60,
    )


def test_hello_lists_our_capabilities(server: ServerProcess):
    result = console(server, "--hello")
    assert result.returncode == 0, result.stderr
    assert "urn:ietf:params:netconf:base:1.1" in result.stdout
    assert "yang-library:1.1" in result.stdout


def test_get_with_xpath(server: ServerProcess):
    result = console(server, "--ns", "hw=urn:ietf:params:xml:ns:yang:ietf-hardware",
                     "--get", "-x", "/hw:hardware/hw:component[hw:name='line-card-1']/hw:class")
    assert result.returncode == 0, result.stderr
    assert "line-card-1" in result.stdout and "ianahw:module" in result.stdout
    assert "line-card-2" not in result.stdout


def test_edit_config_from_a_file_then_get_config(server: ServerProcess, tmp_path: Path):
    # netconf-console2 wraps the file's content in <config> itself
    config = """<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">
    <interface>
      <name>3/0/5</name>
      <description>set by netconf-console2</description>
      <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
    </interface>
</interfaces>"""
    (tmp_path / "edit.xml").write_text(config)
    result = console(server, "--edit-config", str(tmp_path / "edit.xml"))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "<ok " in result.stdout or "<ok/>" in result.stdout
    result = console(server, "--ns", "if=urn:ietf:params:xml:ns:yang:ietf-interfaces",
                     "--get-config", "-x", "/if:interfaces/if:interface[if:name='3/0/5']/if:description")
    assert "set by netconf-console2" in result.stdout
