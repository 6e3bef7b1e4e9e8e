"""Children that must not outlive the process that started them.

The Master runs helpers (its nats-server, its collector, XPath evaluators). Stopped in order,
it stops them; killed with SIGKILL it cannot, and an orphaned nats-server would go on holding
the broker's port and store, so the restarted Master could neither start its own broker nor
log in to the orphan. Linux's parent-death signal ends each child when its parent goes, however
it goes.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: nothing may be loaded between fork and exec


def die_with_parent(signal_number: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` that has the child sent ``signal_number`` when this process dies.

    The signal follows the thread that forked: start children from the thread that lives as
    long as the process (the event loop's), never from a worker thread."""
    parent = os.getpid()

    def arrange() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal_number)
        if os.getppid() != parent:  # the parent died before the signal was arranged
            os._exit(1)

    return arrange
