"""A bounded soak (bench.soak, small): sessions with subscriptions opened and closed round after
round against a real Master over SSH. What must hold whatever the timing: file descriptors and
asyncio tasks back to their baseline after every round, no session or subscription object left
alive (weak references), and RSS on a plateau from round 3."""

from __future__ import annotations

import json
import subprocess
import sys


def test_sessions_and_subscriptions_leave_nothing_behind_round_after_round() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.soak", "--rounds", "8", "--sessions", "30",
                           "--subscriptions", "3", "--json"], capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    rounds, verdict = lines[:-1], lines[-1]
    assert len(rounds) == 9, done.stderr[-2000:]
    assert verdict == {"problems": []}
    assert done.returncode == 0
    baseline = rounds[0]
    assert all(r["fds"] == baseline["fds"] and r["tasks"] == baseline["tasks"] for r in rounds)
    assert all(r["sessions_alive"] == 0 and r["subscriptions_alive"] == 0 for r in rounds)
