"""The UDP socket of the collector.

asyncio's datagram transport makes one ``recvfrom`` per wake-up of the loop; at 100k datagrams a
second that wake-up costs more than the datagram. This receiver registers the socket with
``add_reader`` and drains up to ``batch`` datagrams per wake-up instead, handing each to the
pipeline on the loop's thread. The socket asks for a large receive buffer so bursts wait in the
kernel rather than being dropped while a batch is processed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("mso.collector")
RECEIVE_BUFFER = 32 * 1024 * 1024
# Python's socket module does not export SO_RCVBUFFORCE; on Linux it is 33 (asm-generic/socket.h)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
MAX_DATAGRAM = 65535
Handler = Callable[[bytes, tuple[str, int]], None]


def open_socket(host: str, port: int, receive_buffer: int = RECEIVE_BUFFER) -> socket.socket:
    """A non-blocking UDP socket bound to HOST:PORT with the biggest receive buffer allowed.

    SO_RCVBUFFORCE passes the rmem_max cap when the process may (CAP_NET_ADMIN); otherwise
    SO_RCVBUF gets what the cap allows. Raises OSError when the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            if option is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, receive_buffer)
                break
            except OSError:
                continue
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class UdpReceiver:
    def __init__(self, sock: socket.socket, handle: Handler, errors: Counter[str], *,
                 drained: Callable[[], None] | None = None, batch: int = 256) -> None:
        self.sock = sock
        self._handle = handle
        self._drained = drained  # told each time the socket is found empty
        self._errors = errors  # a datagram whose handling raised counts as "internal-error"
        self._batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    @property
    def receive_buffer(self) -> int:
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        receive, handle = self.sock.recvfrom, self._handle
        for _ in range(self._batch):
            try:
                data, source = receive(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                if self._drained is not None:
                    self._drained()
                return
            except OSError as error:  # e.g. ICMP port unreachable reported on the socket
                log.debug("receive-error", extra={"fields": {"error": str(error)}})
                return
            try:
                handle(data, source)
            except Exception:
                self._errors["internal-error"] += 1
                log.exception("datagram-handling-failed")

    def close(self) -> None:
        if self.sock.fileno() == -1:
            return
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
