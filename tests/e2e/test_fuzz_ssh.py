"""Hostile input over real SSH against a real Master (bench.fuzz, bounded): the fixed abuses
and random mutations, each on a session of its own, while a canary session asks get in turn.
No crash (the server stays up and no handler fails), every case answered as it must be, and
the canary answered throughout."""

from __future__ import annotations

import asyncio
import random

from bench.fuzz import Server, fuzz_over_ssh
from bench.fuzz_cases import hostile_cases, mutated_cases


def test_fuzzing_over_ssh_crashes_nothing_and_the_canary_keeps_answering(server_factory) -> None:
    master = server_factory(extra_args=["--line-cards", "1", "--ports", "4"])
    cases = hostile_cases() + list(mutated_cases(random.Random(7), 120))
    server = Server(master.port, master.log_path, master.process, master.user, master.password)
    report = asyncio.run(fuzz_over_ssh(server, cases))
    assert report.crashes == []
    assert report.wrong == []
    assert report.tried == len(cases)
    assert report.canary_under_fuzz and report.canary_alone
