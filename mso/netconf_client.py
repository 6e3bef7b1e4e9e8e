"""A NETCONF client on asyncssh with the shared RFC 6242 framing.

It pipelines: ``send`` writes a request and returns a future at once, so many requests can be
in flight; replies are matched by message-id. Notifications go to ``notifications`` (or to a
callback), so one session can carry RPCs and subscription pushes at the same time. The
collector subscribes with it and the benchmarks measure the server with it: ncclient's
per-request cost would hide the server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import count

import asyncssh
from lxml import etree

from mso.framing import FrameDecoder, FramingError, frame_chunked, frame_eom
from mso.namespaces import BASE_1_0, BASE_1_1, NETCONF_BASE, NOTIFICATION, qn
from mso.rpc_error import RpcError
from mso.xml_parsing import MalformedXML, parse_xml

_HELLO = (
    f'<hello xmlns="{NETCONF_BASE}"><capabilities>'
    f"<capability>{BASE_1_0}</capability><capability>{BASE_1_1}</capability>"
    "</capabilities></hello>"
).encode()
_NOTIFICATION = qn(NOTIFICATION, "notification")


class NetconfClientError(Exception):
    """The session failed (transport closed, bad hello, broken framing)."""


class _Channel(asyncssh.SSHClientSession):
    def __init__(self, client: "NetconfClient") -> None:
        self._client = client

    def data_received(self, data: bytes, datatype: object) -> None:
        self._client._data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._lost(exc)
        self._client.abort()  # one NETCONF session per SSH connection: the connection goes with it


class NetconfClient:
    def __init__(self, max_message_bytes: int = 64 * 1024 * 1024) -> None:
        self.session_id: int | None = None
        self.server_capabilities: list[str] = []
        self.notifications: asyncio.Queue[etree._Element] = asyncio.Queue()
        self.on_notification: Callable[[etree._Element], None] | None = None
        self._decoder = FrameDecoder(max_message_bytes)
        self._frame = frame_eom
        self._ids = count(1)
        self._pending: dict[str, asyncio.Future[etree._Element]] = {}
        self._hello: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._chan: asyncssh.SSHClientChannel | None = None
        self._closed: Exception | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        username: str,
        password: str | None = None,
        client_keys: list[str] | None = None,
        known_hosts: str | None = None,
        timeout: float = 10.0,
        keepalive_interval: float = 0.0,
        keepalive_count_max: int = 3,
    ) -> "NetconfClient":
        """Open SSH, start the ``netconf`` subsystem and exchange hellos.

        ``known_hosts=None`` skips host-key checking — acceptable on loopback in tests and
        benchmarks; give a known_hosts file anywhere else. With ``keepalive_interval`` (seconds),
        an SSH keepalive goes out after that long without a word from the server, and the
        connection is closed once ``keepalive_count_max`` of them go unanswered: a server that
        became unreachable without closing the connection is noticed.
        """
        client = cls()
        client._conn = await asyncio.wait_for(
            asyncssh.connect(
                host, port, username=username, password=password, client_keys=client_keys,
                known_hosts=known_hosts, preferred_auth="publickey,password" if client_keys else "password",
                keepalive_interval=keepalive_interval, keepalive_count_max=keepalive_count_max,
            ),
            timeout,
        )
        client._chan, _ = await client._conn.create_session(lambda: _Channel(client), subsystem="netconf", encoding=None)
        client._chan.write(frame_eom(_HELLO))
        await asyncio.wait_for(client._hello, timeout)
        return client

    # --- requests -----------------------------------------------------------------------------

    def send(self, operation: etree._Element | bytes | str) -> asyncio.Future[etree._Element]:
        """Write one ``<rpc>`` and return the future of its ``<rpc-reply>``."""
        if self._closed is not None or self._chan is None:
            raise NetconfClientError(f"session is closed: {self._closed}")
        message_id = str(next(self._ids))
        body = operation if isinstance(operation, (bytes, str)) else etree.tostring(operation)
        if isinstance(body, str):
            body = body.encode()
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        try:
            self._chan.write(self._frame(b'<rpc xmlns="%s" message-id="%s">%s</rpc>' % (NETCONF_BASE.encode(), message_id.encode(), body)))
        except BrokenPipeError:  # the channel closed and the loss has not been reported yet
            raise NetconfClientError("session is closed: the channel is not open for sending") from None
        self._pending[message_id] = future
        return future

    def send_raw(self, message: bytes) -> asyncio.Future[etree._Element]:
        """Write bytes as one framed message, unchecked (for testing a server's error handling).

        The future gets the next reply whose message-id matches no other request.
        """
        assert self._chan is not None
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        self._pending[f"raw-{next(self._ids)}"] = future
        self._chan.write(self._frame(message))
        return future

    def write_unframed(self, data: bytes) -> None:
        """Write bytes with no framing at all (for testing broken framing)."""
        assert self._chan is not None
        self._chan.write(data)

    async def rpc(self, operation: etree._Element | bytes | str, timeout: float | None = 30.0) -> etree._Element:
        """Send and wait; an ``<rpc-error>`` of severity error is raised as ``RpcError``."""
        reply = await asyncio.wait_for(self.send(operation), timeout)
        raise_for_errors(reply)
        return reply

    async def get(self, subtree: str | None = None, xpath: str | None = None, namespaces: dict[str, str] | None = None) -> etree._Element:
        """``<get>`` returning the ``<data>`` element."""
        reply = await self.rpc(get_request(subtree, xpath, namespaces))
        data = reply.find(qn(NETCONF_BASE, "data"))
        if data is None:
            raise NetconfClientError("get reply without <data>")
        return data

    async def close(self) -> None:
        """close-session, then close the transport."""
        if self._closed is None and self._chan is not None:
            try:
                await self.rpc(f'<close-session xmlns="{NETCONF_BASE}"/>', timeout=5)
            except (NetconfClientError, RpcError, asyncio.TimeoutError):
                pass
        self.abort()

    def abort(self) -> None:
        """Drop the transport without close-session (what a crashed client does)."""
        if self._conn is not None:
            self._conn.close()

    async def wait_closed(self) -> None:
        if self._conn is not None:
            await self._conn.wait_closed()

    # --- incoming -----------------------------------------------------------------------------

    def _data_received(self, data: bytes) -> None:
        try:
            for message in self._decoder.feed(data):
                self._on_message(message)
        except (FramingError, MalformedXML, NetconfClientError) as error:
            self._lost(error)
            self.abort()

    def _on_message(self, message: bytes) -> None:
        root = parse_xml(message)
        if not self._hello.done():
            self._on_hello(root)
            return
        if root.tag == _NOTIFICATION:
            if self.on_notification is not None:
                self.on_notification(root)
            else:
                self.notifications.put_nowait(root)
            return
        future = self._pending.pop(root.get("message-id", ""), None)
        if future is None and self._pending:  # a reply without message-id answers the oldest request
            future = self._pending.pop(next(iter(self._pending)))
        if future is not None and not future.done():
            future.set_result(root)

    def _on_hello(self, hello: etree._Element) -> None:
        if hello.tag != qn(NETCONF_BASE, "hello"):
            raise NetconfClientError("the server did not start with <hello>")
        self.server_capabilities = [(c.text or "").strip() for c in hello.iter(qn(NETCONF_BASE, "capability"))]
        session_id = hello.findtext(qn(NETCONF_BASE, "session-id"))
        self.session_id = int(session_id) if session_id and session_id.strip().isdigit() else None
        chunked = BASE_1_1 in self.server_capabilities
        self._frame = frame_chunked if chunked else frame_eom
        self._hello.set_result(hello)
        for message in self._decoder.hello_done(chunked):
            self._on_message(message)

    def _lost(self, exc: Exception | None) -> None:
        if self._closed is not None:
            return
        self._closed = exc or NetconfClientError("session closed")
        error = NetconfClientError(f"session closed: {self._closed}")
        if not self._hello.done():
            self._hello.set_exception(error)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    @property
    def local_address(self) -> tuple[str, int] | None:
        """This end of the SSH connection: an address the server's side can reach us at."""
        if self._conn is None:
            return None
        host, port = self._conn.get_extra_info("sockname")[:2]
        return host, port

    @property
    def closed(self) -> bool:
        return self._closed is not None


def raise_for_errors(reply: etree._Element) -> None:
    for error in reply.iter(qn(NETCONF_BASE, "rpc-error")):
        parsed = RpcError.from_element(error)
        if parsed.severity == "error":
            raise parsed


def get_request(subtree: str | None = None, xpath: str | None = None, namespaces: dict[str, str] | None = None) -> bytes:
    """The ``<get>`` operation element with an optional subtree or XPath filter."""
    if subtree is not None:
        return f'<get xmlns="{NETCONF_BASE}"><filter type="subtree">{subtree}</filter></get>'.encode()
    if xpath is not None:
        filter_element = etree.Element(qn(NETCONF_BASE, "filter"), nsmap={None: NETCONF_BASE, **(namespaces or {})})
        filter_element.set("type", "xpath")
        filter_element.set("select", xpath)
        get = etree.Element(qn(NETCONF_BASE, "get"), nsmap={None: NETCONF_BASE})
        get.append(filter_element)
        return etree.tostring(get)
    return f'<get xmlns="{NETCONF_BASE}"/>'.encode()
