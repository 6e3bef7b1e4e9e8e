"""The bare asyncssh ``netconf`` subsystem the benchmarks measure mso against: a hello, the
shared framing, and nothing else — the SSH/asyncio floor under a real server."""

from __future__ import annotations

import asyncssh

from mso.framing import frame_eom

HELLO = (b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
         b"<capability>urn:ietf:params:netconf:base:1.1</capability></capabilities>"
         b"<session-id>1</session-id></hello>")


class BareNetconfSession(asyncssh.SSHServerSession):
    """Accepts the ``netconf`` subsystem and sends a base:1.1 hello; subclasses add the rest."""

    def __init__(self) -> None:
        self._chan: asyncssh.SSHServerChannel | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    def session_started(self) -> None:
        assert self._chan is not None
        self._chan.write(frame_eom(HELLO))
