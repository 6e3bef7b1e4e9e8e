"""``python -m bench.fuzz``: hostile NETCONF input against a real ``mso server``, with a canary.

Over SSH (the default): each case of ``bench.fuzz_cases`` (the fixed abuses, then random
mutations) is written on a session of its own while a canary session asks ``get`` in turn.
Prints the cases tried, the crashes (the server gone, or a handler failing: its log says
"handler failed"), the cases answered otherwise than they must be, and the canary's latency
under fuzzing next to its latency alone in the same run.

``--atheris``: coverage-guided fuzzing in-process (``bench.fuzz_targets``) of the same message
path (``--target netconf``) or of the collector's receive path (``--target collector``), from the
corpus under ``tests/fuzz_corpus/<target>``; libFuzzer's options follow (``-runs=N``,
``-max_total_time=S``). A crash stops it with the input saved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from bench.fuzz_cases import ANSWER, CLOSE, Case, hostile_cases, mutated_cases
from bench.rpc import PASSWORD, USER, GET_ONE_INTERFACE, stop
from mso.framing import FrameDecoder, FramingError
from mso.netconf_client import NetconfClient

CORPORA = Path(__file__).resolve().parent.parent / "tests" / "fuzz_corpus"  # one directory per target
CASE_SECONDS = 10.0  # a case that must be answered or closed and is neither by then has hung
QUIET_SECONDS = 0.2  # how long an incomplete message is watched before the next case
CRASH_MARKS = ("handler failed", "Traceback")


class _RawSession(asyncssh.SSHClientSession):
    """A client end that writes anything and keeps what the server answers."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes, datatype: object) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def replies_in(received: bytes) -> int:
    """Complete messages the server sent after its hello."""
    decoder = FrameDecoder(max_message_bytes=1 << 30)
    try:
        messages = decoder.feed(bytes(received))
        if not messages:
            return 0
        return len(decoder.hello_done(chunked=b"\n#" in received[:len(messages[0]) + 8]))
    except FramingError:
        return 0


@dataclass
class Report:
    tried: int = 0
    crashes: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # answered otherwise than the case must be
    outcomes: dict[str, int] = field(default_factory=dict)
    canary_alone: list[float] = field(default_factory=list)
    canary_under_fuzz: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Server:
    port: int
    log_path: Path
    process: subprocess.Popen
    user: str = USER
    password: str = PASSWORD


async def try_case(server: Server, case: Case) -> str:
    """Write one case on a session of its own: "answered", "closed", "waiting" or "hung"."""
    async with asyncssh.connect("127.0.0.1", server.port, username=server.user, password=server.password,
                                known_hosts=None) as conn:
        channel, session = await conn.create_session(_RawSession, subsystem="netconf", encoding=None)
        channel.write(case.payload)
        patience = CASE_SECONDS if case.expect in (ANSWER, CLOSE) else QUIET_SECONDS
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if session.closed.done():
                return "closed"
            if case.expect != CLOSE and replies_in(session.received):
                return "answered"
            await asyncio.sleep(0.005)
        channel.close()
        return "waiting" if case.expect not in (ANSWER, CLOSE) else "hung"


def _acceptable(case: Case, outcome: str) -> bool:
    if case.expect == ANSWER:
        return outcome in ("answered", "closed")
    if case.expect == CLOSE:
        return outcome == "closed"
    return outcome != "hung"


async def canary(server: Server, samples: list[float], stop_when: asyncio.Event, limit: int | None = None) -> None:
    client = await NetconfClient.connect("127.0.0.1", server.port, username=server.user, password=server.password)
    try:
        while not stop_when.is_set() and (limit is None or len(samples) < limit):
            started = time.perf_counter()
            await client.rpc(GET_ONE_INTERFACE)
            samples.append(time.perf_counter() - started)
    finally:
        await client.close()


async def fuzz_over_ssh(server: Server, cases: list[Case]) -> Report:
    report = Report()
    done = asyncio.Event()
    await canary(server, report.canary_alone, done, limit=200)
    watcher = asyncio.create_task(canary(server, report.canary_under_fuzz, done))
    try:
        for case in cases:
            outcome = await try_case(server, case)
            report.tried += 1
            report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
            if not _acceptable(case, outcome):
                report.wrong.append(f"{case.name}: {outcome}, must be {case.expect}")
            if server.process.poll() is not None:
                report.crashes.append(f"the server exited ({server.process.returncode}) on {case.name}")
                break
    finally:
        done.set()
        try:
            await watcher
        except Exception as error:  # noqa: BLE001 - the canary stopping is what is reported
            report.crashes.append(f"the canary session failed: {error!r}")
    log = server.log_path.read_text(errors="replace")
    report.crashes += [f"server log: {mark}" for mark in CRASH_MARKS if mark in log]
    return report


