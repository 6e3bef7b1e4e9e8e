"""The SSH transport of the Master (RFC 6242): host key, user authentication, the ``netconf``
subsystem. Everything NETCONF happens in ``server.session``; this module only admits peers."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from mso.atomic_file import write_atomically
from server.login_guard import LoginGuard
from server.session import NetconfSession, SessionHost

log = logging.getLogger("mso.ssh")

HOST_KEY_FILE = "ssh_host_ed25519_key"
# AES first, and no chacha20-poly1305: clients (asyncssh's, OpenSSH's) take chacha20 when it is
# offered, and asyncssh seals each packet of it in Python at 10.5 us against 1.9 us for AES-GCM
# on the CPU's AES instructions; a push is a packet. Every SSH client has AES-GCM or AES-CTR.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr")


@dataclass(frozen=True)
class SshSettings:
    host: str
    port: int
    state_dir: Path  # where the host key is kept
    users: tuple[tuple[str, str], ...] = ()  # (name, password)
    authorized_keys: Path | None = None
    passwords: bool = True  # password authentication offered at all


def load_or_create_host_key(state_dir: Path) -> asyncssh.SSHKey:
    """The host key is generated once and kept, so clients' known_hosts stay valid across restarts."""
    path = state_dir / HOST_KEY_FILE
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    write_atomically(path, key.export_private_key())
    return key


class _Admission(asyncssh.SSHServer):
    """One per SSH connection: authenticates the user and opens NETCONF sessions for them."""

    def __init__(self, sessions: SessionHost, passwords: Mapping[str, str], keys: asyncssh.SSHAuthorizedKeys | None,
                 guard: LoginGuard) -> None:
        self._sessions = sessions
        self._passwords = passwords
        self._keys = keys
        self._guard = guard
        self._user = ""
        self._peer = ""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        host, port = conn.get_extra_info("peername")[:2]
        self._peer = f"{host}:{port}"

    def begin_auth(self, username: str) -> bool:
        self._user = username
        return True

    def password_auth_supported(self) -> bool:
        return bool(self._passwords)

    async def validate_password(self, username: str, password: str) -> bool:
        expected = self._passwords.get(username)
        ok = expected is not None and hmac.compare_digest(expected.encode(), password.encode())
        return await self._guard.attempt(self._address, username, "password", ok)

    def public_key_auth_supported(self) -> bool:
        return self._keys is not None

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        host = self._address
        ok = self._keys is not None and self._keys.validate(key, host, host) is not None
        return await self._guard.attempt(host, username, "publickey", ok)

    @property
    def _address(self) -> str:
        return self._peer.rsplit(":", 1)[0]

    def session_requested(self) -> NetconfSession | bool:
        if not self._sessions.admits():
            log.warning("session-refused", extra={"fields": {"user": self._user, "source": self._peer,
                                                             "reason": "max-sessions"}})
            return False
        return NetconfSession(self._sessions, self._user, self._peer)


async def start_ssh(settings: SshSettings, sessions: SessionHost, guard: LoginGuard) -> asyncssh.SSHAcceptor:
    keys = asyncssh.read_authorized_keys(str(settings.authorized_keys)) if settings.authorized_keys else None
    passwords = dict(settings.users) if settings.passwords else {}
    return await asyncssh.create_server(
        lambda: _Admission(sessions, passwords, keys, guard),
        settings.host,
        settings.port,
        server_host_keys=[load_or_create_host_key(settings.state_dir)],
        encryption_algs=CIPHERS,
        encoding=None,
        allow_pty=False,
        agent_forwarding=False,
        allow_scp=False,
        keepalive_interval=30,
        login_timeout=30,
        # large windows keep a fast subscriber's pushes flowing without per-packet window updates
        window=8 * 1024 * 1024,
        max_pktsize=256 * 1024,
    )
