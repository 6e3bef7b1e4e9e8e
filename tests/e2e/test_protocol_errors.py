"""What the Master does with bad input on the wire: the right rpc-error, or a clean end of that
session only — a parallel session keeps working every time."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from mso.framing import frame_chunked, frame_eom
from mso.namespaces import INTERFACES, NETCONF_BASE, qn
from mso.netconf_client import NetconfClient, NetconfClientError
from mso.rpc_error import RpcError
from tests.conftest import ServerProcess, run

GET_INTERFACE = f'<get xmlns="{NETCONF_BASE}"><filter><interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface></interfaces></filter></get>'


async def open_client(srv: ServerProcess) -> NetconfClient:
    return await NetconfClient.connect(srv.host, srv.port, username=srv.user, password=srv.password)


async def still_serves(client: NetconfClient) -> None:
    data = await client.get(subtree=f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface></interfaces>')
    assert data.findtext(f".//{{{INTERFACES}}}name") == "1/0/1"


async def error_of(client: NetconfClient, message: bytes) -> RpcError:
    """Send raw bytes as one framed message and return the rpc-error of the reply."""
    reply = await asyncio.wait_for(client.send_raw(message), 10)
    error = reply.find(qn(NETCONF_BASE, "rpc-error"))
    assert error is not None, reply
    return RpcError.from_element(error)


@pytest.mark.parametrize(
    "message, tag",
    [
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><get>", "malformed-message"),
        (b"<!DOCTYPE r [<!ENTITY a 'aaaa'>]><rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><get/></rpc>", "malformed-message"),
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><frobnicate/></rpc>", "operation-not-supported"),
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><get xmlns='urn:example:nothing'/></rpc>", "unknown-namespace"),
        (b"<rpc xmlns='urn:example:wrong' message-id='1'><get/></rpc>", "unknown-namespace"),
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get/></rpc>", "missing-attribute"),
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><get><bogus/></get></rpc>", "unknown-element"),
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><get><filter type='xpath'/></get></rpc>", "missing-attribute"),
        (b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0' message-id='1'><lock><target><candidate/></target></lock></rpc>", "invalid-value"),
    ],
)
def test_bad_request_gets_the_right_rpc_error_and_the_session_goes_on(server: ServerProcess, message: bytes, tag: str):
    async def scenario() -> None:
        client = await open_client(server)
        error = await error_of(client, message)
        assert error.tag == tag
        await still_serves(client)
        await client.close()

    run(scenario())


def test_oversized_message_ends_only_that_session(server_factory):
    srv = server_factory(extra_args=["--max-message-bytes", "65536"])

    async def scenario() -> None:
        victim, bystander = await open_client(srv), await open_client(srv)
        unanswered = victim.send_raw(b"<rpc>" + b"x" * 100_000)
        with pytest.raises(NetconfClientError):
            await asyncio.wait_for(unanswered, 10)
        await asyncio.wait_for(victim.wait_closed(), 10)
        assert victim.closed
        await still_serves(bystander)
        await bystander.close()

    run(scenario())


@pytest.mark.parametrize("garbage", [b"\n#abc\n<rpc/>\n##\n", b"\n#0\n", b"plain bytes, no chunk header"])
def test_broken_chunk_framing_ends_only_that_session(server: ServerProcess, garbage: bytes):
    async def scenario() -> None:
        victim, bystander = await open_client(server), await open_client(server)
        victim.write_unframed(garbage)
        await asyncio.wait_for(victim.wait_closed(), 10)
        with pytest.raises(NetconfClientError):
            await victim.get()
        await still_serves(bystander)
        await bystander.close()

    run(scenario())


class _Recorder(asyncssh.SSHClientSession):
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype: object) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


async def raw_session(srv: ServerProcess) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClientChannel, _Recorder]:
    conn = await asyncssh.connect(srv.host, srv.port, username=srv.user, password=srv.password, known_hosts=None)
    chan, recorder = await conn.create_session(_Recorder, subsystem="netconf", encoding=None)
    return conn, chan, recorder


def test_hello_and_first_chunked_rpc_in_one_packet(server: ServerProcess):
    hello = f'<hello xmlns="{NETCONF_BASE}"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>'.encode()
    rpc = f'<rpc xmlns="{NETCONF_BASE}" message-id="7">{GET_INTERFACE}</rpc>'.encode()

    async def scenario() -> None:
        conn, chan, recorder = await raw_session(server)
        chan.write(frame_eom(hello) + frame_chunked(rpc))
        for _ in range(100):
            if b'message-id="7"' in recorder.data and recorder.data.endswith(b"\n##\n"):
                break
            await asyncio.sleep(0.05)
        assert b'message-id="7"' in recorder.data and b"1/0/1" in recorder.data
        conn.close()

    run(scenario())


def test_client_hello_with_session_id_is_refused(server: ServerProcess):
    hello = f'<hello xmlns="{NETCONF_BASE}"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability></capabilities><session-id>4</session-id></hello>'.encode()

    async def scenario() -> None:
        conn, chan, recorder = await raw_session(server)
        chan.write(frame_eom(hello))
        await asyncio.wait_for(recorder.closed.wait(), 10)
        conn.close()

    run(scenario())


def test_base_1_0_only_client_keeps_end_of_message_framing(server: ServerProcess):
    hello = f'<hello xmlns="{NETCONF_BASE}"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>'.encode()
    rpc = f'<rpc xmlns="{NETCONF_BASE}" message-id="9">{GET_INTERFACE}</rpc>'.encode()

    async def scenario() -> None:
        conn, chan, recorder = await raw_session(server)
        chan.write(frame_eom(hello) + frame_eom(rpc))
        for _ in range(100):
            if recorder.data.count(b"]]>]]>") >= 2:
                break
            await asyncio.sleep(0.05)
        reply = bytes(recorder.data).split(b"]]>]]>")[1]
        assert b'message-id="9"' in reply and b"\n#" not in reply
        conn.close()

    run(scenario())
