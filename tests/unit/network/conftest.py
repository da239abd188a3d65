"""Agencies in the in-memory hub database, for the network and transfer service tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

import hub.agreements.models
import hub.network.models
import hub.transfers.models
from contracts.registry import service as registry
from hub.agencies.enums import AgencyKind, AgencyStatus
from hub.agencies.models import Agency
from hub.agreements import service as agreements
from hub.agreements.schemas import AgreementBody, AgreementPropose
from hub.audit.models import AuditEvent
from onedoor.ids import AgencyId, SubjectToken

MODELS = (hub.network.models, hub.transfers.models, hub.agreements.models)  # so the session fixture creates tables
CONTRACT = "test.network.Note"
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
    fields = [{"name": "note_id", "type": "string", "doc": "The note id.", "sensitivity": "operational"}]
    schema = {"type": "record", "name": "Note", "namespace": "test.network", "fields": fields}
    registry.register_version(session, CONTRACT, json.dumps(schema))
    session.flush()
    return session


def agree(session: Session, ident: str, *parties: AgencyId) -> None:
    """An agreement in force between ``parties`` (proposed, then approved by every party)."""
    body = {
        "id": ident,
        "parties": [f"agency:{p}" for p in parties],
        "contracts": [CONTRACT],
        "purposes": ["safeguarding-alert"],
        "provisions": [{"effect": "permit"}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2099-01-01",
    }
    row = agreements.propose(session, AgreementPropose(agreement=AgreementBody.model_validate(body)), by="test")
    for party in parties:
        agreements.approve(session, ident, row.version, agency=party, approver=f"admin@{party}", digest=row.digest)


def audit_rows(session: Session, kind: str) -> list[tuple[str | None, str, str | None]]:
    """``(actor, outcome, reason_code)`` of every audit row of ``kind``, oldest first."""
    rows = session.query(AuditEvent).filter(AuditEvent.kind == kind).order_by(AuditEvent.id)
    return [(r.actor, r.outcome, r.reason_code) for r in rows]
