"""HTTP routes of the intake API: the triage desk's public key, and progress reports from the triage desk.

- ``GET /intake/key``: open; what the public form's browser code seals to.
- ``PUT /intake/key``: a hub operator, or an agency admin of the triage agency named in the body.
- ``POST /intake/referrals/{reference}/progress``: the triage agency itself (an agency assertion).

Every authorization decision is audited (``api.authz``), every change by the service (``intake.*``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from hub.auth.agency import AgencyCaller
from hub.auth.deps import require
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.deps import WRITE_ERRORS, error_responses
from hub.intake import service
from hub.intake.enums import ReferralStatus
from hub.intake.schemas import IntakeKeyIn, IntakeKeyOut, ProgressIn, ProgressOut
from onedoor.envelope.intake import b64url, unb64url
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.web import DbSession

router = APIRouter(prefix="/intake", tags=["intake"])

ReferencePath = Annotated[str, Path(pattern=r"^OD-[2-9A-Z]{8}$")]


async def _named_in_body(request: Request, principal: Principal) -> AgencyId | None:
    try:
        body = await request.json()  # already read and cached by FastAPI
    except ValueError:
        return None
    if not isinstance(body, dict) or "agency_id" not in body:
        return principal.agency  # refused as malformed (422) after authorization
    return principal.agency if body["agency_id"] == principal.agency else None


KeyManager = Annotated[
    Principal,
    Depends(require(Role.HUB_OPERATOR, Role.AGENCY_ADMIN, agency_in_body="agency_id", acting_for=_named_in_body)),
]
"""A hub operator, or an agency admin of the agency in the body."""


def _out(desk: service.TriageDesk) -> IntakeKeyOut:
    return IntakeKeyOut(agency=str(desk.agency), key_id=desk.key_id, public_key=b64url(desk.public_key))


@router.get(
    "/key",
    responses=error_responses(409),
    summary="The triage desk's intake public key (what the public form seals to)",
)
def get_key(session: DbSession) -> IntakeKeyOut:
    """The single active triage agency's intake key; 409 ``intake.no_triage_desk`` when there is none."""
    return _out(service.triage_desk(session))


@router.put(
    "/key",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Register a triage agency's intake public key (its agency admin, or a hub operator)",
)
def put_key(caller: KeyManager, body: IntakeKeyIn, session: DbSession) -> IntakeKeyOut:
    """Set the key; public referrals are sealed to it from the next page load."""
    try:
        raw = unb64url(body.public_key)
    except ValueError:
        raise ValidationFailed("intake.bad_public_key", "the public key is not base64url") from None
    return _out(service.register_key(session, body.agency_id, raw, datetime.now(UTC), caller.subject))


@router.post(
    "/referrals/{reference}/progress",
    responses=error_responses(401, 404),
    summary="Report a public referral's progress (the triage agency it went to)",
)
def report_progress(
    caller: AgencyCaller, reference: ReferencePath, body: ProgressIn, session: DbSession
) -> ProgressOut:
    """Set the status the referrer's private progress link shows: being handled, or closed."""
    referral = service.update_progress(
        session, caller.agency, reference, ReferralStatus(body.status), datetime.now(UTC)
    )
    return ProgressOut(
        reference=referral.reference, status=referral.status.value, status_updated_at=referral.status_updated_at
    )
