"""The connector's REST API for referrals and triage: ``POST /referrals`` and ``/triage/referrals...``.

For the agency's own systems and ``onedoor referral submit`` / ``onedoor triage list|show|decide``.
Behind the same bearer token as the rest of the API. Referral bodies leave this process only
sealed, through the connector; a 422 names the field, never its value. Opening a referral and
every decision attempt are audited in the workbench's audit trail as ``api``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field

from connectors.triage.desk import TriageDesk
from connectors.workbench.audit import API
from connectors.workbench.store import Item
from onedoor.errors import Unavailable


class ReferralSent(BaseModel):
    """A referral on its way to the triage desk."""

    message_id: str
    recipient: str
    referral_id: str


class ItemOut(BaseModel):
    """A referral (or alert) in the inbox; ``body`` only when one item is asked for."""

    item_id: str
    kind: str
    source: str
    sender: str
    title: str
    reference: str | None
    urgency: str | None
    status: str
    received_at_ms: int
    decided_at_ms: int | None
    time_to_triage_ms: int | None
    decision: str | None
    decision_target: str | None
    decision_reason: str | None
    decided_by: str | None
    onward_message_id: str | None
    body: dict[str, Any] | None = None

    @classmethod
    def of(cls, item: Item, *, with_body: bool = False) -> ItemOut:
        """From the store's item."""
        return cls(
            item_id=item.item_id,
            kind=item.kind,
            source=item.source,
            sender=item.sender,
            title=item.title,
            reference=item.reference,
            urgency=item.urgency,
            status=item.status,
            received_at_ms=item.received_at_ms,
            decided_at_ms=item.decided_at_ms,
            time_to_triage_ms=item.time_to_triage_ms,
            decision=item.decision_kind,
            decision_target=item.decision_target,
            decision_reason=item.decision_reason,
            decided_by=item.decided_by,
            onward_message_id=item.onward_message_id,
            body=item.body if with_body else None,
        )


class ItemsOut(BaseModel):
    """Newest first."""

    items: list[ItemOut]


class DecisionIn(BaseModel):
    """A triage decision: ``intervention`` (``service`` required), ``intelligence`` or ``no-further-action``
    (``reason`` required)."""

    decision: str = Field(max_length=32, examples=["intervention"])
    service: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=4000)
    by: str = Field(default="api", max_length=64, description="Who decided, for the record")


def _desk(request: Request) -> TriageDesk:
    desk: TriageDesk | None = getattr(request.app.state.backend, "desk", None)
    if desk is None:
        raise Unavailable("connector.no_desk", "this connector runs no triage desk")
    return desk


ItemId = Annotated[str, Path(min_length=1, max_length=64)]
router = APIRouter()


@router.post("/referrals", tags=["referrals"], status_code=202)
async def submit_referral(request: Request, body: Annotated[dict[str, Any], Body()]) -> ReferralSent:
    """Send a MasterReferral (JSON) to the triage desk this agency's agreements allow.

    Errors: ``referral.invalid`` (names the field), ``referral.no_identifier``, ``referral.no_triage_desk``.
    """
    header = await _desk(request).submit(body)
    return ReferralSent(
        message_id=str(header.message_id), recipient=str(header.recipients[0]), referral_id=str(body.get("referral_id"))
    )


@router.get("/triage/referrals", tags=["triage"])
async def list_referrals(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ItemsOut:
    """Referrals in this agency's inbox, newest first."""
    return ItemsOut(items=[ItemOut.of(i) for i in _desk(request).store.items(kind="referral", limit=limit)])


@router.get("/triage/referrals/{item_id}", tags=["triage"])
async def show_referral(request: Request, item_id: ItemId) -> ItemOut:
    """One referral with its body (decrypted here; it never leaves the connector unsealed)."""
    desk = _desk(request)
    return ItemOut.of(await desk.opened(item_id, by=API), with_body=True)


@router.post("/triage/referrals/{item_id}/decision", tags=["triage"])
async def decide_referral(request: Request, item_id: ItemId, body: DecisionIn) -> ItemOut:
    """Record a triage decision and send its onward message under the agreements.

    Errors: ``triage.no_agreement`` (names the service; nothing sent), ``triage.reason_required``,
    ``triage.service_required``, ``triage.already_decided``.
    """
    # Audited (``triage.decide``) as ``api``: ``by`` is what the caller says, not who it proved to be.
    decided = await _desk(request).decide_entered(
        item_id, body.decision, body.service, body.reason, by=body.by, actor=API
    )
    return ItemOut.of(decided)
