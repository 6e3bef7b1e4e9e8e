"""Helpers for the message-bus tests: the jobs' configuration as edit-config, and a consumer
that reads a polling job with plain nats-py, as any NATS client would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import nats
from nats.errors import TimeoutError as NatsTimeout

from mso.namespaces import INTERFACES, MESSAGE_BUS, NETCONF_BASE, NRM

SUBNETWORK, FUNCTION = "device", "bus"


def reporting_job(job_id: str, topic: str, selector: str, period_cs: int = 50, state: str = "UNLOCKED",
                  operation: str = "") -> str:
    op = f' xmlns:nc="{NETCONF_BASE}" nc:operation="{operation}"' if operation else ""
    return (f"<MessageBusDataReportingJob{op}><id>{job_id}</id><attributes><topic>{topic}</topic>"
            f'<dataSelector xmlns:if="{INTERFACES}">{selector}</dataSelector>'
            f"<reportingPeriod>{period_cs}</reportingPeriod><administrativeState>{state}</administrativeState>"
            f"</attributes></MessageBusDataReportingJob>")


def polling_job(job_id: str, consumer: str, secret: str, topics: Sequence[str], start: str = "FROM_START",
                operation: str = "") -> str:
    if operation == "delete":
        return (f'<MessageBusDataPollingJob xmlns:nc="{NETCONF_BASE}" nc:operation="delete"><id>{job_id}</id>'
                f"</MessageBusDataPollingJob>")
    listed = "".join(f"<topics>{topic}</topics>" for topic in topics)
    return (f"<MessageBusDataPollingJob><id>{job_id}</id><attributes><consumerId>{consumer}</consumerId>"
            f"<consumerSecret>{secret}</consumerSecret>{listed}<startPosition>{start}</startPosition>"
            f"</attributes></MessageBusDataPollingJob>")


def data_polling_job(job_id: str, consumer: str, secret: str, selector: str, period_cs: int = 50,
                     instructions: str = "", topics: Sequence[str] = ()) -> str:
    """A polling job that asks for data (TS 23.288 §5A) rather than naming topics;
    ``instructions`` is its formatInstruct/procInstructs XML (``topics`` makes the mix the server
    refuses)."""
    listed = "".join(f"<topics>{topic}</topics>" for topic in topics)
    return (f"<MessageBusDataPollingJob><id>{job_id}</id><attributes><consumerId>{consumer}</consumerId>"
            f"<consumerSecret>{secret}</consumerSecret>{listed}"
            f'<dataSelector xmlns:if="{INTERFACES}">{selector}</dataSelector>'
            f"<reportingPeriod>{period_cs}</reportingPeriod><startPosition>FROM_START</startPosition>"
            f"{instructions}</attributes></MessageBusDataPollingJob>")


def format_instruct(*, fetch: bool = False, expiry: int | None = None, minimum: int | None = None,
                    maximum: int | None = None, window: tuple[str, str] | None = None, period: int | None = None,
                    increasing: int | None = None) -> str:
    """A formatInstruct element with the options given."""
    options = "".join(f"<{name}>{value}</{name}>" for name, value in (
        ("minClubbedNotif", minimum), ("maxClubbedNotif", maximum), ("notifyPeriod", period),
        ("notifyPeriodInc", increasing)) if value is not None)
    if window is not None:
        options += f"<notifyWindow><startTime>{window[0]}</startTime><stopTime>{window[1]}</stopTime></notifyWindow>"
    expiring = f"<expiry>{expiry}</expiry>" if expiry is not None else ""
    return (f"<formatInstruct><consTrigNotif>{'true' if fetch else 'false'}</consTrigNotif>{expiring}"
            f"<reportingOptions>{options}</reportingOptions></formatInstruct>")


def proc_instruct(interval: int, *params: tuple[str, Sequence[str], str, Sequence[str]]) -> str:
    """A procInstructs entry; each parameter is (name, sumAttrs, aggrLevel, values)."""
    body = "".join(
        f"<paramProcInstructs><name>{name}</name>{''.join(f'<values>{v}</values>' for v in values)}"
        f"{''.join(f'<sumAttrs>{a}</sumAttrs>' for a in attributes)}<aggrLevel>{level}</aggrLevel></paramProcInstructs>"
        for name, attributes, level, values in params)
    return f"<procInstructs><procInterval>{interval}</procInterval>{body}</procInstructs>"


def bus_edit(endpoint: str | None, *jobs: str, function: str = FUNCTION, subnetwork: str = SUBNETWORK) -> str:
    """An edit-config of running that merges a MessageBrokingFunction and jobs."""
    attributes = f"<attributes><brokerEndpoint>{endpoint}</brokerEndpoint></attributes>" if endpoint else ""
    return (f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target><config>'
            f'<SubNetwork xmlns="{NRM}"><id>{subnetwork}</id>'
            f'<MessageBrokingFunction xmlns="{MESSAGE_BUS}"><id>{function}</id>{attributes}{"".join(jobs)}'
            f"</MessageBrokingFunction></SubNetwork></config></edit-config>")


class Consumer:
    """A polling job's consumer, with nothing but nats-py: ask the Master what the job lets it
    read, then pull from the job's durable consumer and acknowledge."""

    def __init__(self, url: str, user: str, secret: str, job: str) -> None:
        self.url, self.user, self.secret, self.job = url, user, secret, job
        self.client: nats.NATS | None = None
        self._subscriptions: list = []

    async def open(self) -> Consumer:
        # one attempt (nats-py alone retries a first connection 60 times, 2 s apart)
        self.client = await nats.connect(self.url, user=self.user, password=self.secret,
                                         inbox_prefix=f"_INBOX.{self.user}", allow_reconnect=False,
                                         max_reconnect_attempts=1, reconnect_time_wait=0.1, connect_timeout=2)
        reply = await self.client.request(f"mso.jobs.{self.user}.{self.job}", b"", timeout=5)
        access = json.loads(reply.data)
        jetstream = self.client.jetstream()
        self._subscriptions = [await jetstream.pull_subscribe_bind(access["durable"], stream=stream)
                               for stream in access["streams"]]
        return self

    async def records(self, count: int, timeout: float = 20.0, kind: str = "periodic") -> list[dict]:
        """The next ``count`` records of ``kind`` (others are acknowledged and skipped); a job a
        bus worker serves gets deliveries, whose notifications are its records."""
        found: list[dict] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(found)} of {count} {kind} records within {timeout} s")
            for subscription in self._subscriptions:
                try:
                    messages = await subscription.fetch(count - len(found), timeout=0.5)
                except (NatsTimeout, asyncio.TimeoutError):
                    continue
                for message in messages:
                    record = json.loads(message.data)
                    await message.ack()
                    delivered = record["notifications"] if record["kind"] == "delivery" else [record]
                    found += [notification for notification in delivered if notification["kind"] == kind]
        return found[:count]

    async def close(self) -> None:
        if self.client is not None and not self.client.is_closed:
            await self.client.close()
