"""How the long-running processes (the Master, the agents) ask CPython's cyclic garbage
collector to behave.

With the default thresholds (700, 10, 10) a Master serving a thousand sessions runs a young
collection every few hundred allocations and, every so often, a full one over every live
object: 70-120 ms during which no tick fires, so every subscription due then skips a period
(bench.push, 1,000 sessions: 99.3 % of ticks delivered, lateness p99 121 ms). Two changes:

- what start-up built (the compiled schema, modules, tables) is frozen, so no collection ever
  traverses it again;
- young collections wait for 20,000 new container objects, and each older generation for 20
  collections of the one below, so full collections are rarer (they still run, so cycles are
  still freed; ``bench.soak`` keeps watching memory).

Same bench after it: 100 % delivered, p99 4.3 ms.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
OLDER_THRESHOLD = 20


def settle_after_startup() -> None:
    """Call once the process has built what it keeps for its life, before it serves."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
