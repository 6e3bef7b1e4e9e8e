"""A receiver of a scaled-out collector: one UDP socket in a SO_REUSEPORT group (the kernel gives
each publisher's address and port to one socket of the group, so a publisher's segments and
message ids stay together), the intake of one collector (collector.intake: segments, message
ids, decoding, its counters), and every decoded event handed to the reassemblers over NATS
(collector.piece_transport). It knows nothing of subscriptions: the reassemblers do.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from collector.decoding import EventDecoder
from collector.intake import Intake
from collector.metrics import CollectorMetrics, serve_metrics
from collector.payload_readers import readers
from collector.piece_transport import PieceForwarder, ensure_pieces_stream
from collector.reassembly import Record
from collector.receiver import RECEIVE_BUFFER, ReceiveBuffer, UdpReceiver, open_socket, receive_buffer
from collector.stats import Stats
from mso import bus
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.yang_json import YangJson

log = logging.getLogger("mso.collector")
TICK = 0.005  # seconds between looks at an idle socket
SWEEP = 1.0  # seconds between sweeps of partial messages and message-id gaps


class ReceiverError(Exception):
    """The receiver cannot start (its address, the broker); the message is one line."""


@dataclass(frozen=True)
class ReceiverConfig:
    nats: str
    partitions: int = bus.DEFAULT_PARTITIONS
    listen: tuple[str, int] = ("127.0.0.1", 10001)
    listen_fd: int | None = None  # a socket already bound (by the --workers front), instead of listen
    receive_buffer: int = RECEIVE_BUFFER
    nats_user: str | None = None
    nats_password: str | None = None
    metrics: tuple[str, int] | None = None


def _nothing_emitted(records: list[Record]) -> None:
    """The intake's emit: a receiver forwards events and completes no record itself."""


class ReceiverService:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        schema = Schema.load()
        self.stats = Stats()
        self._decoder = EventDecoder(EnvelopeCodec(schema), YangJson(schema), readers(schema))
        self.intake: Intake | None = None
        self.receiver: UdpReceiver | None = None
        self.receive_buffer: ReceiveBuffer | None = None
        self._forwarder: PieceForwarder | None = None
        self._client = None
        self._metrics_server: object | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        config = self.config
        sock = self._socket()
        try:
            self._client = await bus.connect(config.nats, user=config.nats_user, password=config.nats_password,
                                             name="mso-collector-receiver")
        except bus.BusError as error:
            sock.close()
            raise ReceiverError(str(error)) from None
        jetstream = self._client.jetstream()
        await ensure_pieces_stream(jetstream)
        self._forwarder = PieceForwarder(jetstream, config.partitions, self.stats.errors, self.stats.output_drops)
        self.intake = Intake(self._decoder, self.stats, self._forwarder.forward, _nothing_emitted)
        self.receiver = UdpReceiver(sock, self.intake.datagrams, self.stats.errors)
        if config.metrics is not None:
            metrics = CollectorMetrics(self.stats, None, refusals=self.intake.refusals,
                                       segments_pending=lambda: self.intake.segments_pending,
                                       receive_buffer=self.receive_buffer.obtained)
            self._metrics_server, port = serve_metrics(metrics, *config.metrics)
            log.info("metrics-listening", extra={"fields": {"role": "receiver",
                                                            "address": f"{config.metrics[0]}:{port}"}})
        self.receiver.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._tick()))
        log.info("receiver-started", extra={"fields": {"listen": "%s:%d" % self.receiver.address,
                                                       "receive-buffer": self.receive_buffer.obtained}})

    @property
    def address(self) -> tuple[str, int]:
        """The UDP address it listens on (once started)."""
        assert self.receiver is not None
        return self.receiver.address

    def _socket(self) -> socket.socket:
        config = self.config
        if config.listen_fd is not None:
            sock = socket.socket(fileno=config.listen_fd)
            sock.setblocking(False)
        else:
            host, port = config.listen
            try:
                sock = open_socket(host, port, config.receive_buffer, reuse_port=True)
            except OSError as error:
                raise ReceiverError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self.receive_buffer = receive_buffer(sock, config.receive_buffer)
        return sock

    async def _tick(self) -> None:
        assert self.receiver is not None and self.intake is not None
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + SWEEP
        while True:
            self.receiver.poll()
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + SWEEP
                self.intake.expire(loop.time())
            await asyncio.sleep(TICK)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.receiver is not None:
            self.receiver.close()
        if self._forwarder is not None:
            await self._forwarder.close()
        if self._client is not None:
            await self._client.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
