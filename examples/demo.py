"""``make demo``: the whole device on loopback, with visible output.

- the Master on 127.0.0.1:8300 (user demo/demo), simulating only its main board;
- three line-card agents (generators 2, 3, 4; slots 1..3; 48 interfaces each);
- a collector on UDP 127.0.0.1:10001 that subscribes over NETCONF to one port of every card and
  the main board's mgmt0, and writes each period's reassembled record to a JSON lines file;
- the 3GPP message bus: a MessageBrokingFunction, created with edit-config, makes the Master
  start NATS JetStream on 127.0.0.1:4222; a reporting job publishes the same ports to topic
  ``ports`` (a configured subscription decomposed across the cards, reassembled by the
  collector the Master runs); polling jobs let consumers ``noc`` and ``ops`` read it, and
  nobody else;
- a second, short-lived collector with ``--format telemetry-message``, whose first record is
  shown as the IETF telemetry message (draft-ietf-nmop-message-broker-telemetry-message) that
  Kafka-fed pipelines read;
- data collection coordination (TS 23.288 §5A): a third polling job, ``analyst``, names no
  topic but asks for data (the same ports, every 4 s) with a summary per port every 4 s
  (TS 29.574 procInstructs, MIN_MAX and OCCURRENCES); the Master finds topic ``ports`` already
  collects it and attaches the job to it, nothing new is asked of the cards, and the Master's
  bus worker delivers the summaries to the analyst's own subject;
- and this script: it shows a stranger refused by the broker and the analyst's first summary,
  then reads the topic as ``ops`` with ``mso bus poll`` and prints one line per record: which
  generators delivered, which are missing, and the ports' counters.

``python -m examples.demo [RECORDS] [--base-port N]``: stop after RECORDS records; ports
N, N+1 (agents) and N+2 (NATS) instead of 8300, 8301 and 4222. Ctrl-C stops everything. Every
process is started in its own process group and stopped by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from mso.namespaces import DISTRIBUTED_EXPORT, INTERFACES, MESSAGE_BUS, NETCONF_BASE, NRM, SUBSCRIBED_NOTIFICATIONS, qn
from mso.netconf_client import NetconfClient

HOST, USER, PASSWORD = "127.0.0.1", "demo", "demo"
AGENTS = ((2, 1), (3, 2), (4, 3))  # (generator id, slot)
PORTS_PER_CARD = 48
WATCHED = ["mgmt0"] + [f"{slot}/0/1" for _, slot in AGENTS]
FILTER = ("/if:interfaces/if:interface[" + " or ".join(f"if:name='{name}'" for name in WATCHED)
          + "]/if:statistics/if:in-octets")
PERIOD_CS = 200
CONSUMERS = {"noc": "noc-secret-1", "ops": "ops-secret-1"}
ANALYST, ANALYST_SECRET = "analyst", "analyst-secret-1"
ASKED = FILTER  # the same data, every 4 s: topic 'ports' (every 2 s) covers it
OCTETS = "ietf-interfaces:interfaces/interface/statistics/in-octets"


@dataclass(frozen=True)
class Ports:
    netconf: int = 8300
    agents: int = 8301
    nats: int = 4222
    collector: int = 10001

    @property
    def bus_url(self) -> str:
        return f"nats://{HOST}:{self.nats}"


class Processes:
    """The demo's child processes, each in its own session so it can be stopped by pid."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: Sequence[str], ready: str, ready_on_stderr: bool = False,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``argv`` and wait for the line containing ``ready`` (on stdout, or on stderr for
        programs that keep stdout for data); everything else goes to ``<name>.log``."""
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "a")
        process = subprocess.Popen(list(argv), stdout=log if ready_on_stderr else subprocess.PIPE,
                                   stderr=subprocess.PIPE if ready_on_stderr else log, text=True,
                                   start_new_session=True, env=env)
        self.started.append(process)
        stream = process.stderr if ready_on_stderr else process.stdout
        assert stream is not None
        for line in stream:
            if ready in line:
                print(f"demo: {line.strip()} [pid {process.pid}]", flush=True)
                break
            if line.startswith("mso server: "):
                print(f"demo: {line.strip()}", flush=True)
            log.write(line)
        else:
            process.wait(10)
            sys.exit(f"demo: {name} did not start (exit {process.returncode}); see {log_path}")
        threading.Thread(target=_echo_announcements if not ready_on_stderr else shutil.copyfileobj,
                         args=(stream, log), daemon=True).start()
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


def _echo_announcements(stream, log) -> None:
    """What the Master says after it listens (which broker the message bus uses) is shown."""
    for line in stream:
        if line.startswith("mso server: "):
            print(f"demo: {line.strip()}", flush=True)
        log.write(line)
        log.flush()


def mso(*args: str) -> list[str]:
    return [sys.executable, "-m", "mso", *args]


def consumer_env(consumer: str) -> dict[str, str]:
    secret = ANALYST_SECRET if consumer == ANALYST else CONSUMERS.get(consumer, "not-a-secret")
    return {**os.environ, "MSO_NATS_PASSWORD": secret}


def message_bus_config(ports: Ports) -> str:
    """edit-config: the broking function, one reporting job, a polling job per consumer."""
    polling = "".join(
        f"<MessageBusDataPollingJob><id>{name}</id><attributes><consumerId>{name}</consumerId>"
        f"<consumerSecret>{secret}</consumerSecret><topics>ports</topics><startPosition>NEW_ONLY</startPosition>"
        f"</attributes></MessageBusDataPollingJob>" for name, secret in CONSUMERS.items())
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<SubNetwork xmlns="{NRM}"><id>demo-device</id>'
            f'<MessageBrokingFunction xmlns="{MESSAGE_BUS}"><id>bus</id>'
            f"<attributes><brokerEndpoint>{ports.bus_url}</brokerEndpoint></attributes>"
            f"<MessageBusDataReportingJob><id>ports</id><attributes><topic>ports</topic>"
            f'<dataSelector xmlns:if="{INTERFACES}">{FILTER}</dataSelector>'
            f"<reportingPeriod>{PERIOD_CS}</reportingPeriod></attributes></MessageBusDataReportingJob>"
            f"{polling}</MessageBrokingFunction></SubNetwork></config></edit-config>")


def analyst_config() -> str:
    """edit-config: a polling job that asks for data (dataSelector, reportingPeriod) rather than
    naming a topic, with a summary per port every 4 s."""
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<SubNetwork xmlns="{NRM}"><id>demo-device</id><MessageBrokingFunction xmlns="{MESSAGE_BUS}"><id>bus</id>'
            f"<MessageBusDataPollingJob><id>{ANALYST}</id><attributes><consumerId>{ANALYST}</consumerId>"
            f"<consumerSecret>{ANALYST_SECRET}</consumerSecret>"
            f'<dataSelector xmlns:if="{INTERFACES}">{ASKED}</dataSelector><reportingPeriod>400</reportingPeriod>'
            f"<procInstructs><procInterval>4</procInterval><paramProcInstructs><name>{OCTETS}</name>"
            f"<sumAttrs>MIN_MAX</sumAttrs><sumAttrs>OCCURRENCES</sumAttrs><aggrLevel>ENTRY</aggrLevel>"
            f"</paramProcInstructs></procInstructs><startPosition>FROM_START</startPosition>"
            f"</attributes></MessageBusDataPollingJob></MessageBrokingFunction></SubNetwork></config></edit-config>")


async def configure_bus(ports: Ports) -> None:
    client = await NetconfClient.connect(HOST, ports.netconf, username=USER, password=PASSWORD)
    data = await client.get(xpath="/if:interfaces/if:interface/if:name", namespaces={"if": INTERFACES})
    names = data.xpath("//if:name/text()", namespaces={"if": INTERFACES})
    print(f"demo: get /if:interfaces through the Master: {len(names)} interfaces gathered from the main board "
          f"and {len(AGENTS)} line cards", flush=True)
    await client.rpc(message_bus_config(ports))
    print("demo: edit-config created MessageBrokingFunction 'bus', reporting job 'ports' (topic ports) and polling "
          f"jobs {', '.join(repr(c) for c in CONSUMERS)}", flush=True)
    for _ in range(150):
        state = await client.get(xpath="//mbus:MessageBusDataReportingJob/mbus:attributes/mbus:operationalState",
                                 namespaces={"mbus": MESSAGE_BUS})
        if state.xpath("//mbus:operationalState/text()", namespaces={"mbus": MESSAGE_BUS}) == ["ENABLED"]:
            break
        await asyncio.sleep(0.2)
    await coordinate(client)
    await client.close()


async def coordinate(client: NetconfClient) -> None:
    """The analyst asks for data; show what the Master decided, as operational data says."""
    await client.rpc(analyst_config())
    found: dict[str, str] = {}
    for _ in range(150):
        data = await client.get(subtree=f'<SubNetwork xmlns="{NRM}"/>')
        job = data.find(f".//{{{MESSAGE_BUS}}}MessageBusDataPollingJob[{{{MESSAGE_BUS}}}id='{ANALYST}']")
        attributes = None if job is None else job.find(f"{{{MESSAGE_BUS}}}attributes")
        found = {} if attributes is None else {etree.QName(leaf).localname: leaf.text or "" for leaf in attributes}
        if found.get("operationalState") == "ENABLED" and "collectionStatus" in found:
            break
        await asyncio.sleep(0.2)
    sharing = data.xpath("//mbus:MessageBusDataReportingJob[mbus:id='ports']/mbus:attributes/mbus:pollingJobs/text()",
                         namespaces={"mbus": MESSAGE_BUS})
    created = data.xpath("//mbus:MessageBusDataReportingJob[mbus:attributes/mbus:systemCreated='true']",
                         namespaces={"mbus": MESSAGE_BUS})
    status = found.get("collectionStatus", "?")
    print(f"demo: polling job {ANALYST!r} asks for the same in-octets every 4 s: {status} by "
          f"reporting job {found.get('servingReportingJob', '?')!r}, now shared by {', '.join(sharing)}; "
          f"{len(created)} collections created for it", flush=True)


def summary(record: dict) -> str:
    if record["kind"] == "state":
        generators = record["data"].get("ietf-multiple-stream-originators:message-generator-id", [])
        return f"{record['event'].split(':')[1]} sub={record['subscription-id']} generators {','.join(generators)}"
    generators = record.get("generators", {})
    interfaces = record["data"].get("ietf-interfaces:interfaces", {}).get("interface", [])
    counters = " ".join(f"{i['name']}={i.get('statistics', {}).get('in-octets', '?')}" for i in interfaces)
    state = "complete" if record.get("complete") else f"missing {','.join(generators.get('missing', []))}"
    return (f"record sub={record['subscription-id']} {record['time']} generators "
            f"{','.join(generators.get('present', []))} {state}: {counters}")


def show_netconf_collector(records: Path, wait: float = 10.0) -> None:
    """The first record the NETCONF-subscribed collector wrote, once there is one."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        lines = records.read_text().splitlines() if records.exists() else []
        if lines:
            print(f"demo: the collector subscribed over NETCONF wrote: {summary(json.loads(lines[0]))}", flush=True)
            return
        time.sleep(0.2)


