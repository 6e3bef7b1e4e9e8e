"""The collector's UDP socket as a user meets it: the receive buffer it reports, and a slot that
is due when traffic stops (an idle socket is caught up, so its deadline passes on time)."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.pipeline import MAX_READ_LAG
from collector.receiver import RECEIVE_BUFFER
from mso.schema import Schema
from mso.subscription_model import Periodic
from tests.collector_support import collector_factory  # noqa: F401
from tests.conftest import run, stop_process
from tests.e2e.test_collector_generators import metrics_port, publish, push, scrape, started

PERIOD_CS = 100  # the period a new user tried: 1 s


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def test_a_slot_missing_a_generator_before_a_quiet_spell_is_reported_at_its_deadline(schema, collector_factory):
    collector = collector_factory(["--metrics", "127.0.0.1:0"])
    t0 = math.floor(time.time())
    steps = [(1, started(21, ["1", "2"], Periodic(PERIOD_CS)), t0 - 1)]
    steps += [(1, push(21, 1), t0)]  # generator 2 stays silent, then nothing more is sent
    run(publish(schema, collector, steps))
    (record,) = collector.wait_for(lambda r: r["kind"] == "periodic", timeout=2 * MAX_READ_LAG + 5)
    assert record["complete"] is False and record["generators"]["missing"] == ["2"]
    samples = scrape(metrics_port(collector))
    waited = samples["mso_collector_merge_latency_seconds_sum"] / samples["mso_collector_merge_latency_seconds_count"]
    # its deadline is 1.5 periods after the piece; a socket never looked at would have held it
    # until the read lag cap, MAX_READ_LAG after the last read
    assert 1.5 * PERIOD_CS / 100 <= waited < MAX_READ_LAG


def rmem_max() -> int:
    return int(Path("/proc/sys/net/core/rmem_max").read_text())


def without_net_admin() -> list[str]:
    """A prefix that runs a command without CAP_NET_ADMIN (a root test run has it)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is not installed to drop CAP_NET_ADMIN")
    return [setpriv, "--bounding-set", "-net_admin"]


def test_a_receive_buffer_capped_by_rmem_max_is_reported_with_how_to_raise_it(tmp_path):
    granted = 2 * min(RECEIVE_BUFFER // 2, rmem_max())  # the kernel doubles what it is given
    if granted >= RECEIVE_BUFFER:
        pytest.skip(f"net.core.rmem_max ({rmem_max()}) already allows {RECEIVE_BUFFER} bytes")
    log_path = tmp_path / "collector.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*without_net_admin(), sys.executable, "-m", "mso", "collector", "--listen",
                                    "127.0.0.1:0", "--jsonl", str(tmp_path / "records.jsonl"), "--metrics",
                                    "127.0.0.1:0", "--log-level", "info"], stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in log_path.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = log_path.read_text().splitlines()
        (warning,) = [line for line in lines if line.startswith("mso collector: warning: receive buffer")]
        assert f"receive buffer {granted / 2**20:g} MiB, asked for {RECEIVE_BUFFER / 2**20:g} MiB" in warning
        assert f"sysctl -w net.core.rmem_max={RECEIVE_BUFFER // 2}" in warning
        (started_line,) = [line for line in lines if "event=metrics-listening" in line]
        samples = scrape(int(started_line.rsplit(":", 1)[1]))
        assert samples["mso_collector_receive_buffer_bytes"] == granted
    finally:
        stop_process(process)


def test_the_receive_buffer_obtained_is_printed_and_a_metric(collector_factory):
    if os.geteuid() != 0 and 2 * rmem_max() < 16 * 2**20:
        pytest.skip("without CAP_NET_ADMIN, rmem_max is below the 16 MiB this test asks for")
    collector = collector_factory(["--metrics", "127.0.0.1:0", "--receive-buffer", "16"])
    assert "mso collector: receive buffer 16 MiB" in collector.log().splitlines()
    assert scrape(metrics_port(collector))["mso_collector_receive_buffer_bytes"] == 16 * 2**20
