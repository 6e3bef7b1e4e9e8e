"""The ``mso`` command loads only the subcommand it runs."""

from __future__ import annotations

import subprocess
import sys


def test_a_subcommand_does_not_import_the_other_programs() -> None:
    probe = ("import sys; from mso.cli import build_parser; build_parser(['agent', '--help']); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('server', 'collector', 'agents')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "agents.cli" in loaded and "server" not in loaded and "collector" not in loaded


def test_without_a_subcommand_every_one_is_listed() -> None:
    usage = subprocess.run([sys.executable, "-m", "mso", "--help"], capture_output=True, text=True, check=True).stdout
    assert all(name in usage for name in ("agent", "collector", "server"))
