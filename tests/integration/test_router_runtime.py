"""The router's database side on SQLite and on a real PostgreSQL: tables, audit rows, replay window."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import db
from hub.agencies import service as agencies
from hub.agencies.enums import AgencyKind
from hub.agencies.schemas import AgencyCreate
from hub.agreements import service as agreements
from hub.agreements.schemas import AgreementBody, AgreementPropose
from hub.audit.models import AuditEvent
from hub.consents import service as consents
from hub.consents.schemas import ConsentIn
from hub.router.decide import Delivered, Limits, Rejected, decide
from hub.router.runtime import audit_sink, replay_window_from_audit, seed_contracts, tables_loader
from hub.router.service import _audit_row
from onedoor.db import make_engine, make_session_factory
from onedoor.envelope.window import MessageWindow
from tests.factories import World

pytestmark = pytest.mark.integration

ISA = "isa-test-police-testborough"
TOKEN = "st1_FAKEtokenForTestsOnly00"
LIMITS = Limits(max_envelope_bytes=1 << 20, max_ttl_ms=86_400_000, clock_skew_ms=60_000)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_router_tables_audit_and_replay_window_round_trip(database_url: str) -> None:
    db.migrate(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    world = World.make()
    with factory() as session, session.begin():
        for keys in world.agencies:
            agencies.register(
                session,
                AgencyCreate(
                    id=keys.agency,
                    display_name=f"{keys.agency} (synthetic)",
                    kind=AgencyKind.CHARITY,
                    signing_public_key=_b64(keys.signing_public),
                    encryption_public_key=_b64(keys.encryption_public),
                ),
            )
    seed_contracts(factory)
    with factory() as session, session.begin():
        _agree(session, world)

    load = tables_loader(factory, world.hub)
    tables = load()
    assert set(tables.agencies) == {str(k.agency) for k in world.agencies}
    assert ("onedoor.referral.MasterReferral", 1) in tables.contracts

    value = world.seal(world.police, [world.council], agreement=ISA)
    decision = decide(
        value,
        owner=str(world.police.agency),
        position="p.out.test-county-police:0:7",
        now_ms=int(time.time() * 1000),
        tables=tables,
        replay=MessageWindow(),
        limits=LIMITS,
    )
    assert isinstance(decision, Delivered)
    assert (decision.agreement_id, decision.agreement_version) == (ISA, 1)
    audit_sink(factory)([_audit_row(decision, "p.out.test-county-police:0:7", datetime.now(UTC))])

    with factory() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.message_id == decision.message_id)))
    assert [(r.kind, r.source, r.agreement_id) for r in rows] == [
        ("route.delivered", "p.out.test-county-police:0:7", ISA)
    ]

    # After a restart the window knows the id: the same record again is redelivery, elsewhere a replay.
    window = replay_window_from_audit(factory)
    assert window.admit(decision.message_id, "p.out.test-county-police:0:7", decision.expires_at_ms)
    assert not window.admit(decision.message_id, "p.out.test-county-police:0:8", decision.expires_at_ms)

    # Consent withdrawn for this young person: the next load refuses the next message about them.
    with factory() as session, session.begin():
        consents.record(
            session,
            TOKEN,
            ConsentIn.model_validate(
                {"status": "withdrawn", "agency_id": str(world.council.agency), "recorded_by": "staff-0042"}
            ),
        )
    again = decide(
        world.seal(world.police, [world.council], agreement=ISA),
        owner=str(world.police.agency),
        position="p.out.test-county-police:0:9",
        now_ms=int(time.time() * 1000),
        tables=load(),
        replay=MessageWindow(),
        limits=LIMITS,
    )
    assert isinstance(again, Rejected)
    assert again.reason == "consent.withdrawn"

    # The agreement revoked: refused for everybody, with the agreement's own reason.
    with factory() as session, session.begin():
        agreements.revoke(session, ISA, by="admin@test-county-police")
    value = world.seal(world.police, [world.council], agreement=ISA, subject_token=None)
    revoked = decide(
        value,
        owner=str(world.police.agency),
        position="p.out.test-county-police:0:10",
        now_ms=int(time.time() * 1000),
        tables=load(),
        replay=MessageWindow(),
        limits=LIMITS,
    )
    assert isinstance(revoked, Rejected)
    assert revoked.reason == "agreement.revoked"
    engine.dispose()


def _agree(session: Session, world: World) -> None:
    police, council = str(world.police.agency), str(world.council.agency)
    body = AgreementBody.model_validate(
        {
            "id": ISA,
            "parties": [f"agency:{police}", f"agency:{council}"],
            "contracts": ["onedoor.referral.MasterReferral"],
            "purposes": ["safeguarding-referral"],
            "provisions": [{"effect": "permit", "access_level": "limited"}],
            "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
            "retention_days": 365,
            "review_date": "2030-01-01",
        }
    )
    row = agreements.propose(session, AgreementPropose(agreement=body), by=f"admin@{police}")
    for agency in (world.police.agency, world.council.agency):
        agreements.approve(session, ISA, row.version, agency=agency, approver=f"admin@{agency}", digest=row.digest)
