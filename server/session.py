"""One NETCONF session on one SSH channel (RFC 6241 + RFC 6242).

The session owns the framing state and the order of replies: requests are processed one at a
time, in arrival order, by a worker task, so replies go out in the order the requests came in.
Every outgoing message is framed and written in a single channel write, so a notification pushed
between two replies can never interleave with them on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import asyncssh
from lxml import etree

from mso.framing import FrameDecoder, FramingError, frame_chunked, frame_eom
from mso.namespaces import BASE_1_0, BASE_1_1, NETCONF_BASE, qn
from mso.rpc_error import RpcError, info_element
from mso.xml_parsing import MalformedXML, XmlLimitExceeded, XmlLimits, check_limits, parse_xml
from server.authz import Principal
from server.rpc import Reply, RpcContext

log = logging.getLogger("mso.session")

SEND_BUFFER_HIGH = 8 * 1024 * 1024  # the default of --max-pending-bytes
_RPC = qn(NETCONF_BASE, "rpc")
_HELLO = qn(NETCONF_BASE, "hello")
_REQUEST_LIMITS = XmlLimits()


@dataclass
class SessionCounters:
    """RFC 6022 per-session statistics."""

    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0


@dataclass
class SessionInfo:
    session_id: int
    user: str
    source_host: str
    login_time: datetime
    counters: SessionCounters = field(default_factory=SessionCounters)


@dataclass
class ServerStatistics:
    """``/netconf-state/statistics`` (RFC 6022 §2.1.5)."""

    start_time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    in_bad_hellos: int = 0
    in_sessions: int = 0
    dropped_sessions: int = 0
    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0
    refused_sessions: int = 0  # mso-netconf-server: over --max-sessions


class SessionHost(Protocol):
    """What a session needs from the server that hosts it."""

    capabilities: Sequence[str]
    max_message_bytes: int
    max_pending_bytes: int  # unsent bytes past which the session's subscriptions are suspended
    statistics: ServerStatistics

    def new_session_id(self) -> int: ...

    def admits(self) -> bool:
        """Whether a new session may open (there is room under the session limit)."""

    def opened(self, session: "NetconfSession") -> None:
        """The session has said hello-worthy things: it is live."""

    def closed(self, session: "NetconfSession", dropped: bool) -> None:
        """The session is gone (``dropped``: not by close-session, kill-session or shutdown)."""

    def paused(self, session_id: int, paused: bool) -> None:
        """Its send buffer filled up (``paused``) or drained again."""

    async def dispatch(self, ctx: RpcContext, operation: etree._Element) -> Reply: ...

    def refused(self, ctx: RpcContext, operation: str | None, error: RpcError) -> None:
        """A message answered with an rpc-error before any operation ran."""


class NetconfSession(asyncssh.SSHServerSession):
    """The asyncssh session object for the ``netconf`` subsystem."""

    def __init__(self, host: SessionHost, user: str, source_host: str) -> None:
        self._host = host
        self.info = SessionInfo(host.new_session_id(), user, source_host, datetime.now(timezone.utc))
        self.principal = Principal(user, self.info.session_id, source_host)
        self._decoder = FrameDecoder(host.max_message_bytes)
        self._frame: Callable[[bytes], bytes] = frame_eom
        self._chan: asyncssh.SSHServerChannel | None = None
        self._hello_done = False
        self._requests: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._closing = False
        self._close_after_reply = False
        self._orderly = False  # ended by close-session, kill-session or shutdown (RFC 6022: not "dropped")
        self._outbox: list[bytes] = []

    # --- asyncssh callbacks -------------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan
        # past this much unsent data the session's subscriptions are suspended (unsupportable-volume)
        limit = self._host.max_pending_bytes
        chan.set_write_buffer_limits(high=limit, low=limit // 4)

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    @property
    def session_id(self) -> int:
        return self.info.session_id

    def session_started(self) -> None:
        self._host.opened(self)
        self._send(self._hello_message())
        self._worker = asyncio.get_running_loop().create_task(self._process_requests())

    def data_received(self, data: bytes, datatype: Any) -> None:
        if self._closing:
            return
        try:
            messages = self._decoder.feed(data)
            if not self._hello_done and messages:
                messages = self._on_hello(messages[0]) if not self._closing else []
            for message in messages:
                self._requests.put_nowait(message)
        except FramingError as error:
            self._abort(f"framing: {error}")

    def eof_received(self) -> bool:
        self._abort("peer closed")
        return False

    def pause_writing(self) -> None:
        self._host.paused(self.info.session_id, True)

    def resume_writing(self) -> None:
        self._host.paused(self.info.session_id, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._worker is not None:
            self._worker.cancel()
        self._host.closed(self, dropped=not self._orderly)

    # --- sending ------------------------------------------------------------------------------

    def send_notification(self, message: bytes) -> None:
        """Queue one complete ``<notification>`` document for sending."""
        self.info.counters.out_notifications += 1
        self._host.statistics.out_notifications += 1
        self._send(message)

    def _send(self, message: bytes) -> None:
        """Queue a framed message; everything queued in one loop iteration leaves in one write,
        so the pushes of one tick share SSH packets (one encryption, one send) instead of each
        paying for its own."""
        if self._chan is None or self._closing:
            return
        self._outbox.append(self._frame(message))
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if not frames or self._chan is None or self._closing:
            return
        try:
            self._chan.write(b"".join(frames))
        except BrokenPipeError:  # the peer went away before connection_lost told us
            self._closing = True

    def close_after_reply(self) -> None:
        """close-session: the ``<ok/>`` goes out first, then the session ends."""
        self._close_after_reply = True

    def close(self, reason: str) -> None:
        """End the session from the server side (kill-session, shutdown)."""
        self._orderly = True
        self._abort(reason)

    def _abort(self, reason: str) -> None:
        if self._closing:
            return
        self._flush()  # what was already answered (close-session's <ok/>) still goes out
        self._closing = True
        log.info("session-end", extra={"fields": {"session-id": self.info.session_id, "reason": reason}})
        if self._chan is not None:
            self._chan.close()

    # --- hello --------------------------------------------------------------------------------

    def _hello_message(self) -> bytes:
        hello = etree.Element(_HELLO, nsmap={None: NETCONF_BASE})
        caps = etree.SubElement(hello, qn(NETCONF_BASE, "capabilities"))
        for uri in self._host.capabilities:
            etree.SubElement(caps, qn(NETCONF_BASE, "capability")).text = uri
        etree.SubElement(hello, qn(NETCONF_BASE, "session-id")).text = str(self.info.session_id)
        return etree.tostring(hello, xml_declaration=True, encoding="UTF-8")

    def _on_hello(self, message: bytes) -> list[bytes]:
        """Check the client's hello (RFC 6241 §8.1) and fix the framing; returns queued messages."""
        try:
            hello = parse_xml(message)
            check_limits(hello, _REQUEST_LIMITS)
        except (MalformedXML, XmlLimitExceeded) as error:
            return self._bad_hello(f"unparsable hello: {error}")
        if hello.tag != _HELLO:
            return self._bad_hello(f"expected <hello>, got <{etree.QName(hello).localname}>")
        if hello.find(qn(NETCONF_BASE, "session-id")) is not None:
            return self._bad_hello("a client hello must not carry a session-id")
        offered = {(c.text or "").strip() for c in hello.iter(qn(NETCONF_BASE, "capability"))}
        if BASE_1_0 not in offered and BASE_1_1 not in offered:
            return self._bad_hello("no common base capability")
        chunked = BASE_1_1 in offered
        self._frame = frame_chunked if chunked else frame_eom
        self._hello_done = True
        return self._decoder.hello_done(chunked)

    def _bad_hello(self, reason: str) -> list[bytes]:
        self._host.statistics.in_bad_hellos += 1
        self._abort(f"bad hello: {reason}")
        return []

    # --- requests -----------------------------------------------------------------------------

    async def _process_requests(self) -> None:
        while True:
            message = await self._requests.get()
            reply = await self._handle(message)
            if reply is not None:
                self._send(reply)
            if self._close_after_reply:
                self._orderly = True
                self._abort("close-session")
            if self._closing:
                return

    async def _handle(self, message: bytes) -> bytes | None:
        try:
            rpc = parse_xml(message)
        except MalformedXML as error:
            return self._refuse(None, None, None, self._malformed(f"not well-formed XML: {error}"))
        try:
            check_limits(rpc, _REQUEST_LIMITS)
        except XmlLimitExceeded as error:
            # the reply carries only its message-id: copying every attribute is the cost refused
            message_id = rpc.get("message-id")
            return self._refuse(None, None if message_id is None else {"message-id": message_id}, None,
                                self._too_big(str(error)))
        if rpc.tag != _RPC:
            self._count_bad()
            return self._refuse(None, None, None, self._not_an_rpc(rpc))
        attributes = dict(rpc.attrib)
        message_id = attributes.get("message-id")
        operations = [child for child in rpc if isinstance(child.tag, str)]
        ctx = RpcContext(self, self.principal, message_id)
        if message_id is None or len(operations) != 1:
            self._count_bad()
            return self._refuse(ctx, attributes, operations[0].tag if len(operations) == 1 else None,
                                _envelope_error(message_id, operations))
        self.info.counters.in_rpcs += 1
        self._host.statistics.in_rpcs += 1
        try:
            content = await self._host.dispatch(ctx, operations[0])
        except RpcError as error:
            return self._error_reply(attributes, error)
        except Exception:  # a handler bug must not kill the session: answer and log it
            log.exception("handler failed", extra={"fields": {"session-id": self.info.session_id}})
            return self._error_reply(attributes, RpcError("operation-failed", "internal error", type="application"))
        return self._ok_reply(attributes, content)

    def _refuse(self, ctx: RpcContext | None, attributes: dict[str, str] | None, operation: str | None,
                error: RpcError) -> bytes:
        """Answer a message no operation ran for, and let the observers see it."""
        self._host.refused(ctx or RpcContext(self, self.principal, None), operation, error)
        return self._error_reply(attributes, error)

    def _count_bad(self) -> None:
        """RFC 6022 in-bad-rpcs: not a correct <rpc> (XML parse errors and rpc-layer errors)."""
        self.info.counters.in_bad_rpcs += 1
        self._host.statistics.in_bad_rpcs += 1

    def _malformed(self, message: str) -> RpcError:
        self._count_bad()
        # malformed-message is new in base:1.1 (RFC 6241 Appendix A); base:1.0 peers get operation-failed
        tag = "malformed-message" if self._frame is frame_chunked else "operation-failed"
        return RpcError(tag, message, type="rpc")

    def _too_big(self, message: str) -> RpcError:
        self._count_bad()
        return RpcError("too-big", f"request refused: {message}", type="rpc")

    def _not_an_rpc(self, element: etree._Element) -> RpcError:
        qname = etree.QName(element)
        if qname.namespace != NETCONF_BASE:
            return RpcError(
                "unknown-namespace",
                f"expected an rpc in {NETCONF_BASE}",
                type="protocol",
                info=[info_element("bad-element", qname.localname), info_element("bad-namespace", qname.namespace or "")],
            )
        return RpcError("unknown-element", f"unexpected <{qname.localname}>", type="protocol",
                        info=[info_element("bad-element", qname.localname)])

    def _ok_reply(self, attributes: dict[str, str] | None, content: Sequence[etree._Element] | None) -> bytes:
        reply = self._reply_element(attributes)
        if content is None:
            etree.SubElement(reply, qn(NETCONF_BASE, "ok"))
        else:
            reply.extend(content)
        return etree.tostring(reply)

    def _error_reply(self, attributes: dict[str, str] | None, error: RpcError) -> bytes:
        self.info.counters.out_rpc_errors += 1
        self._host.statistics.out_rpc_errors += 1
        reply = self._reply_element(attributes)
        reply.append(error.to_element())
        return etree.tostring(reply)

    @staticmethod
    def _reply_element(attributes: dict[str, str] | None) -> etree._Element:
        """An rpc-reply carrying every attribute of the rpc (RFC 6241 §4.2)."""
        reply = etree.Element(qn(NETCONF_BASE, "rpc-reply"), nsmap={None: NETCONF_BASE})
        for name, value in (attributes or {}).items():
            reply.set(name, value)
        return reply


def _envelope_error(message_id: str | None, operations: Sequence[etree._Element]) -> RpcError:
    """Why an ``<rpc>`` is refused before dispatch: no message-id, or not exactly one operation."""
    if message_id is None:
        return RpcError("missing-attribute", "the rpc element has no message-id", type="rpc",
                        info=[info_element("bad-attribute", "message-id"), info_element("bad-element", "rpc")])
    return RpcError("malformed-message" if operations else "missing-element", "an rpc must carry exactly one operation",
                    type="rpc" if operations else "protocol", info=[info_element("bad-element", "rpc")])
