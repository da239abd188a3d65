"""HTTP routes of the intake API: the triage desk's public key, and progress reports from the triage desk.

- ``GET /intake/key``: open; what the public form's browser code seals to.
- ``PUT /intake/key``: the triage agency itself, with its agency assertion (signed with the
  signing key the registry holds), for its own key only. No hub operator or admin token: a key
  the public form seals to is only ever proven by the agency that will open what is sealed.
- ``POST /intake/referrals/{reference}/progress``: the triage agency itself (an agency assertion).

Every authorization decision is audited (``api.authz``), every change by the service (``intake.*``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from hub.auth.agency import AgencyCaller
from hub.deps import WRITE_ERRORS, error_responses
from hub.intake import service
from hub.intake.enums import ReferralStatus
from hub.intake.schemas import IntakeKeyIn, IntakeKeyOut, ProgressIn, ProgressOut
from onedoor.envelope.intake import b64url, unb64url
from onedoor.errors import ValidationFailed
from onedoor.web import DbSession

router = APIRouter(prefix="/intake", tags=["intake"])

ReferencePath = Annotated[str, Path(pattern=r"^OD-[2-9A-Z]{8}$")]


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
    responses=error_responses(*WRITE_ERRORS, 409),
    summary="Register the calling triage agency's intake public key (its agency assertion)",
)
def put_key(caller: AgencyCaller, body: IntakeKeyIn, session: DbSession) -> IntakeKeyOut:
    """Set the caller's own key; public referrals are sealed to it from the next page load.

    409 ``intake.not_triage`` when the caller is not of kind triage.
    """
    try:
        raw = unb64url(body.public_key)
    except ValueError:
        raise ValidationFailed("intake.bad_public_key", "the public key is not base64url") from None
    return _out(service.register_key(session, caller.agency, raw, datetime.now(UTC), str(caller.agency)))


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
