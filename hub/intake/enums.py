"""Where a public referral is, as its private progress link shows it."""

from __future__ import annotations

from enum import StrEnum


class ReferralStatus(StrEnum):
    """The only thing the referrer ever learns: received, being handled, closed."""

    RECEIVED = "received"
    BEING_HANDLED = "being-handled"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """The words on the progress page."""
        return {"received": "Received", "being-handled": "Being handled", "closed": "Closed"}[self.value]