def telemetry_summary(message: dict) -> str:
    """One line of an ietf-telemetry-message: the device, the slot and its generators, the collector."""
    body = message["ietf-telemetry-message:message"]
    metadata = body["telemetry-message-metadata"]
    subscription = metadata["ietf-yang-push-telemetry-message:yang-push-subscription"]
    completeness = metadata["mso-telemetry-completeness:completeness"]
    node, collector = body.get("network-node-manifest", {}), body["data-collection-manifest"]
    state = "complete" if completeness["complete"] else f"missing {','.join(completeness['missing-generator'])}"
    return (f"node {node.get('name', '?')} ({node.get('vendor', '?')}), subscription {subscription['id']} on "
            f"{subscription.get('datastore', '?')}, slot {completeness['slot']}, generators "
            f"{','.join(completeness['present-generator'])} {state}, collected by {collector['name']} "
            f"{collector['software-version']}")


def show_telemetry_message(processes: Processes, ports: Ports, work: Path, wait: float = 15.0) -> None:
    """A collector of its own with --format telemetry-message, until its first merged slot."""
    messages = work / "telemetry-messages.jsonl"
    collector = processes.start("telemetry-collector", mso(
        "collector", "--listen", f"{HOST}:0", "--netconf", f"{HOST}:{ports.netconf}", "--user", USER,
        "--state-dir", str(work / "state"),
        "--password", PASSWORD, "--subscribe", FILTER, "--period", str(PERIOD_CS), "--format", "telemetry-message",
        "--jsonl", str(messages)), "listening on", ready_on_stderr=True)
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for line in messages.read_text().splitlines() if messages.exists() else []:
                message = json.loads(line)
                if "slot" in message["ietf-telemetry-message:message"]["telemetry-message-metadata"][
                        "mso-telemetry-completeness:completeness"]:
                    print(f"demo: as an IETF telemetry message (--format telemetry-message, whole in {messages}): "
                          f"{telemetry_summary(message)}", flush=True)
                    return
            time.sleep(0.2)
    finally:
        os.killpg(collector.pid, signal.SIGTERM)  # one is enough: its subscription ends with it
        collector.wait(10)


