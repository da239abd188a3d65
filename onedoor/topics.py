"""Topic names, in one place.

Each agency writes only its outbound topic and reads only its inbox; the hub reads every
outbound topic and writes every inbox and the dead-letter topic. Broker ACLs (the
connectors issue) will make that layout a guarantee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Topic names under one prefix (``onedoor`` in production, random per test)."""

    prefix: str = "onedoor"

    def outbound(self, agency: AgencyId) -> str:
        """Where ``agency`` publishes envelopes for the hub to route."""
        return f"{self.prefix}.out.{agency}"

    def inbox(self, agency: AgencyId) -> str:
        """Where the hub delivers envelopes addressed to ``agency``."""
        return f"{self.prefix}.in.{agency}"

    def intake(self, agency: AgencyId) -> str:
        """Public referrals sealed to triage desk ``agency``: the hub API writes, only that desk reads."""
        return f"{self.prefix}.intake.{agency}"

    @property
    def dead_letter(self) -> str:
        """Rejected envelopes: ciphertext and a reason code, never plaintext."""
        return f"{self.prefix}.deadletter"

    @property
    def policy(self) -> str:
        """Agreement and consent change announcements (agreement ids, subject tokens): the hub API writes, routers read.

        No connector reads it (threat model S7): agencies get registry events on :attr:`registry`.
        """
        return f"{self.prefix}.policy"

    @property
    def registry(self) -> str:
        """Registry change announcements (agency ids only): the hub API writes, routers and every connector read."""
        return f"{self.prefix}.registry"

    @property
    def outbound_pattern(self) -> str:
        """A regex matching every agency's outbound topic (for the router's subscription)."""
        return "^" + re.escape(self.prefix) + r"\.out\.[a-z][a-z0-9-]+$"

    def owner_of_outbound(self, topic: str) -> AgencyId | None:
        """The agency that owns outbound ``topic``, or None if it is not one."""
        head = f"{self.prefix}.out."
        if not topic.startswith(head):
            return None
        try:
            return AgencyId(topic[len(head) :])
        except ValidationFailed:
            return None