def start_logged_server(state_dir: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mso", "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0",
             "--state-dir", str(state_dir), "--user", f"{USER}:{PASSWORD}", "--recovery-user", USER,
             "--line-cards", "2", "--ports", "48", "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])


def milliseconds(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms  "
            f"max {ordered[-1] * 1000:6.2f} ms  (n={len(ordered)})")


def run_over_ssh(mutations: int, seed: int) -> int:
    cases = hostile_cases() + list(mutated_cases(random.Random(seed), mutations))
    with tempfile.TemporaryDirectory() as work:
        log_path = Path(work) / "server.log"
        process, port = start_logged_server(Path(work) / "state", log_path)
        try:
            report = asyncio.run(fuzz_over_ssh(Server(port, log_path, process), cases))
        finally:
            stop(process)
    print(f"cases tried      {report.tried} ({len(hostile_cases())} fixed abuses, {mutations} mutations, seed {seed})")
    print(f"outcomes         {', '.join(f'{k} {v}' for k, v in sorted(report.outcomes.items()))}")
    print(f"crashes          {len(report.crashes)}" + "".join(f"\n  {c}" for c in report.crashes))
    print(f"wrong answers    {len(report.wrong)}" + "".join(f"\n  {w}" for w in report.wrong))
    print(f"canary alone     {milliseconds(report.canary_alone)}")
    print(f"canary, fuzzing  {milliseconds(report.canary_under_fuzz)}")
    return 1 if report.crashes or report.wrong else 0


def run_atheris(target_name: str, libfuzzer_args: list[str]) -> None:
    import atheris  # only this mode needs it

    from bench.fuzz_targets import CollectorTarget, NetconfTarget

    work = tempfile.mkdtemp(prefix="mso-fuzz-")
    (Path(work) / "corpus").mkdir()
    print(f"bench.fuzz: state and new inputs in {work} (libFuzzer ends the process without cleaning up)",
          file=sys.stderr)
    if target_name == "collector":
        collector = CollectorTarget()

        def one_input(data: bytes) -> None:
            if crashes := collector.feed(data):
                raise RuntimeError("; ".join(crashes))
    else:
        loop = asyncio.new_event_loop()
        stack = contextlib.AsyncExitStack()
        netconf = loop.run_until_complete(stack.enter_async_context(NetconfTarget.running(Path(work) / "state")))

        def one_input(data: bytes) -> None:
            outcome = loop.run_until_complete(netconf.feed(data, pieces=1 + (data[0] % 3 if data else 0)))
            if outcome.crashes:
                raise RuntimeError("; ".join(outcome.crashes))

    atheris.instrument_all()
    # libFuzzer adds what it finds to the first directory: the work one, so the seeds stay as committed
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(Path(work) / "corpus"), str(CORPORA / target_name)], one_input)
    atheris.Fuzz()


def write_corpora(directory: Path) -> None:
    """Seed files: the fixed abuses (the big ones cut: libFuzzer mutates small inputs), and
    datagrams a collector receives (a JSON and a CBOR push, segments, a state notification)."""
    from bench.fuzz_targets import as_fuzz_input

    netconf = directory / "netconf"
    netconf.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(hostile_cases()):
        (netconf / f"{index:02d}").write_bytes(case.payload[:16384])
    collector = directory / "collector"
    collector.mkdir(parents=True, exist_ok=True)
    for index, datagrams in enumerate(collector_seeds()):
        (collector / f"{index:02d}").write_bytes(as_fuzz_input(datagrams))


def collector_seeds() -> list[list[bytes]]:
    from lxml import etree

    from mso.date_and_time import format_epoch
    from mso.notification_encoding import EnvelopeCodec
    from mso.schema import Schema
    from mso.subscription_model import Encoding
    from mso.subscription_runner import push_update
    from mso.udp_notif import MediaType, encode_message
    from server.subscription_state import state_notification

    codec = EnvelopeCodec(Schema.load())
    data = etree.fromstring('<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces '
                            'xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface><name>1/0/1</name>'
                            "<description>seed</description></interface></interfaces></data>")
    seeds = []
    for sequence, (event, encoding, media) in enumerate((
            (state_notification("subscription-started", 7), Encoding.JSON, MediaType.JSON),
            (push_update(7, data), Encoding.JSON, MediaType.JSON),
            (push_update(7, data), Encoding.CBOR, MediaType.CBOR),
            (push_update(7, data), Encoding.XML, MediaType.XML))):
        payload = codec.encode(event, event_time=format_epoch(1.8e9 + sequence), sequence_number=sequence,
                               encoding=encoding)
        seeds.append(encode_message(payload, publisher_id=2, message_id=sequence, media_type=media))
        seeds.append(encode_message(payload, publisher_id=3, message_id=sequence, media_type=media,
                                    max_segment_size=120))
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=1000, help="random mutations after the fixed cases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, in-process; libFuzzer options follow")
    parser.add_argument("--target", choices=("netconf", "collector"), default="netconf", help="what --atheris fuzzes")
    parser.add_argument("--write-corpus", type=Path, metavar="DIR", help="write the seed corpora and stop")
    args, rest = parser.parse_known_args()
    if args.write_corpus:
        write_corpora(args.write_corpus)
    elif args.atheris:
        run_atheris(args.target, rest)
    else:
        sys.exit(run_over_ssh(args.mutations, args.seed))


if __name__ == "__main__":
    main()
