"""scripts/lint_yang.sh: our modules pass pyang --ietf --lint and yanglint; broken ones do not."""

import subprocess
from pathlib import Path

import pytest

from mso.schema import project_yang_dir

LINT = Path(__file__).resolve().parents[2] / "scripts" / "lint_yang.sh"
MSO_FILE = "ietf-multiple-stream-originators@2019-10-12.yang"
PYANG = "  pyang --ietf --lint:"
YANGLINT = "  yanglint:"


def run_lint(*modules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(LINT), *map(str, modules)], capture_output=True, text=True, timeout=120)


def test_every_module_in_yang_dir_passes_both_linters() -> None:
    result = run_lint()

    assert result.returncode == 0, result.stdout + result.stderr
    modules = sorted(project_yang_dir().resolve().glob("*.yang"))
    assert result.stdout.splitlines() == [f"ok    {m}" for m in modules]


@pytest.mark.parametrize(
    ("old", "new", "flagged_by"),
    [
        pytest.param(
            'augment "/sn:subscription-started"',
            'augment "/sn:no-such-notification"',
            {PYANG, YANGLINT},
            id="missing-augment-target",
        ),
        pytest.param(
            '    description\n      "Provides a reusable list of message-generator-ids.";\n',
            "",
            {PYANG},
            id="ietf-rule-grouping-without-description",
        ),
        pytest.param(
            "  prefix mso;\n",
            "  prefix mso;\n  import ietf-yang-types {\n    prefix yang;\n  }\n",
            {PYANG},
            id="warning-only-unused-import",
        ),
    ],
)
def test_lint_fails_a_broken_copy(tmp_path: Path, old: str, new: str, flagged_by: set[str]) -> None:
    text = (project_yang_dir() / MSO_FILE).read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / MSO_FILE
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")

    result = run_lint(broken)

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"FAIL  {broken}"
    assert {line for line in lines if line in (PYANG, YANGLINT)} == flagged_by
