"""Which principal may act on which target: a pure decision, audited by ``hub.auth.deps``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hub.auth.roles import AGENCY_SCOPED, Role
from hub.auth.tokens import Principal
from onedoor.ids import AgencyId

FORBIDDEN: Final = "auth.forbidden"
"""The one code every refusal of a valid token carries, whatever the reason, so a 403 never
tells an agency admin whether another agency exists."""


@dataclass(frozen=True, slots=True)
class AuthzDecision:
    """Whether a principal may make a request, and why, in words for the audit log."""

    permitted: bool
    reason_code: str | None
    """``None`` on permit; ``auth.forbidden`` on deny."""
    explanation: str
    """A short sentence naming the role relied on or missing; never token material."""


def _permit(explanation: str) -> AuthzDecision:
    return AuthzDecision(permitted=True, reason_code=None, explanation=explanation)


def _deny(explanation: str) -> AuthzDecision:
    return AuthzDecision(permitted=False, reason_code=FORBIDDEN, explanation=explanation)


def authorize(principal: Principal, allowed: frozenset[Role], agency: AgencyId | None) -> AuthzDecision:
    """Decide whether ``principal`` may act on ``agency`` (``None``: no agency) where ``allowed`` roles may.

    An empty ``allowed`` admits any authenticated principal. Agency-scoped roles admit only when
    ``agency`` is the principal's own agency.
    """
    if not allowed:
        return _permit("any authenticated caller")
    global_roles = (principal.roles & allowed) - AGENCY_SCOPED
    if global_roles:
        return _permit(f"permitted as {', '.join(sorted(global_roles))}")
    if Role.AGENCY_ADMIN in allowed and principal.has(Role.AGENCY_ADMIN):
        if agency is not None and agency == principal.agency:
            return _permit(f"permitted as agency-admin of {agency}")
        return _deny(f"an agency-admin of {principal.agency} acts only on its own agency")
    return _deny(f"needs {' or '.join(sorted(allowed))}")


def list_scope(roles: frozenset[Role], agency: AgencyId | None) -> AgencyId | None:
    """Whose records a list shows: an agency admin (only) sees its own agency's; ``None``, every agency's."""
    return agency if roles <= {Role.AGENCY_ADMIN} else None
