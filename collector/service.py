"""One running collector: the UDP receiver, the pipeline, the outputs, the Master channel and
the metrics endpoint, on one asyncio loop, started and stopped together."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass

from collector.decoding import EventDecoder
from collector.knowledge import Knowledge
from collector.master_channel import MasterChannel, MasterConfig, establish_request, names_and_prefixes
from collector.merge import Merger, list_keys
from collector.metrics import CollectorMetrics, serve_metrics
from collector.nats_output import NatsOutput, NatsOutputError
from collector.outputs import JsonLinesOutput, Outputs
from collector.payload_readers import readers
from collector.pipeline import Pipeline
from collector.reassembly import Reassembly, Record
from collector.receiver import RECEIVE_BUFFER, ReceiveBuffer, UdpReceiver, open_socket, receive_buffer
from collector.record_formats import (RECORD, TELEMETRY_MESSAGE, Render, TelemetryMessages, collector_manifest,
                                      module_revisions)
from collector.stats import Stats
from collector.telemetry_structure import MessageSchema
from collector.ui import Dashboard
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.yang_json import YangJson

log = logging.getLogger("mso.collector")
TICK = 0.005  # seconds between deadline checks: the most an incomplete record waits past its deadline


@dataclass(frozen=True)
class CollectorConfig:
    listen: tuple[str, int] = ("127.0.0.1", 10001)
    jsonl: str | None = None
    nats: str | None = None
    nats_user: str | None = None
    nats_password: str | None = None
    bus_routes: bool = False  # publish to the subjects of the Master's routes (message-bus reporting jobs)
    metrics: tuple[str, int] | None = None
    master: MasterConfig | None = None
    ui: bool = False
    deadline_factor: float = 1.5
    reorder_window: float = 0.1
    format: str = RECORD  # collector.record_formats: RECORD or TELEMETRY_MESSAGE
    receive_buffer: int = RECEIVE_BUFFER  # bytes asked of the kernel for the UDP socket


def _tune_garbage_collector() -> None:
    """The receive path allocates acyclic dicts by the hundred thousand a second, all freed by
    reference counting; left as it is, the cyclic collector runs every 700 of them and rescans
    the long-lived schema trees each time. Those move to the permanent generation, and young
    objects are collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class StartError(Exception):
    """The collector cannot start (its address, an output); the message is one line."""


class Collector:
    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.schema = Schema.load()
        self.yang = YangJson(self.schema)
        self.stats = Stats()
        self.knowledge = Knowledge()
        self.pipeline = Pipeline(
            EventDecoder(EnvelopeCodec(self.schema), self.yang, readers(self.schema)),
            self.knowledge,
            Reassembly(self.knowledge, Merger(list_keys(self.schema)), deadline_factor=config.deadline_factor,
                       reorder_window=config.reorder_window),
            Outputs([], self.stats.output_drops),
            self.stats,
        )
        modules = ((m.name, m.prefix, m.namespace) for m in self.schema.modules)
        self.namespaces = names_and_prefixes(modules)
        self.module_names = {key: m.name for m in self.schema.modules for key in (m.prefix, m.name)}
        for request in config.master.requests if config.master else ():
            establish_request(request, self.namespaces, None)  # FilterError now rather than later
        self._messages = MessageSchema(self.schema) if config.format == TELEMETRY_MESSAGE else None
        self.receiver: UdpReceiver | None = None
        self.receive_buffer: ReceiveBuffer | None = None  # what the kernel granted, once bound
        self.master: MasterChannel | None = None
        self.metrics_port: int | None = None
        self._metrics_server: object | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Bind, open the outputs, connect to the Master, then start receiving (what arrives
        meanwhile waits in the socket). StartError when the address or an output cannot be
        opened; MasterError when the Master cannot be reached."""
        config = self.config
        host, port = config.listen
        try:
            sock = open_socket(host, port, config.receive_buffer)
        except OSError as error:
            raise StartError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self.receive_buffer = receive_buffer(sock, config.receive_buffer)
        self.receiver = UdpReceiver(sock, self.pipeline.intake.datagrams, self.stats.errors,
                                    caught_up=self.pipeline.caught_up)
        outputs = self.pipeline.outputs.outputs
        if config.jsonl is not None:
            try:
                outputs.append(JsonLinesOutput(config.jsonl, render=self._render()))
            except OSError as error:
                raise StartError(f"cannot write {config.jsonl}: {error.strerror or error}") from None
        if config.nats is not None:
            try:
                outputs.append(await NatsOutput.connect(config.nats, self.stats.output_drops, user=config.nats_user,
                                                        password=config.nats_password, routed=config.bus_routes,
                                                        render=self._render()))
            except NatsOutputError as error:
                raise StartError(str(error)) from None
        if config.metrics is not None:
            try:
                self._metrics_server, self.metrics_port = serve_metrics(self._metrics(), *config.metrics)
            except OSError as error:
                raise StartError(f"cannot serve metrics on {config.metrics[0]}:{config.metrics[1]}: "
                                 f"{error.strerror or error}") from None
            log.info("metrics-listening", extra={"fields": {"address": f"{config.metrics[0]}:{self.metrics_port}"}})
        if config.master is not None:
            self.master = MasterChannel(config.master, self.pipeline, self.yang, self.namespaces,
                                        self.receiver.address, module_names=self.module_names,
                                        describe_device=config.format == TELEMETRY_MESSAGE)
            self.pipeline.on_unknown = self.master.unknown_subscription
            await self.master.start()
            self._tasks.append(asyncio.get_running_loop().create_task(self.master.run()))
        if config.ui:
            self._tasks.append(asyncio.get_running_loop().create_task(Dashboard(self.pipeline).run()))
        _tune_garbage_collector()
        self.receiver.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._tick()))
        log.info("collector-started", extra={"fields": {
            "listen": "%s:%d" % self.receiver.address, "receive-buffer": self.receive_buffer.obtained}})

    @property
    def address(self) -> tuple[str, int]:
        """The UDP address it listens on (once started)."""
        assert self.receiver is not None
        return self.receiver.address

    def _render(self) -> Render:
        """How one output shapes its records; each output numbers its telemetry messages itself."""
        if self._messages is None:
            return Record.to_json
        assert self.receiver is not None
        receiver = self.receiver
        return TelemetryMessages(self._messages, self.knowledge, self.stats, listen=lambda: receiver.address,
                                 master=lambda: self.master, revisions=module_revisions(self.schema),
                                 manifest=collector_manifest())

    def _metrics(self) -> CollectorMetrics:
        """What ``/metrics`` reads: the counters, and the pipeline's figures asked at each scrape."""
        pipeline = self.pipeline
        assert self.receive_buffer is not None
        return CollectorMetrics(self.stats, pipeline.reassembly, refusals=pipeline.refusals,
                                segments_pending=lambda: pipeline.segments_pending,
                                receive_buffer=self.receive_buffer.obtained)

    async def _tick(self) -> None:
        assert self.receiver is not None
        while True:
            self.receiver.poll()  # an idle socket is caught up: its slots' deadlines may pass
            self.pipeline.tick()
            await asyncio.sleep(TICK)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.master is not None:
            await self.master.close()
        if self.receiver is not None:
            self.receiver.close()
        self.pipeline.flush()
        await self.pipeline.outputs.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
