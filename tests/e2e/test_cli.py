"""The ``mso`` command line: help for every flag, and one readable line for every mistake."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

MSO = [sys.executable, "-m", "mso"]


def mso(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*MSO, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_server_subcommand():
    result = mso("--help")
    assert result.returncode == 0 and "server" in result.stdout


def test_server_help_documents_every_flag():
    result = mso("server", "--help")
    for flag in ("--listen", "--state-dir", "--user", "--authorized-keys", "--max-message-bytes", "--log-level"):
        assert flag in result.stdout


def test_server_without_users_refuses_to_start_with_one_line(tmp_path: Path):
    result = mso("server", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no user configured" in result.stderr


def test_bad_listen_address_is_a_usage_error(tmp_path: Path):
    result = mso("server", "--listen", "nowhere", "--user", "a:b", "--state-dir", str(tmp_path))
    assert result.returncode == 2 and "HOST:PORT" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_one_line(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = mso("server", "--listen", f"127.0.0.1:{port}", "--user", "a:b", "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_corrupt_stored_configuration_is_reported_not_overwritten(tmp_path: Path):
    (tmp_path / "running.xml").write_text("<data xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><broken")
    result = mso("server", "--listen", "127.0.0.1:0", "--user", "a:b", "--state-dir", str(tmp_path))
    assert result.returncode == 2 and "running.xml" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "running.xml").read_text().endswith("<broken")
