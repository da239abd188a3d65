"""Pydantic in/out models of case transfers: ids, agency ids, statuses and dates only.

What the candidates are told about the child (age band, area, needs) never reaches the hub:
it travels end-to-end encrypted in ``onedoor.transfer.TransferOffer``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from hub.agencies.schemas import AgencyIdField
from hub.network.enums import NetworkRole
from hub.network.schemas import MemberOut
from hub.transfers.enums import TransferStatus
from hub.transfers.models import Transfer
from hub.transfers.service import MAX_CANDIDATES, Accepted


class TransferIn(BaseModel):
    """Offer a child's case to candidate agencies in the area the child moved to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_token: str
    """The child's subject token; the caller must be the lead of its network."""
    candidates: list[AgencyIdField] = Field(min_length=1, max_length=MAX_CANDIDATES)
    """Registered, active agencies that may take the case on; the first to accept does."""


class PreviousMember(BaseModel):
    """One agency of the network as it was when the transfer was accepted."""

    agency_id: str
    role: NetworkRole
    """Its role then: the offering agency was the lead."""


class TransferOut(BaseModel):
    """A transfer as the hub holds it."""

    transfer_id: str
    subject_token: str
    offered_by: str
    candidates: list[str]
    status: TransferStatus
    accepted_by: str | None
    offered_at: datetime
    accepted_at: datetime | None
    previous_network: list[PreviousMember] = []
    """Once accepted: the child's network as it was then (for the offering agency and the acceptor)."""

    @classmethod
    def from_model(cls, row: Transfer, previous: list[tuple[str, NetworkRole]] | None = None) -> Self:
        """Render a transfer (with the network as it was, if given)."""
        return cls(
            previous_network=[PreviousMember(agency_id=a, role=r) for a, r in previous or []],
            transfer_id=row.transfer_id,
            subject_token=row.subject_token,
            offered_by=row.offered_by,
            candidates=list(row.candidates),
            status=row.status,
            accepted_by=row.accepted_by,
            offered_at=row.offered_at,
            accepted_at=row.accepted_at,
        )


class AcceptedOut(TransferOut):
    """An accepted transfer: who led before (tell them), and the network as it now is."""

    previous_lead: str
    """The offering agency; its membership is closed. Send it ``TransferAccepted`` for the handover pack."""
    network: list[MemberOut]
    """The open memberships now, the acceptor (lead) first."""

    @classmethod
    def from_accepted(cls, accepted: Accepted) -> Self:
        """Render an acceptance."""
        base = TransferOut.from_model(accepted.transfer, list(accepted.previous_network)).model_dump()
        return cls(
            **base,
            previous_lead=str(accepted.previous_lead),
            network=[MemberOut.from_model(m) for m in accepted.network.members],
        )
