"""Periods of validity, as half-open intervals of milliseconds since the epoch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from consent.errors import Invalid, invalid

NEVER: Final = -(2**62)
"""Before any time the engine meets."""
FOREVER: Final = 2**62
"""After any time the engine meets."""


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime.

    Raises:
        ValidationFailed: ``period.invalid`` for a naive datetime.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid(Invalid.BAD_PERIOD, "times must carry a time zone (UTC)")
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)``: from ``start`` inclusive to ``end`` exclusive; an open end is unbounded."""

    start: datetime | None = None
    end: datetime | None = None
    start_ms: int = field(init=False, repr=False, compare=False)
    end_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        start = NEVER if self.start is None else to_ms(self.start)
        end = FOREVER if self.end is None else to_ms(self.end)
        if end <= start:
            raise invalid(Invalid.BAD_PERIOD, "a period must end after it starts")
        object.__setattr__(self, "start_ms", start)
        object.__setattr__(self, "end_ms", end)

    def contains(self, at_ms: int) -> bool:
        """Whether ``at_ms`` falls in the period."""
        return self.start_ms <= at_ms < self.end_ms

    def within(self, other: Period) -> bool:
        """Whether this period lies entirely inside ``other``."""
        return other.start_ms <= self.start_ms and self.end_ms <= other.end_ms

    @property
    def unbounded(self) -> bool:
        """Whether the period has neither start nor end."""
        return self.start is None and self.end is None


ALWAYS: Final = Period()
