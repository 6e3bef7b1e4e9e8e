"""The collector's socket reads, on real loopback sockets: recvmmsg (collector._recvmmsg) and the
recvfrom loop it falls back to return the same datagrams, and the receiver knows when it is caught up."""

from __future__ import annotations

import socket
from collections import Counter

import pytest

from collector import receiver as receiving
from collector.receiver import UdpReceiver, open_socket, recvfrom_batch

PATHS = [pytest.param(recvfrom_batch, id="recvfrom")]
if receiving.recvmmsg is not None:
    PATHS.append(pytest.param(receiving.recvmmsg_batch, id="recvmmsg"))


def test_the_recvmmsg_extension_is_built_and_used():
    """The README's set-up builds it with this machine's gcc (setup.py; a failed build is only a
    warning there, so this says so); without it, the recvfrom loop is the one used."""
    assert receiving.recvmmsg is not None and receiving.default_receive() is receiving.recvmmsg_batch


def queued(family: int, host: str, datagrams: list[bytes]) -> tuple[socket.socket, socket.socket]:
    """A bound receiving socket with ``datagrams`` waiting in it, and the socket that sent them."""
    receiver = open_socket(host, 0)
    sender = socket.socket(family, socket.SOCK_DGRAM)
    sender.bind((host, 0))
    for datagram in datagrams:
        sender.sendto(datagram, receiver.getsockname())
    return receiver, sender


@pytest.mark.parametrize("receive", PATHS)
@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_a_batch_holds_the_queued_datagrams_in_order_with_their_source(receive, family, host):
    datagrams = [bytes([n]) * (n * 97 % 1500 + 1) for n in range(40)] + [b"z" * 65_000]  # near the largest a UDP datagram holds
    receiver, sender = queued(family, host, datagrams)
    try:
        first = receive(receiver, 16)
        rest = receive(receiver, 64)
        assert [data for data, _ in first + rest] == datagrams
        assert {source for _, source in first + rest} == {sender.getsockname()}
        assert len(first) == 16 and receive(receiver, 64) == []
    finally:
        receiver.close()
        sender.close()


@pytest.mark.parametrize("receive", PATHS)
def test_poll_hands_over_every_batch_and_says_when_the_socket_was_found_empty(receive):
    receiver_socket, sender = queued(socket.AF_INET, "127.0.0.1", [b"%d" % n for n in range(10)])
    batches: list[list] = []
    caught_up = Counter()
    udp = UdpReceiver(receiver_socket, batches.append, Counter(), caught_up=lambda: caught_up.update(["yes"]),
                      receive=receive, batch=4)
    try:
        udp.poll()
        assert [len(batch) for batch in batches] == [4, 4, 2] and caught_up["yes"] == 1
        udp.poll()  # idle: nothing to hand over, and caught up again
        assert len(batches) == 3 and caught_up["yes"] == 2
    finally:
        udp.close()
        sender.close()


def test_a_batch_whose_handling_raises_is_counted_and_the_receiver_goes_on():
    receiver_socket, sender = queued(socket.AF_INET, "127.0.0.1", [b"a", b"b"])
    errors: Counter[str] = Counter()

    def failing(batch: list) -> None:
        raise RuntimeError("a bug")

    udp = UdpReceiver(receiver_socket, failing, errors, batch=1)
    try:
        udp.poll()
        assert errors["internal-error"] == 2
    finally:
        udp.close()
        sender.close()
