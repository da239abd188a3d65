"""Exponential backoff with full jitter, and what the inbox does when the application fails."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from connectors.adapters.base import DeliveryRefused, DeliveryRetry

HANDLER_FAILED: Final = "handler.failed"
"""The parked reason of a message whose handler kept raising something other than a delivery error."""


@dataclass(slots=True)
class Backoff:
    """Delays that double from ``first_s`` up to ``cap_s``, each drawn uniformly from [0, limit] (full jitter)."""

    first_s: float = 0.1
    cap_s: float = 2.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def limit(self) -> float:
        """The largest delay the next ``next()`` may return."""
        return min(self.cap_s, self.first_s * 2.0 ** min(self.attempt, 30))

    def next(self) -> float:
        """The next delay (seconds); each call doubles the limit until the cap."""
        delay = self.rng.uniform(0, self.limit())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Back to the first delay (after a success)."""
        self.attempt = 0


class Action(StrEnum):
    """What the inbox does with a message whose handler raised."""

    RETRY = "retry"
    """Wait and hand the same message over again."""
    PARK = "park"
    """Keep it in ``parked_messages`` with a reason and move on."""


@dataclass(frozen=True, slots=True)
class Disposition:
    """The inbox's decision about one failed delivery attempt."""

    action: Action
    reason: str | None = None
    """The parked reason (a dotted code) when parking."""
    detail: str = ""
    """The refusal's message or the exception type: never a body."""


def disposition(error: BaseException, *, attempt: int, max_attempts: int) -> Disposition:
    """Decide what to do after attempt number ``attempt`` (1-based) raised ``error``.

    ``DeliveryRefused`` is parked at once with its code; ``DeliveryRetry`` is always retried
    (the caller bounds how long it waits in place); anything else is retried up to
    ``max_attempts`` attempts, then parked as ``handler.failed`` with the exception's type.
    """
    if isinstance(error, DeliveryRefused):
        return Disposition(Action.PARK, error.code, error.message)
    if isinstance(error, DeliveryRetry):
        return Disposition(Action.RETRY)
    if attempt < max_attempts:
        return Disposition(Action.RETRY)
    return Disposition(Action.PARK, HANDLER_FAILED, type(error).__name__)
