"""The fuzz targets of bench.fuzz, bounded. The NETCONF message path of a real Master core:
every fixed abuse gets what it must (an rpc-error, or the session closed), and hypothesis's
random requests, mutations and bytes never crash it (no exception, no handler failing, nothing
still running). The collector's receive path: arbitrary datagrams never raise and are counted
by reason. The seed corpora of bench.fuzz --atheris are replayed too."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import CORPORA
from bench.fuzz_cases import ANSWER, CLOSE, VALID_REQUESTS, hello, hostile_cases, mutate
from bench.fuzz_targets import CollectorTarget, NetconfTarget, Outcome, as_fuzz_input
from mso.framing import frame_chunked, frame_eom
from mso.namespaces import NETCONF_BASE, qn

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Feeder:
    """One Master core for the module, on a loop of its own."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: NetconfTarget) -> None:
        self._loop, self._target = loop, target

    def __call__(self, payload: bytes, pieces: int = 1) -> Outcome:
        outcome = self._loop.run_until_complete(self._target.feed(payload, pieces))
        assert outcome.crashes == [], outcome.crashes
        return outcome


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feeder]:
    loop = asyncio.new_event_loop()
    running = NetconfTarget.running(tmp_path_factory.mktemp("fuzz") / "state")
    target = loop.run_until_complete(running.__aenter__())
    yield Feeder(loop, target)
    loop.run_until_complete(running.__aexit__(None, None, None))
    loop.close()


def rpc_errors(outcome: Outcome) -> int:
    return sum(1 for reply in outcome.replies if reply.find(qn(NETCONF_BASE, "rpc-error")) is not None)


@pytest.mark.parametrize("case", hostile_cases(), ids=lambda case: case.name)
def test_each_abuse_gets_an_error_or_a_closed_session(feed: Feeder, case) -> None:
    outcome = feed(case.payload)
    if case.expect == CLOSE:
        assert outcome.closed
    elif case.expect == ANSWER:
        assert outcome.closed or outcome.replies
        assert all(reply.tag == qn(NETCONF_BASE, "rpc-reply") for reply in outcome.replies)
        if "valid" not in case.name and outcome.replies:
            assert rpc_errors(outcome) >= 1


def test_valid_requests_are_answered_whatever_the_pieces_they_arrive_in(feed: Feeder) -> None:
    payload = hello() + b"".join(frame_chunked(request) for request in VALID_REQUESTS)
    for pieces in (1, 7, len(payload)):
        outcome = feed(payload, pieces)
        assert len(outcome.replies) == len(VALID_REQUESTS) and not outcome.closed


@pytest.mark.parametrize("seed", sorted(path.name for path in (CORPORA / "netconf").iterdir()))
def test_the_seed_corpus_replays_without_a_crash(feed: Feeder, seed: str) -> None:
    feed((CORPORA / "netconf" / seed).read_bytes(), pieces=3)


@FUZZ
@given(st.sampled_from(VALID_REQUESTS), st.randoms(use_true_random=False), st.integers(1, 12), st.booleans())
def test_mutated_requests_never_crash_the_server(feed: Feeder, request: bytes, rng: random.Random, rounds: int,
                                                 chunked: bool) -> None:
    frame = frame_chunked if chunked else frame_eom
    feed(hello(chunked) + frame(mutate(request, rng, rounds)))
    feed(hello(chunked) + mutate(frame(request), rng, rounds))


@FUZZ
@given(st.binary(max_size=2048), st.booleans(), st.integers(1, 5))
def test_random_bytes_never_crash_the_server(feed: Feeder, data: bytes, after_hello: bool, pieces: int) -> None:
    feed((hello() if after_hello else b"") + data, pieces)


@FUZZ
@given(st.lists(st.sampled_from([b"\n#", b"\n##\n", b"#", b"\n", b"0", b"1", b"9", b"4294967296", b"<rpc/>",
                                 b"]]>]]>"]), max_size=40))
def test_chunk_framing_abuse_never_crashes_the_server(feed: Feeder, pieces: list[bytes]) -> None:
    feed(hello() + b"".join(pieces))


@pytest.fixture(scope="module")
def collector() -> CollectorTarget:
    return CollectorTarget()


@pytest.mark.parametrize("seed", sorted(path.name for path in (CORPORA / "collector").iterdir()))
def test_the_collector_corpus_replays_without_a_crash(collector: CollectorTarget, seed: str) -> None:
    assert collector.feed((CORPORA / "collector" / seed).read_bytes()) == []


@FUZZ
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8))
def test_arbitrary_datagrams_never_crash_the_collector_and_are_counted(collector: CollectorTarget,
                                                                       datagrams: list[bytes]) -> None:
    before = sum(collector.refusals().values())
    assert collector.feed(as_fuzz_input(datagrams)) == []
    if all(len(d) < 12 for d in datagrams):  # shorter than a UDP-notif header: each refused, by reason
        assert sum(collector.refusals().values()) - before == len(datagrams)
