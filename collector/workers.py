"""``mso collector --workers N``: one collector spread over processes on this host, joined by NATS.

This front binds N UDP sockets on the one address, all in a SO_REUSEPORT group, and starts a
receiver process on each (collector.receiver_process) and M reassembler processes
(collector.reassembler_process); the sockets stay open here, so a receiver that dies and is
started again finds what arrived meanwhile waiting in its socket. The front also holds the
Master's NETCONF session when there is one: the Master's own share and its state
notifications, and what the session learns of subscriptions, go to the reassemblers like the
receivers' pieces, and a reassembler's word that it met an unknown subscription makes it read
``/sn:subscriptions`` again.

Receivers on other hosts behind one address (draft-ietf-netconf-udp-notif §8) are ``mso collector
--receiver`` there, with the same broker and partition count.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree
from nats.aio.msg import Msg

from collector.decoding import EventDecoder, generator_of
from collector.knowledge import Knowledge
from collector.master_channel import MasterChannel, MasterConfig, names_and_prefixes
from collector.piece_transport import PieceForwarder, ensure_pieces_stream
from collector.receiver import RECEIVE_BUFFER, ReceiveBuffer, open_socket, receive_buffer
from collector.reassembler_process import PIN_TIMEOUT
from collector.stats import Stats
from mso import bus
from mso.child_process import die_with_parent
from mso.generators import MASTER_GENERATOR
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.yang_json import YangJson

log = logging.getLogger("mso.collector")
RESTART_DELAY = 1.0  # seconds before a child that died is started again


class WorkersError(Exception):
    """The front cannot start (its address, the broker, the Master); the message is one line."""


@dataclass(frozen=True)
class WorkersConfig:
    nats: str
    workers: int
    reassemblers: int = 1
    partitions: int = bus.DEFAULT_PARTITIONS
    pin_timeout: float = PIN_TIMEOUT
    listen: tuple[str, int] = ("127.0.0.1", 10001)
    receive_buffer: int = RECEIVE_BUFFER
    nats_user: str | None = None
    nats_password: str | None = None
    jsonl: str | None = None
    metrics: tuple[str, int] | None = None  # each child serves its own, on this host and a free port
    master: MasterConfig | None = None
    deadline_factor: float = 1.5
    reorder_window: float = 0.1
    log_level: str = "info"


class ForwardingSession:
    """What the Master's session feeds (collector.master_channel.SessionSink), handed to the
    reassemblers: its notifications as pieces, its knowledge as knowledge items."""

    def __init__(self, decoder: EventDecoder, forwarder: PieceForwarder, stats: Stats) -> None:
        self.knowledge = Knowledge()
        self._decoder = decoder
        self._forwarder = forwarder
        self._stats = stats

    def netconf_notification(self, notification: etree._Element) -> None:
        event = self._decoder.netconf(notification)
        if event is None:
            return
        generator = generator_of(event.body, MASTER_GENERATOR)
        counters = self._stats.generator(generator)
        counters.messages += 1
        counters.last_seen = time.time()
        self._forwarder.forward(event, generator, time.monotonic())
        if event.name.startswith("ietf-subscribed-notifications:"):
            self._forwarder.flush()

    def knowledge_changed(self, subscription_ids: Iterable[int]) -> None:
        subscriptions = self.knowledge.subscriptions
        self._forwarder.knowledge(subscriptions[i] for i in subscription_ids if i in subscriptions)

    def forget(self, subscription_ids: Iterable[int]) -> None:
        ids = list(subscription_ids)
        for subscription_id in ids:
            self.knowledge.end(subscription_id)
        self._forwarder.forgotten(ids)


class Front:
    def __init__(self, config: WorkersConfig) -> None:
        self.config = config
        self.sockets: list[socket.socket] = []
        self.receive_buffer: ReceiveBuffer | None = None
        self.master: MasterChannel | None = None
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._commands: dict[str, tuple[list[str], tuple[int, ...]]] = {}  # how each child was started
        self._client = None
        self._forwarder: PieceForwarder | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sockets[0].getsockname()[:2]
        return host, port

    async def start(self) -> None:
        config = self.config
        self._bind()
        try:
            self._client = await bus.connect(config.nats, user=config.nats_user, password=config.nats_password,
                                             name="mso-collector-front")
            await ensure_pieces_stream(self._client.jetstream())
        except bus.BusError as error:
            raise WorkersError(str(error)) from None
        for index in range(config.reassemblers):
            await self._start_child(f"reassembler-{index}", self._reassembler_argv(index), ())
        for index, sock in enumerate(self.sockets):
            await self._start_child(f"receiver-{index}", self._receiver_argv(sock), (sock.fileno(),))
        self._tasks.append(asyncio.get_running_loop().create_task(self._supervise()))
        if config.master is not None:
            await self._start_master(config.master)

    def _bind(self) -> None:
        """N sockets on one address (port 0: the one the first is given), in one SO_REUSEPORT group."""
        config = self.config
        host, port = config.listen
        try:
            for _ in range(config.workers):
                sock = open_socket(host, port, config.receive_buffer, reuse_port=True)
                self.sockets.append(sock)
                port = sock.getsockname()[1]
        except OSError as error:
            for sock in self.sockets:
                sock.close()
            raise WorkersError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self.receive_buffer = receive_buffer(self.sockets[0], config.receive_buffer)

    def _common_argv(self) -> list[str]:
        config = self.config
        argv = [sys.executable, "-m", "mso", "collector", "--child", "--log-level", config.log_level, "--nats",
                config.nats, "--partitions", str(config.partitions)]
        if config.nats_user is not None:
            argv += ["--nats-user", config.nats_user]  # the password is in the environment, inherited
        if config.metrics is not None:
            argv += ["--metrics", f"{config.metrics[0]}:0"]
        return argv

    def _receiver_argv(self, sock: socket.socket) -> list[str]:
        return [*self._common_argv(), "--receiver", "--listen-fd", str(sock.fileno())]

    def _reassembler_argv(self, index: int) -> list[str]:
        config = self.config
        argv = [*self._common_argv(), "--reassembler", "--reassembler-share", f"{index}/{config.reassemblers}",
                "--pin-timeout", str(config.pin_timeout), "--deadline", str(config.deadline_factor),
                "--reorder-window", str(config.reorder_window)]
        if config.jsonl is not None:
            argv += ["--jsonl", config.jsonl]
        return argv

    async def _start_child(self, name: str, argv: list[str], fds: tuple[int, ...]) -> None:
        process = await asyncio.create_subprocess_exec(*argv, pass_fds=fds, preexec_fn=die_with_parent())
        self._children[name] = process
        self._commands[name] = (argv, fds)
        log.info("worker-started", extra={"fields": {"worker": name, "pid": process.pid}})

    async def _supervise(self) -> None:
        """A child that ends unasked is started again (a receiver on its socket, still open here)."""
        while True:
            waits = {asyncio.ensure_future(process.wait()): name for name, process in self._children.items()}
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for future in pending:
                future.cancel()
            if self._closing:
                return
            for future in done:
                name = waits[future]
                process = self._children[name]
                log.warning("worker-ended", extra={"fields": {"worker": name, "pid": process.pid,
                                                              "code": process.returncode}})
                await asyncio.sleep(RESTART_DELAY)
                await self._start_child(name, *self._commands[name])

    async def _start_master(self, master: MasterConfig) -> None:
        config = self.config
        schema = Schema.load()
        yang = YangJson(schema)
        stats = Stats()
        self._forwarder = PieceForwarder(self._client.jetstream(), config.partitions, stats.errors,
                                         stats.output_drops)
        session = ForwardingSession(EventDecoder(EnvelopeCodec(schema), yang), self._forwarder, stats)
        namespaces = names_and_prefixes((m.name, m.prefix, m.namespace) for m in schema.modules)
        self.master = MasterChannel(master, session, yang, namespaces, self.address,
                                    module_names={key: m.name for m in schema.modules for key in (m.prefix, m.name)})
        await self.master.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self.master.run()))
        await self._client.subscribe(bus.UNKNOWN_SUBSCRIPTION_SUBJECT, cb=self._unknown)

    async def _unknown(self, message: Msg) -> None:
        if self.master is not None and message.data.isdigit():
            self.master.unknown_subscription(int(message.data))

    @property
    def children(self) -> dict[str, int]:
        """Each child's name and pid."""
        return {name: process.pid for name, process in self._children.items()}

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.master is not None:
            await self.master.close()
        if self._forwarder is not None:
            await self._forwarder.close()
        for process in self._children.values():
            if process.returncode is None:
                process.terminate()
        for process in self._children.values():
            try:
                await asyncio.wait_for(process.wait(), 10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if self._client is not None:
            await self._client.close()
        for sock in self.sockets:
            sock.close()
