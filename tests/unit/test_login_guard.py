"""Failed logins slow their source down, doubling each time up to a ceiling; a success clears it."""

from __future__ import annotations

from server.login_guard import LoginGuard
from tests.conftest import run


def test_each_failure_doubles_the_wait_of_that_address_only() -> None:
    guard = LoginGuard(first_delay=0.001, max_delay=0.004)

    async def body() -> list[float]:
        waits = []
        for _ in range(4):
            waits.append(guard.delay("10.0.0.1"))
            await guard.attempt("10.0.0.1", "mallory", "password", False)
        return waits

    assert run(body()) == [0.0, 0.001, 0.002, 0.004]
    assert guard.delay("10.0.0.1") == 0.004  # the ceiling
    assert guard.delay("10.0.0.2") == 0.0 and guard.failed == 4


def test_a_success_clears_the_address() -> None:
    guard = LoginGuard(first_delay=0.001)
    run(guard.attempt("10.0.0.1", "alice", "password", False))
    assert run(guard.attempt("10.0.0.1", "alice", "password", True))
    assert guard.delay("10.0.0.1") == 0.0 and guard.failed == 1
