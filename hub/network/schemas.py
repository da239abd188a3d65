"""Pydantic in/out models of a child's professional network: agency ids, roles and dates, never a name."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict

from hub.network.enums import NetworkRole
from hub.network.models import NetworkMember
from hub.network.service import Network


class SubscribeIn(BaseModel):
    """Open this agency's membership of a child's network (it opened a case on the child)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: NetworkRole = NetworkRole.MEMBER
    """``lead`` for the agency that leads the child's case (one per network), else ``member``."""


class MemberOut(BaseModel):
    """One open membership."""

    agency_id: str
    role: NetworkRole
    since: datetime
    """When the agency subscribed."""

    @classmethod
    def from_model(cls, row: NetworkMember) -> Self:
        """Render one membership."""
        return cls(agency_id=row.agency_id, role=row.role, since=row.opened_at)


class NetworkOut(BaseModel):
    """A child's network: the agencies with an open case on the subject token that the caller may see, lead first.

    An agency sees itself and the members it has an agreement in force with; ``withheld``
    counts the others (never who they are), so it knows the list is partial. Operators and
    auditors (``/oversight``) see every member and ``withheld`` is 0.
    """

    subject_token: str
    lead: str | None
    """The lead agency's id; ``None`` when the network has no lead or the lead is withheld."""
    members: list[MemberOut]
    withheld: int = 0
    """Open members not shown: the caller has no agreement in force with them."""

    @classmethod
    def from_network(cls, network: Network) -> Self:
        """Render a network."""
        lead = network.lead
        return cls(
            subject_token=str(network.subject_token),
            lead=None if lead is None else lead.agency_id,
            members=[MemberOut.from_model(m) for m in network.members],
            withheld=network.withheld,
        )