async def show_sampling(ports: Ports) -> None:
    """How often each originator read its data for the subscriptions it serves (a line card:
    once per instant for all of them), and the ticks overload made them skip."""
    client = await NetconfClient.connect(HOST, ports.netconf, username=USER, password=PASSWORD)
    table = await client.get(subtree=f'<resource-location-table xmlns="{DISTRIBUTED_EXPORT}"/>')
    subscriptions = await client.get(subtree=f'<subscriptions xmlns="{SUBSCRIBED_NOTIFICATIONS}"/>')
    await client.close()
    parts = []
    for originator in table.iter(qn(DISTRIBUTED_EXPORT, "originator")):
        leaf = lambda name: originator.findtext(qn(DISTRIBUTED_EXPORT, name))  # noqa: E731
        parts.append(f"generator {leaf('message-generator-id')}: {leaf('samples-taken')} readings at "
                     f"{leaf('sampling-instants')} instants for {leaf('component-subscriptions')} subscriptions")
    skipped = sum(int(count.text or 0) for count in subscriptions.iter(qn(DISTRIBUTED_EXPORT, "count")))
    print(f"demo: readings of their own data (a line card reads once per instant for every subscription due "
          f"then, whatever the filters; the Master once per filter): {'; '.join(parts)}; "
          f"ticks skipped under load: {skipped}", flush=True)


