"""What the auth routes return."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from hub.agencies.schemas import AgencyIdField
from hub.auth.roles import Role
from hub.auth.tokens import Principal


class PrincipalOut(BaseModel):
    """Whom a token speaks for, as the hub understood it."""

    subject: str
    roles: list[Role]
    agency: AgencyIdField | None
    """The agency an agency-admin administers."""
    token_id: str | None
    expires_at: datetime

    @classmethod
    def from_principal(cls, principal: Principal) -> PrincipalOut:
        """The response form of ``principal``."""
        return cls(
            subject=principal.subject,
            roles=sorted(principal.roles),
            agency=principal.agency,
            token_id=principal.token_id,
            expires_at=principal.expires_at,
        )


class AgencyCallerOut(BaseModel):
    """The agency a connector's assertion proved, and the key that signed it."""

    agency: AgencyIdField
    key_id: str
    """The registered signing key the assertion was verified with."""
    server_time: datetime
    """The hub's clock, so a connector can measure its skew."""
