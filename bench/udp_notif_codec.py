"""UDP-notif codec throughput on one core: ``.venv/bin/python -m bench.udp_notif_codec``.

Prints messages per second for a 500-octet single-datagram message and a 20 KB message cut into
1400-octet segments, each next to a baseline measured in the same run: the bare ``struct`` call
every codec has to make at least once per datagram. The ratio says how much the codec costs on
top of that floor, which is steadier across machines than the absolute rates.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable

from mso.udp_notif import MediaType, Publisher, Reassembler, decode_header

ROUNDS = 5
SINGLE_PAYLOAD = 500
SEGMENTED_PAYLOAD = 20_000
SEGMENT_SIZE = 1400
_FIXED = struct.Struct("!BBHII")


def best_rate(run: Callable[[], int]) -> float:
    """Messages per second of the fastest of ROUNDS runs; run() returns messages handled."""
    best = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        count = run()
        best = max(best, count / (time.perf_counter() - start))
    return best


def single_datagram_cases(datagram: bytes, payload: bytes) -> dict[str, Callable[[], int]]:
    count = 200_000
    datagrams = [datagram] * count
    publisher = Publisher(1, first_message_id=0)

    def unpack_baseline() -> int:
        unpack = _FIXED.unpack_from
        for d in datagrams:
            unpack(d)
        return count

    def decode() -> int:
        for d in datagrams:
            decode_header(d)
        return count

    def feed() -> int:
        reassembler = Reassembler()
        for d in datagrams:
            reassembler.feed(d)
        return count

    def pack_baseline() -> int:
        pack = _FIXED.pack
        for message_id in range(count):
            pack(0x21, 12, 512, 1, message_id) + payload
        return count

    def encode() -> int:
        for _ in range(count):
            publisher.encode(payload, MediaType.JSON)
        return count

    return {
        "decode baseline: struct.unpack_from": unpack_baseline,
        "decode_header": decode,
        "Reassembler.feed": feed,
        "encode baseline: struct.pack + payload": pack_baseline,
        "Publisher.encode": encode,
    }


def segmented_cases(segments: list[bytes], payload: bytes) -> dict[str, Callable[[], int]]:
    count = 5_000
    publisher = Publisher(1, max_segment_size=SEGMENT_SIZE, first_message_id=0)
    pieces = len(segments)

    def unpack_baseline() -> int:
        unpack = _FIXED.unpack_from
        for _ in range(count):
            for d in segments:
                unpack(d)
        return count

    def feed() -> int:
        reassembler = Reassembler()
        for _ in range(count):
            for d in segments:
                reassembler.feed(d)
            reassembler.expire(float("inf"))  # the same message id again: forget it, untimed
        return count

    def pack_baseline() -> int:
        pack = _FIXED.pack
        chunk = SEGMENT_SIZE - 16
        for message_id in range(count):
            for number in range(pieces):
                pack(0x21, 16, SEGMENT_SIZE, 1, message_id) + payload[number * chunk :][:chunk]
        return count

    def encode() -> int:
        for _ in range(count):
            publisher.encode(payload, MediaType.JSON)
        return count

    return {
        "decode baseline: struct.unpack_from per segment": unpack_baseline,
        "Reassembler.feed (all segments)": feed,
        "encode baseline: struct.pack + slice per segment": pack_baseline,
        "Publisher.encode": encode,
    }


def report(title: str, cases: dict[str, Callable[[], int]]) -> None:
    print(title)
    baseline = 0.0
    for name, run in cases.items():
        rate = best_rate(run)
        if "baseline" in name:
            baseline = rate
            print(f"  {name:<50} {rate:>12,.0f} msg/s")
        else:
            print(f"  {name:<50} {rate:>12,.0f} msg/s  {rate / baseline:5.2f} x baseline")


def main() -> None:
    rng = random.Random(0)
    single_payload = rng.randbytes(SINGLE_PAYLOAD)
    (single,) = Publisher(1).encode(single_payload, MediaType.JSON)
    segmented_payload = rng.randbytes(SEGMENTED_PAYLOAD)
    segments = Publisher(1, max_segment_size=SEGMENT_SIZE).encode(
        segmented_payload, MediaType.JSON
    )
    report(f"{SINGLE_PAYLOAD} B payload, one datagram", single_datagram_cases(single, single_payload))
    report(
        f"{SEGMENTED_PAYLOAD} B payload, {len(segments)} segments of <= {SEGMENT_SIZE} B",
        segmented_cases(segments, segmented_payload),
    )


if __name__ == "__main__":
    main()
