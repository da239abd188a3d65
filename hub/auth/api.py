"""``GET /auth/whoami`` and ``GET /auth/agency``: check a token or an agency assertion without changing anything."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from hub.auth.agency import AgencyCaller
from hub.auth.deps import CurrentPrincipal
from hub.auth.schemas import AgencyCallerOut, PrincipalOut
from hub.deps import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/whoami", responses=error_responses(401), summary="Whom the bearer token speaks for")
def whoami(principal: CurrentPrincipal) -> PrincipalOut:
    """The verified token's subject, roles, agency and expiry (the check is audited like any other)."""
    return PrincipalOut.from_principal(principal)


@router.get("/agency", responses=error_responses(401), summary="Which agency a connector's assertion proves")
def agency(caller: AgencyCaller) -> AgencyCallerOut:
    """The agency whose registered signing key signed the bearer assertion, and the hub's clock (audited)."""
    return AgencyCallerOut(agency=caller.agency, key_id=str(caller.key_id), server_time=datetime.now(UTC))
