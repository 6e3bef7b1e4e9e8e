"""``python -m bench.rpc``: what a NETCONF user feels of the Master.

Prints, for a real ``mso server`` process on 127.0.0.1:
- ``get`` of ~1 KB: round-trip p50/p99 with one request in flight and with 16 pipelined,
  on the asyncssh client, and with ncclient (synchronous);
- the baseline in the same run: the same client against a bare asyncssh ``netconf`` subsystem
  that echoes every framed message without parsing it — the SSH/asyncio floor under our server;
- a new session (SSH + hello) p50/p99;
- N concurrent idle sessions held, with the server's RSS per session.
No figure is asserted: targets are in the README and the closing notes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from bench.baseline_session import BareNetconfSession
from mso.framing import FrameDecoder, frame_chunked
from mso.namespaces import INTERFACES
from mso.netconf_client import NetconfClient, get_request

USER, PASSWORD = "bench", "bench"
RESTRICTED_USER = ("nacm-bench", "nacm-bench")  # a user NACM applies to (USER is a recovery user)
GET_ONE_INTERFACE = get_request(f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface></interfaces>')


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:7.3f} ms   p99 {p99 * 1000:7.3f} ms   (n={len(samples)})"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(state_dir: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mso", "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0",
         "--state-dir", str(state_dir),
         "--user", f"{USER}:{PASSWORD}", "--recovery-user", USER, "--user", ":".join(RESTRICTED_USER),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])


def start_echo_server() -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-m", "bench.rpc", "--echo-server"], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(10)


# --- the baseline: a netconf subsystem that answers each message with the message itself -------

class _Echo(BareNetconfSession):
    def __init__(self) -> None:
        super().__init__()
        self._decoder = FrameDecoder()

    def data_received(self, data: bytes, datatype: object) -> None:
        assert self._chan is not None
        messages = self._decoder.feed(data)
        if not self._decoder.chunked and messages:
            messages = self._decoder.hello_done(True)
        for message in messages:
            # the client matches replies by message-id only, so the request itself is the reply
            self._chan.write(frame_chunked(message))


class _EchoServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False

    def session_requested(self) -> _Echo:
        return _Echo()


async def run_echo_server() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    acceptor = await asyncssh.create_server(_EchoServer, "127.0.0.1", 0, server_host_keys=[key], encoding=None)
    print(acceptor.sockets[0].getsockname()[1], flush=True)
    await acceptor.wait_closed()


# --- measurements -------------------------------------------------------------------------------

async def latency(port: int, count: int, depth: int) -> list[float]:
    client = await NetconfClient.connect("127.0.0.1", port, username=USER, password=PASSWORD)
    await client.rpc(GET_ONE_INTERFACE)  # warm-up
    samples: list[float] = []

    async def worker(n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            await client.send(GET_ONE_INTERFACE)
            samples.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(count // depth) for _ in range(depth)))
    await client.close()
    return samples


async def reply_size(port: int) -> int:
    client = await NetconfClient.connect("127.0.0.1", port, username=USER, password=PASSWORD)
    from lxml import etree

    size = len(etree.tostring(await client.rpc(GET_ONE_INTERFACE)))
    await client.close()
    return size


def ncclient_latency(port: int, count: int) -> list[float]:
    from ncclient import manager

    samples = []
    subtree = f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface></interfaces>'
    with manager.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD, hostkey_verify=False,
                         allow_agent=False, look_for_keys=False, timeout=30) as m:
        for _ in range(count):
            started = time.perf_counter()
            m.get(filter=("subtree", subtree))
            samples.append(time.perf_counter() - started)
    return samples


async def session_setup(port: int, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client = await NetconfClient.connect("127.0.0.1", port, username=USER, password=PASSWORD)
        samples.append(time.perf_counter() - started)
        client.abort()
        await client.wait_closed()
    return samples


async def idle_sessions(port: int, pid: int, count: int) -> tuple[int, float, int]:
    """Open ``count`` sessions (20 at a time), then read the server's RSS. Returns (held, KiB/session, RSS KiB)."""
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    clients: list[NetconfClient] = []
    for start in range(0, count, 20):
        batch = await asyncio.gather(
            *(NetconfClient.connect("127.0.0.1", port, username=USER, password=PASSWORD, timeout=60)
              for _ in range(min(20, count - start))),
            return_exceptions=True,
        )
        clients += [c for c in batch if isinstance(c, NetconfClient)]
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    # every session must still answer
    alive = sum(1 for r in await asyncio.gather(*(c.rpc(GET_ONE_INTERFACE, timeout=60) for c in clients),
                                                return_exceptions=True) if not isinstance(r, BaseException))
    for client in clients:
        client.abort()
    return alive, (after - before) / max(1, len(clients)), after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    if args.echo_server:
        asyncio.run(run_echo_server())
        return

    with tempfile.TemporaryDirectory() as state:
        server, port = start_server(Path(state))
        echo, echo_port = start_echo_server()
        try:
            size = asyncio.run(reply_size(port))
            print(f"mso get reply size: {size} bytes (one interface with its statistics)")
            for depth in (1, 16):
                ours = asyncio.run(latency(port, args.requests, depth))
                floor = asyncio.run(latency(echo_port, args.requests, depth))
                ratio = statistics.median(ours) / statistics.median(floor)
                print(f"get, {depth:2d} in flight, asyncssh client: mso  {percentiles(ours)}")
                print(f"                               baseline echo  {percentiles(floor)}   mso/echo p50 = {ratio:.2f}x")
            print(f"get, ncclient (synchronous):                {percentiles(ncclient_latency(port, 300))}")
            print(f"new session (SSH + hello):                  {percentiles(asyncio.run(session_setup(port, 60)))}")
            print(f"new session, baseline echo:                 {percentiles(asyncio.run(session_setup(echo_port, 60)))}")
            held, per_session, total = asyncio.run(idle_sessions(port, server.pid, args.sessions))
            print(f"idle sessions: {held}/{args.sessions} held and answering, server RSS {total / 1024:.1f} MiB, "
                  f"{per_session:.1f} KiB per session")
        finally:
            stop(server)
            stop(echo)


if __name__ == "__main__":
    main()
