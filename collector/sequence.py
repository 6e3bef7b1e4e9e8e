"""Loss and duplicate accounting for one numbered series: a publisher's UDP-notif message ids or
its envelope sequence numbers towards this receiver.

Both series are contiguous per (publisher, receiver) and wrap at 2**32, so a number past the
next one expected opens a gap, and a number already passed is either a late arrival filling a
gap or a duplicate. A gap is not called a loss at once: UDP reorders, so a missing number is
held for ``horizon`` seconds (or until ``window`` newer numbers are missing) and counted lost
only then. A jump of more than ``reset_distance`` either way is a publisher that restarted with
a fresh random first id (draft-ietf-netconf-udp-notif §3.2), not a burst of loss.
"""

from __future__ import annotations

from collections import OrderedDict

MODULUS = 1 << 32
_HALF = MODULUS >> 1


class SequenceTracker:
    """One series. ``observe`` says whether a number is new; the counters say what happened."""

    __slots__ = ("window", "horizon", "reset_distance", "highest", "missing", "lost", "duplicates",
                 "reordered", "resets")

    def __init__(self, *, window: int = 4096, horizon: float = 2.0, reset_distance: int = 1 << 16) -> None:
        self.window = window
        self.horizon = horizon
        self.reset_distance = reset_distance
        self.highest: int | None = None
        # number -> when its absence was noticed, oldest first; ordered so the oldest go in O(1)
        # (a plain dict's first key costs a scan past every key deleted before it)
        self.missing: OrderedDict[int, float] = OrderedDict()
        self.lost = 0
        self.duplicates = 0
        self.reordered = 0  # late arrivals that filled a gap
        self.resets = 0

    def observe(self, number: int, now: float) -> bool:
        """Account for ``number``; False when it is a duplicate to drop."""
        highest = self.highest
        if highest is None:
            self.highest = number
            return True
        ahead = (number - highest) % MODULUS
        if ahead == 1:  # the common case: the next one
            self.highest = number
            return True
        if ahead == 0:
            self.duplicates += 1
            return False
        if ahead < _HALF:
            return self._forward(number, ahead, now)
        return self._backward(number, MODULUS - ahead)

    def _forward(self, number: int, ahead: int, now: float) -> bool:
        if ahead > self.reset_distance:
            self._reset(number)
            return True
        assert self.highest is not None
        gap = ahead - 1
        tracked = min(gap, self.window)
        self.lost += gap - tracked  # too many to wait for: the oldest are lost now
        first = (number - tracked) % MODULUS
        for offset in range(tracked):
            self.missing[(first + offset) % MODULUS] = now
        self.highest = number
        self._trim()
        return True

    def _backward(self, number: int, behind: int) -> bool:
        if self.missing.pop(number, None) is not None:
            self.reordered += 1
            return True
        if behind > self.reset_distance:
            self._reset(number)
            return True
        self.duplicates += 1
        return False

    def _reset(self, number: int) -> None:
        self.lost += len(self.missing)
        self.missing.clear()
        self.highest = number
        self.resets += 1

    def _trim(self) -> None:
        excess = len(self.missing) - self.window
        if excess > 0:
            for _ in range(excess):
                self.missing.popitem(last=False)
            self.lost += excess

    def expire(self, now: float) -> int:
        """Count as lost every gap older than the horizon; return how many."""
        cutoff = now - self.horizon
        missing = self.missing
        expired = 0
        while missing:
            number, noticed = next(iter(missing.items()))
            if noticed > cutoff:
                break
            missing.popitem(last=False)
            expired += 1
        self.lost += expired
        return expired