def refused_stranger(ports: Ports) -> None:
    result = subprocess.run(mso("bus", "poll", "--job", "ops", "--user", "mallory", "--bus", ports.bus_url,
                                "--count", "1"), capture_output=True, text=True, env=consumer_env("mallory"),
                            timeout=60)
    print(f"demo: a consumer without a polling job, as the broker answers it: {result.stderr.strip()}", flush=True)


def show_summary(ports: Ports) -> None:
    """The analyst's first delivery: a summary report made by the bus worker, read durably from
    the analyst's own subject."""
    result = subprocess.run(mso("bus", "poll", "--job", ANALYST, "--user", ANALYST, "--bus", ports.bus_url,
                                "--follow", "--count", "1"), capture_output=True, text=True, env=consumer_env(ANALYST),
                            timeout=60)
    if result.returncode != 0 or not result.stdout.strip():
        print(f"demo: no summary for {ANALYST!r}: {result.stderr.strip()}", flush=True)
        return
    (report,) = json.loads(result.stdout)["notifications"]
    entries = "; ".join(f"{e.get('entry', 'all')}: {e['count']} reading{'' if e['count'] == 1 else 's'}, in-octets "
                        f"{e['minValue']}..{e['maxValue']}" for e in report["eventReports"])
    print(f"demo: summary for {ANALYST!r} ({report['startTime']} .. {report['stopTime']}, on subject "
          f"mso.out.{ANALYST}, which only {ANALYST!r} may read): {entries}", flush=True)


