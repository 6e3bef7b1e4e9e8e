"""The collector against the whole device on loopback: a real Master (main board only) and real
line-card agents, each pushing its own share straight to the collector's UDP address (the
collector names it in its establish-subscription), the Master's share over NETCONF."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.collector_support import collector_factory  # noqa: F401  (fixture)
from tests.conftest import start_server, stop_process

WATCHED = ["mgmt0", "1/0/1", "2/0/1"]
XPATH = "/if:interfaces/if:interface[" + " or ".join(f"if:name='{n}'" for n in WATCHED) + "]/if:statistics"


def names(record: dict) -> list[str]:
    return sorted(i["name"] for i in record["data"]["ietf-interfaces:interfaces"]["interface"])


def periodic(record: dict) -> bool:
    return record["kind"] == "periodic"


def test_a_hung_line_card_is_named_missing_until_the_master_drops_it(tmp_path: Path, agent_factory,
                                                                     collector_factory):
    master = start_server(tmp_path / "state", ["--line-cards", "0", "--agent-timeout", "1"])
    agents = {}
    try:
        agents = {generator: agent_factory(master, generator, generator - 1) for generator in (2, 3)}
        collector = collector_factory(["--netconf", f"127.0.0.1:{master.port}", "--user", master.user,
                                       "--password", master.password, "--subscribe", XPATH, "--period", "20"])
        (whole,) = collector.wait_for(lambda r: periodic(r) and r["complete"])
        assert whole["generators"]["present"] == ["1", "2", "3"]
        assert names(whole) == ["1/0/1", "2/0/1", "mgmt0"]

        os.killpg(agents[3].process.pid, signal.SIGSTOP)  # slot 2 hangs: no pushes, no heartbeats
        (gap,) = collector.wait_for(lambda r: periodic(r) and not r["complete"])
        assert gap["generators"]["missing"] == ["3"] and names(gap) == ["1/0/1", "mgmt0"]
        (smaller,) = collector.wait_for(lambda r: periodic(r) and r["generators"]["expected"] == ["1", "2"]
                                        and r["complete"])
        assert names(smaller) == ["1/0/1", "mgmt0"]

        os.killpg(agents[3].process.pid, signal.SIGCONT)  # it registers again and gets its share back
        (back,) = collector.wait_for(lambda r: periodic(r) and r["generators"]["expected"] == ["1", "2", "3"]
                                     and r["complete"], timeout=20)
        assert names(back) == ["1/0/1", "2/0/1", "mgmt0"]
        assert "subscription-modified" in collector.log()
    finally:
        for agent in agents.values():
            if agent.process.poll() is None:
                os.killpg(agent.process.pid, signal.SIGCONT)  # a stopped process would not see SIGTERM
        stop_process(master.process)
