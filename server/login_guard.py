"""Failed logins, rate-limited per source address: after each failure from an address its next
attempts wait twice as long (from ``FIRST_DELAY`` up to ``MAX_DELAY``) before they are
answered, so guessing passwords gets slow while a user who mistyped once barely notices. A
success clears the address. Every failure is logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

log = logging.getLogger("mso.ssh")
FIRST_DELAY = 0.2  # seconds, after the first failure
MAX_DELAY = 10.0
_TRACKED = 4096  # addresses remembered (the oldest are forgotten first)


class LoginGuard:
    def __init__(self, first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY) -> None:
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._failures: OrderedDict[str, int] = OrderedDict()
        self.failed = 0  # every failed attempt, for netconf-state

    def delay(self, address: str) -> float:
        """How long an attempt from ``address`` waits before it is answered."""
        failures = self._failures.get(address, 0)
        return 0.0 if failures == 0 else min(self._max_delay, self._first_delay * 2 ** (failures - 1))

    async def attempt(self, address: str, user: str, method: str, succeeded: bool) -> bool:
        """Answer one attempt, after the address's delay; returns ``succeeded``."""
        wait = self.delay(address)
        if wait:
            await asyncio.sleep(wait)
        if succeeded:
            self._failures.pop(address, None)
            return True
        self.failed += 1
        self._failures[address] = self._failures.pop(address, 0) + 1
        while len(self._failures) > _TRACKED:
            self._failures.popitem(last=False)
        log.warning("auth-failed", extra={"fields": {"user": user, "source": address, "method": method,
                                                     "failures": self._failures[address],
                                                     "next-delay": f"{self.delay(address):g}"}})
        return False
