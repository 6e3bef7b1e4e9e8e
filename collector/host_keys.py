"""Which SSH host key the Master must present to the collector.

With ``--known-hosts FILE`` (OpenSSH's known_hosts format) the keys listed there are the ones
trusted. Without it, the collector trusts the key the Master presents the first time and pins it
in its state dir (trust on first use, as OpenSSH's ``StrictHostKeyChecking accept-new``), so a
Master that later presents another key is refused: a man in the middle, or a Master reinstalled
without its key, which the operator must confirm by removing the pinned line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from mso.atomic_file import write_atomically

log = logging.getLogger("mso.collector")
PIN_FILE = "collector-known-hosts"  # in the state dir
DEFAULT_SSH_PORT = 22
_FETCH_TIMEOUT = 10.0


class HostKeyError(Exception):
    """The Master's host key cannot be pinned; the message is one line."""


def host_pattern(host: str, port: int) -> str:
    """How known_hosts names HOST:PORT: the bare host on port 22, ``[host]:port`` elsewhere."""
    return host if port == DEFAULT_SSH_PORT else f"[{host}]:{port}"


def is_listed(known_hosts: Path, host: str, port: int) -> bool:
    """Whether ``known_hosts`` has a key (or a CA) for HOST:PORT."""
    if not known_hosts.is_file():
        return False
    trusted_keys, trusted_cas, *_ = asyncssh.match_known_hosts(
        str(known_hosts), host, host, None if port == DEFAULT_SSH_PORT else port)
    return bool(trusted_keys or trusted_cas)


@dataclass(frozen=True)
class HostKeyPolicy:
    known_hosts: Path | None  # the user's file, or None: trust on first use, pinned in ``pin_file``
    pin_file: Path

    @property
    def file(self) -> Path:
        """The known_hosts file connections are checked against."""
        return self.known_hosts or self.pin_file

    async def prepare(self, host: str, port: int) -> str:
        """The known_hosts file to connect with; on first use of HOST:PORT, its key is pinned there.
        A Master that cannot be reached raises what asyncssh raises (OSError, asyncssh.Error,
        TimeoutError), as the connection itself would."""
        if self.known_hosts is not None or is_listed(self.pin_file, host, port):
            return str(self.file)
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port), _FETCH_TIMEOUT)
        if key is None:
            raise HostKeyError(f"{host}:{port} presented no host key to pin")
        self._pin(host, port, key)
        return str(self.pin_file)

    def _pin(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        line = f"{host_pattern(host, port)} {key.export_public_key().decode().strip()}\n"
        held = self.pin_file.read_text() if self.pin_file.is_file() else ""
        try:
            self.pin_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.pin_file, (held + line).encode(), mode=0o644)
        except OSError as error:
            raise HostKeyError(f"cannot pin the host key of {host}:{port} in {self.pin_file}: "
                               f"{error.strerror or error}") from None
        log.info("master-host-key-pinned", extra={"fields": {
            "master": f"{host}:{port}", "fingerprint": key.get_fingerprint(), "file": str(self.pin_file)}})

    def refusal(self, host: str, port: int) -> str:
        """The one line that says why a Master's key was refused."""
        if self.known_hosts is not None:
            return (f"the host key of {host}:{port} is not one {self.known_hosts} lists for it: refusing to "
                    "connect")
        return (f"the host key of {host}:{port} has changed since it was pinned in {self.pin_file}: refusing to "
                f"connect (if the Master's key changed on purpose, delete its line {host_pattern(host, port)} there)")
