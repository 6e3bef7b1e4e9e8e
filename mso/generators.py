"""Who is who among a device's originators (DESIGN: the identity rule).

A message-generator-id is the decimal string of the originator's UDP-notif publisher id. The
Master is generator ``1``; every line-card agent has its own number from 2 up.
"""

from __future__ import annotations

MASTER_PUBLISHER_ID = 1
MASTER_GENERATOR = str(MASTER_PUBLISHER_ID)
FIRST_AGENT_ID = 2
LAST_PUBLISHER_ID = 2**32 - 1  # a UDP-notif publisher id is 32 bits


def generator_of(publisher_id: int) -> str:
    """The message-generator-id of a UDP-notif publisher id."""
    return str(publisher_id)


def is_agent_id(publisher_id: int) -> bool:
    """Whether a line card may take this publisher id (1 is the Master's)."""
    return FIRST_AGENT_ID <= publisher_id <= LAST_PUBLISHER_ID
