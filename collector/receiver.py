"""The UDP socket of the collector.

asyncio's datagram transport makes one ``recvfrom`` per wake-up of the loop; at 100k datagrams a
second that wake-up costs more than the datagram. This receiver registers the socket with
``add_reader`` and reads it in batches instead: ``recvmmsg`` (collector._recvmmsg, built at
install time) returns up to ``BATCH`` datagrams per system call, or, where that module could not
be built, a loop of ``recvfrom`` does the same. Each batch goes to the pipeline on the loop's
thread.

A read that returns less than it asked for found the socket empty: the receiver is caught up,
and says so (``caught_up``), so that reassembly deadlines may pass. ``poll`` reads without
waiting for the loop to report the socket readable, so an idle socket is known to be caught up
too.

The socket asks for a large receive buffer so bursts wait in the kernel rather than being
dropped while a batch is processed; without CAP_NET_ADMIN the kernel caps it at
``net.core.rmem_max``, and ``open_socket`` reports what it obtained.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

try:
    from collector._recvmmsg import receive as recvmmsg
except ImportError:  # not built on this machine: the recvfrom loop below does the same, slower
    recvmmsg = None

log = logging.getLogger("mso.collector")
RECEIVE_BUFFER = 64 * 1024 * 1024  # what the kernel reports for the socket (SO_RCVBUF, see socket(7))
# Python's socket module does not export SO_RCVBUFFORCE; on Linux it is 33 (asm-generic/socket.h)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
MAX_DATAGRAM = 65535
BATCH = 64  # datagrams per read
READS_PER_WAKE_UP = 8  # then the loop runs its other callbacks (timers, outputs) before reading on
Datagram = tuple[bytes, tuple]
BatchHandler = Callable[[list[Datagram]], None]
Receive = Callable[[socket.socket, int], list[Datagram]]


@dataclass(frozen=True)
class ReceiveBuffer:
    """The socket receive buffer asked for and the one the kernel granted, in bytes as
    getsockopt(SO_RCVBUF) reports them (the kernel doubles what setsockopt is given)."""

    asked: int
    obtained: int

    @property
    def short(self) -> bool:
        return self.obtained < self.asked

    def advice(self) -> str:
        """One line saying what was obtained and, when short, how to raise the cap."""
        if not self.short:
            return f"receive buffer {_mib(self.obtained)}"
        return (f"receive buffer {_mib(self.obtained)}, asked for {_mib(self.asked)}: the kernel caps it at "
                f"net.core.rmem_max without CAP_NET_ADMIN; raise the cap with "
                f"`sysctl -w net.core.rmem_max={self.asked // 2}` (bursts beyond the buffer are dropped)")


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def open_socket(host: str, port: int, receive_buffer: int = RECEIVE_BUFFER, *,
                reuse_port: bool = False) -> socket.socket:
    """A non-blocking UDP socket bound to HOST:PORT with the biggest receive buffer allowed.

    SO_RCVBUFFORCE passes the rmem_max cap when the process may (CAP_NET_ADMIN); otherwise
    SO_RCVBUF gets what the cap allows. ``reuse_port`` lets several receivers bind the same
    port (SO_REUSEPORT: the kernel gives each source address and port to one of them). Raises
    OSError when the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            if option is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, receive_buffer // 2)  # the kernel doubles it
                break
            except OSError:
                continue
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def receive_buffer(sock: socket.socket, asked: int = RECEIVE_BUFFER) -> ReceiveBuffer:
    return ReceiveBuffer(asked, sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def recvfrom_batch(sock: socket.socket, count: int) -> list[Datagram]:
    """Up to ``count`` queued datagrams, one ``recvfrom`` each: the path without collector._recvmmsg."""
    batch = []
    receive = sock.recvfrom
    for _ in range(count):
        try:
            batch.append(receive(MAX_DATAGRAM))
        except (BlockingIOError, InterruptedError):
            break
    return batch


def recvmmsg_batch(sock: socket.socket, count: int) -> list[Datagram]:
    """Up to ``count`` queued datagrams in one system call (needs collector._recvmmsg)."""
    assert recvmmsg is not None
    return recvmmsg(sock.fileno(), count)


def default_receive() -> Receive:
    """recvmmsg where collector._recvmmsg was built, the recvfrom loop elsewhere."""
    return recvfrom_batch if recvmmsg is None else recvmmsg_batch


class UdpReceiver:
    def __init__(self, sock: socket.socket, handle: BatchHandler, errors: Counter[str], *,
                 caught_up: Callable[[], None] | None = None, receive: Receive | None = None,
                 batch: int = BATCH) -> None:
        self.sock = sock
        self._handle = handle
        self._caught_up = caught_up  # told each time a read finds the socket empty
        self._errors = errors  # a batch whose handling raised counts as "internal-error"
        self._receive = receive or default_receive()
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
        self._loop.add_reader(self.sock.fileno(), self.poll)

    def poll(self) -> None:
        """Read what is queued, a few batches at most; tell ``caught_up`` when the socket is empty."""
        receive, sock, size, handle = self._receive, self.sock, self._batch, self._handle
        for _ in range(READS_PER_WAKE_UP):
            try:
                batch = receive(sock, size)
            except OSError as error:  # e.g. ICMP port unreachable reported on the socket
                log.debug("receive-error", extra={"fields": {"error": str(error)}})
                return
            empty = len(batch) < size
            if empty and self._caught_up is not None:
                self._caught_up()  # everything that arrived until this read is in this batch
            if batch:
                try:
                    handle(batch)
                except Exception:
                    self._errors["internal-error"] += 1
                    log.exception("datagram-handling-failed")
            if empty:
                return

    def close(self) -> None:
        if self.sock.fileno() == -1:
            return
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
