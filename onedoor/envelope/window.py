"""A window of message ids: each remembered while its envelope is alive.

The hub uses it to refuse replays; connectors use it to drop redelivered duplicates.

An id is remembered until its envelope expires; after that the expiry check refuses it, so
the window never needs to be longer than the longest allowed lifetime. The first sighting's
source position (topic, partition, offset) is remembered too: reading the same record again
after a restart is at-least-once redelivery, not a replay.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(slots=True)
class MessageWindow:
    """Message ids seen, each kept until its envelope's expiry."""

    _first_seen: dict[str, str] = field(default_factory=dict)
    _expiry: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._first_seen)

    def admit(self, message_id: str, position: str, expires_at_ms: int) -> bool:
        """Record ``message_id`` seen at ``position``; False if it was first seen elsewhere."""
        first = self._first_seen.get(message_id)
        if first is not None:
            return first == position
        self._first_seen[message_id] = position
        heapq.heappush(self._expiry, (expires_at_ms, message_id))
        return True

    def forget_expired(self, now_ms: int) -> int:
        """Drop ids whose envelopes have expired; return how many."""
        dropped = 0
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, message_id = heapq.heappop(self._expiry)
            self._first_seen.pop(message_id, None)
            dropped += 1
        return dropped
