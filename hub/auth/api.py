"""``GET /auth/whoami``: check a token against this hub without changing anything."""

from __future__ import annotations

from fastapi import APIRouter

from hub.auth.deps import CurrentPrincipal
from hub.auth.schemas import PrincipalOut
from hub.deps import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/whoami", responses=error_responses(401), summary="Whom the bearer token speaks for")
def whoami(principal: CurrentPrincipal) -> PrincipalOut:
    """The verified token's subject, roles, agency and expiry (the check is audited like any other)."""
    return PrincipalOut.from_principal(principal)
