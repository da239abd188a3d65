"""Agencies in the in-memory hub database, for the network and transfer service tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

import hub.network.models
import hub.transfers.models
from hub.agencies.enums import AgencyKind, AgencyStatus
from hub.agencies.models import Agency
from hub.audit.models import AuditEvent
from onedoor.ids import AgencyId, SubjectToken

MODELS = (hub.network.models, hub.transfers.models)  # so the session fixture creates their tables
CHILD = SubjectToken("st1_FAKEunitNetworkChild0001")
LEAD = AgencyId("lb-unit-borough-csc")
POLICE = AgencyId("unit-met-police")
CHARITY = AgencyId("unit-safe-charity")
NEW_CSC = AgencyId("unit-county-csc")
NEW_TEAM = AgencyId("unit-county-exploitation")
SUSPENDED = AgencyId("unit-suspended-csc")


@pytest.fixture
def agencies(session: Session) -> Session:
    """Every agency above registered and active, except ``SUSPENDED``."""
    now = datetime.now(UTC)
    for agency in (LEAD, POLICE, CHARITY, NEW_CSC, NEW_TEAM, SUSPENDED):
        status = AgencyStatus.SUSPENDED if agency == SUSPENDED else AgencyStatus.ACTIVE
        session.add(
            Agency(
                id=str(agency),
                display_name=f"{agency} (synthetic)",
                kind=AgencyKind.CHILDREN_SERVICES,
                status=status,
                created_at=now,
            )
        )
    session.flush()
    return session


def audit_rows(session: Session, kind: str) -> list[tuple[str | None, str, str | None]]:
    """``(actor, outcome, reason_code)`` of every audit row of ``kind``, oldest first."""
    rows = session.query(AuditEvent).filter(AuditEvent.kind == kind).order_by(AuditEvent.id)
    return [(r.actor, r.outcome, r.reason_code) for r in rows]