def read_topic(ports: Ports, count: int | None) -> None:
    """Read topic 'ports' as consumer 'ops' and print each record."""
    argv = mso("bus", "poll", "--job", "ops", "--user", "ops", "--bus", ports.bus_url, "--follow",
               *(["--count", str(count)] if count else []))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=consumer_env("ops"),
                          start_new_session=True) as reader:
        assert reader.stdout is not None
        try:
            for line in reader.stdout:
                print(f"bus ports (ops): {summary(json.loads(line))}", flush=True)
        finally:
            if reader.poll() is None:
                os.killpg(reader.pid, signal.SIGTERM)


def main() -> None:
    parser = argparse.ArgumentParser(description="the whole device on loopback")
    parser.add_argument("records", nargs="?", type=int, help="stop after this many records from the bus")
    parser.add_argument("--base-port", type=int, default=8300, help="NETCONF port; agents +1, NATS +2, collector +3")
    args = parser.parse_args()
    base = args.base_port
    ports = Ports() if base == 8300 else Ports(base, base + 1, base + 2, base + 3)
    work = Path(tempfile.mkdtemp(prefix="mso-demo-"))
    processes = Processes(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the children on SIGTERM too
    try:
        processes.start("master", mso("server", "--listen", f"{HOST}:{ports.netconf}",
                                      "--agent-listen", f"{HOST}:{ports.agents}", "--user", f"{USER}:{PASSWORD}",
                                      "--recovery-user", USER,
                                      "--state-dir", str(work / "state"), "--line-cards", "0"), "listening on")
        for generator, slot in AGENTS:
            processes.start(f"agent-{generator}", mso("agent", "--id", str(generator), "--slot", str(slot),
                                                      "--master", f"{HOST}:{ports.agents}",
                                                      "--secret-file", str(work / "state" / "agent-secret"),
                                                      "--interfaces", str(PORTS_PER_CARD)), "registered")
        asyncio.run(configure_bus(ports))
        processes.start("collector", mso("collector", "--listen", f"{HOST}:{ports.collector}",
                                         "--netconf", f"{HOST}:{ports.netconf}", "--user", USER, "--password", PASSWORD,
                                         "--state-dir", str(work / "state"),  # the Master's key is pinned there
                                         "--subscribe", FILTER, "--period", str(PERIOD_CS),
                                         "--jsonl", str(work / "records.jsonl")),
                        "listening on", ready_on_stderr=True)
        show_netconf_collector(work / "records.jsonl")
        show_telemetry_message(processes, ports, work)
        refused_stranger(ports)
        show_summary(ports)
        asyncio.run(show_sampling(ports))
        noc = subprocess.Popen(mso("bus", "poll", "--job", "noc", "--user", "noc", "--bus", ports.bus_url, "--follow"),
                               stdout=open(work / "noc.jsonl", "w"), stderr=subprocess.DEVNULL, env=consumer_env("noc"),
                               start_new_session=True)
        processes.started.append(noc)
        print(f"""
demo: {', '.join(WATCHED)} every {PERIOD_CS / 100:g} s. The Master serves mgmt0 (generator 1); each line card's
agent pushes its own port (generators 2, 3, 4) straight to the Master's collector, which publishes
one merged record per period to topic 'ports'. Consumer 'noc' reads it too (into {work / 'noc.jsonl'}).
Logs, state and JSON lines are in {work}. Try, in another terminal:
  .venv/bin/netconf-console2 --host {HOST} --port {ports.netconf} -u {USER} -p {PASSWORD} \\
      --get -x /nrm:SubNetwork --ns nrm=urn:mso:yang:mso-3gpp-nrm
  MSO_NATS_PASSWORD={CONSUMERS['noc']} .venv/bin/mso bus poll --job noc --user noc --bus {ports.bus_url} --from-start
  kill -9 <pid of an agent>   (its generator goes missing in the records, then leaves the subscription)
Records read from topic 'ports' as consumer 'ops' follow. Ctrl-C stops everything.
""", flush=True)
        read_topic(ports, args.records)
    except KeyboardInterrupt:
        pass
    finally:
        processes.stop_all()


if __name__ == "__main__":
    main()
