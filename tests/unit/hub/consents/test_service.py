"""The consent store on an in-memory database: what each record makes of the engine's state, and every refusal.

A refused call must change nothing: no record, no override change, no ``consent.*`` audit row,
no change marked for the routers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

import hub.consents.models  # noqa: F401 - registers the consent tables in the metadata
from consent.model import to_ms
from consent.reasons import ReasonCode
from consent.subject import MAX_OVERRIDE, ConsentState, ConsentStatus, EmergencyOverride, judge_consent
from hub.agencies.enums import AgencyKind, AgencyStatus
from hub.agencies.models import Agency
from hub.audit.models import AuditEvent
from hub.consents import service
from hub.consents.enums import NotSoughtGround, OverrideGround, RecordedStatus
from hub.consents.models import ConsentOverride, ConsentRecord
from hub.consents.schemas import ConsentIn, OverrideIn, ReviewIn
from hub.policy.changes import Change, ChangeKind, announce_commits
from onedoor.db import Base, make_engine, make_session_factory
from onedoor.errors import Conflict, NotFound, OneDoorError, ValidationFailed

TOKEN = "st1_FAKEtokenForTestsOnly00"
OTHER = "st1_FAKEtokenForTestsOnly01"
MET = "met-police"
HACKNEY = "lb-hackney-csc"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CHANGES_KEY = "onedoor.policy_changes"  # hub.policy.changes keeps marked changes here until commit


@pytest.fixture
def db(session: Session) -> Session:
    """The in-memory session with two registered agencies."""
    for agency, kind in ((MET, AgencyKind.POLICE), (HACKNEY, AgencyKind.CHILDREN_SERVICES)):
        session.add(Agency(id=agency, display_name=agency, kind=kind, status=AgencyStatus.ACTIVE, created_at=T0))
    session.flush()
    return session


def consent(status: str, agency: str = MET, by: str = "pc1234", **extra: Any) -> ConsentIn:
    return ConsentIn.model_validate({"status": status, "agency_id": agency, "recorded_by": by, **extra})


def override_in(expires: datetime, starts: datetime | None = None, by: str = "pc1234", **extra: Any) -> OverrideIn:
    body = {"agency_id": MET, "recorded_by": by, "justification": "risk-of-significant-harm", "expires_at": expires}
    return OverrideIn.model_validate(body | ({"starts_at": starts} if starts else {}) | extra)


def footprint(session: Session) -> tuple[int, int, list[tuple[int, str | None]], list[str], list[Change]]:
    """Everything a refused call must leave as it was."""
    records = session.scalar(select(func.count()).select_from(ConsentRecord)) or 0
    overrides = session.scalar(select(func.count()).select_from(ConsentOverride)) or 0
    reviews = [(o.id, o.reviewed_by) for o in session.scalars(select(ConsentOverride).order_by(ConsentOverride.id))]
    kinds = [e.kind for e in session.scalars(select(AuditEvent).where(AuditEvent.kind.like("consent.%")))]
    return records, overrides, reviews, kinds, list(session.info.get(CHANGES_KEY, []))


def consent_rows(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.kind.like("consent.%")).order_by(AuditEvent.id)))


def refused_override(db: Session, at: datetime = T0) -> ConsentOverride:
    """A withdrawal at ``at``, then an unreviewed 24-hour override starting a minute later."""
    service.record(db, TOKEN, consent("withdrawn"), now=at)
    later = at + timedelta(minutes=1)
    return service.record_override(db, TOKEN, override_in(later + timedelta(hours=24)), now=later)


# --- statuses ---------------------------------------------------------------------------------


def test_nothing_recorded_is_the_engines_not_recorded_and_is_not_listed(db: Session) -> None:
    assert service.consent_state(db, TOKEN, T0) == ConsentState.not_recorded()
    assert service.consent_states(db, T0) == {}
    assert service.history(db, TOKEN).records == []


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("given", {}, ConsentState.given(T0, "pc1234")),
        ("refused", {}, ConsentState.refused(T0, "pc1234")),
        ("withdrawn", {}, ConsentState.withdrawn(T0, "pc1234")),
        (
            "not-sought-risk",
            {"justification": "would-prejudice-protection", "reference": "CASE-2026/0042"},
            ConsentState.not_sought_risk(
                T0,
                justification=NotSoughtGround.WOULD_PREJUDICE_PROTECTION.justification,
                recorded_by="pc1234",
            ),
        ),
    ],
    ids=["consent given", "consent refused", "consent withdrawn", "not sought: asking would prejudice protection"],
)
def test_each_status_becomes_the_engines_state(
    db: Session, status: str, extra: dict[str, str], expected: ConsentState
) -> None:
    row = service.record(db, TOKEN, consent(status, **extra), now=T0)
    assert (row.status, row.subject_token, row.agency_id, row.recorded_at) == (status, TOKEN, MET, T0)
    assert service.consent_state(db, TOKEN, T0) == expected
    assert service.consent_states(db, T0) == {TOKEN: expected}


def test_the_not_sought_justification_is_the_ground_with_its_legal_reference() -> None:
    text = NotSoughtGround.WOULD_PREJUDICE_PROTECTION.justification
    assert text.startswith("would-prejudice-protection (")
    assert "Sch. 1 para 18(2)(c)" in text
    assert "Sch. 8 para 4(2)(c)" in text
    assert "Sch. 1 para 18(2)(a)" in NotSoughtGround.CANNOT_BE_GIVEN.justification


def test_recordable_statuses_are_the_engines_except_not_recorded() -> None:
    assert {s.engine for s in RecordedStatus} == set(ConsentStatus) - {ConsentStatus.NOT_RECORDED}


def test_the_latest_record_wins_whichever_agency_recorded_it(db: Session) -> None:
    service.record(db, TOKEN, consent("refused"), now=T0)
    service.record(db, TOKEN, consent("given", agency=HACKNEY, by="sw-0042"), now=T0 + timedelta(hours=1))
    assert service.consent_state(db, TOKEN, T0 + timedelta(hours=2)) == ConsentState.given(
        T0 + timedelta(hours=1), "sw-0042"
    )
    assert service.history(db, TOKEN).agencies() == {MET, HACKNEY}


def test_records_at_the_same_instant_are_ordered_by_id(db: Session) -> None:
    service.record(db, TOKEN, consent("given"), now=T0)
    service.record(db, TOKEN, consent("refused"), now=T0)
    assert service.consent_state(db, TOKEN, T0).status is ConsentStatus.REFUSED


def test_a_withdrawal_after_consent_stops_sharing_at_once(db: Session) -> None:
    service.record(db, TOKEN, consent("given"), now=T0)
    service.record(db, TOKEN, consent("withdrawn"), now=T0 + timedelta(minutes=5))
    state = service.consent_state(db, TOKEN, T0 + timedelta(minutes=5))
    assert state == ConsentState.withdrawn(T0 + timedelta(minutes=5), "pc1234")
    at = to_ms(T0 + timedelta(minutes=6))
    assert judge_consent(False, state, at) == (False, (ReasonCode.CONSENT_WITHDRAWN,))
    assert judge_consent(True, state, at)[0] is False


def test_states_of_every_token_with_records(db: Session) -> None:
    service.record(db, TOKEN, consent("given"), now=T0)
    service.record(db, OTHER, consent("refused", agency=HACKNEY), now=T0)
    states = service.consent_states(db, T0)
    assert {t: s.status for t, s in states.items()} == {TOKEN: ConsentStatus.GIVEN, OTHER: ConsentStatus.REFUSED}


# --- refusals of records ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "body", "code"),
    [
        (TOKEN, {"status": "not-sought-risk"}, "consent.justification_required"),
        (
            TOKEN,
            {"status": "given", "justification": "consent-cannot-be-given"},
            "consent.justification_not_applicable",
        ),
        (TOKEN, {"status": "given", "agency": "no-such-agency"}, "consent.unknown_agency"),
        ("Jane Doe", {"status": "given"}, "subject_token.invalid"),
        ("st1_short", {"status": "given"}, "subject_token.invalid"),
    ],
    ids=[
        "not sought without a ground",
        "a ground with consent given",
        "an agency that is not registered",
        "a name instead of a token",
        "a token too short",
    ],
)
def test_a_bad_record_is_refused_and_changes_nothing(db: Session, token: str, body: dict[str, str], code: str) -> None:
    before = footprint(db)
    with pytest.raises(ValidationFailed) as refused:
        service.record(db, token, consent(**body), now=T0)
    assert refused.value.code == code
    assert refused.value.http_status == 422
    assert footprint(db) == before


# --- overrides --------------------------------------------------------------------------------


def test_an_unreviewed_override_is_not_given_to_the_engine(db: Session) -> None:
    row = refused_override(db)
    assert row.reviewed_by is None
    now = T0 + timedelta(hours=1)
    state = service.consent_state(db, TOKEN, now)
    assert state.override is None
    assert judge_consent(False, state, to_ms(now)) == (False, (ReasonCode.CONSENT_WITHDRAWN,))


def test_a_reviewed_override_is_given_to_the_engine_until_it_expires(db: Session) -> None:
    row = refused_override(db)
    reviewed_at = T0 + timedelta(minutes=10)
    service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by="dci-0007"), now=reviewed_at)
    assert (row.reviewed_by, row.reviewed_at) == ("dci-0007", reviewed_at)
    state = service.consent_state(db, TOKEN, reviewed_at)
    assert state.override == EmergencyOverride(
        justification=OverrideGround.SIGNIFICANT_HARM.justification,
        recorded_by="pc1234",
        reviewed_by="dci-0007",
        starts_at=row.starts_at,
        expires_at=row.expires_at,
    )
    assert judge_consent(False, state, to_ms(reviewed_at)) == (True, (ReasonCode.CONSENT_OVERRIDDEN,))
    after = row.expires_at + timedelta(seconds=1)
    assert judge_consent(False, state, to_ms(after)) == (
        False,
        (ReasonCode.CONSENT_WITHDRAWN, ReasonCode.OVERRIDE_EXPIRED),
    )
    assert service.consent_states(db, reviewed_at)[TOKEN] == state


def test_a_later_withdrawal_supersedes_a_reviewed_override(db: Session) -> None:
    row = refused_override(db)
    service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by="dci-0007"), now=T0 + timedelta(minutes=2))
    again = T0 + timedelta(hours=2)
    service.record(db, TOKEN, consent("refused"), now=again)
    state = service.consent_state(db, TOKEN, again)
    assert state.override is not None
    assert judge_consent(False, state, to_ms(again)) == (
        False,
        (ReasonCode.CONSENT_REFUSED, ReasonCode.OVERRIDE_SUPERSEDED),
    )


def test_an_override_of_exactly_72_hours_is_accepted(db: Session) -> None:
    service.record(db, TOKEN, consent("refused"), now=T0)
    row = service.record_override(db, TOKEN, override_in(T0 + MAX_OVERRIDE), now=T0)
    assert (row.starts_at, row.expires_at, row.agency_id) == (T0, T0 + timedelta(hours=72), MET)


@pytest.mark.parametrize(
    ("starts", "expires"),
    [
        (None, T0 + MAX_OVERRIDE + timedelta(seconds=1)),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=1)),
        (T0 - timedelta(hours=1), T0 + timedelta(hours=1)),
    ],
    ids=["longer than 72 hours", "empty period", "expires before it starts", "starts in the past"],
)
def test_an_override_outside_its_time_box_is_refused(db: Session, starts: datetime | None, expires: datetime) -> None:
    service.record(db, TOKEN, consent("refused"), now=T0)
    before = footprint(db)
    with pytest.raises(ValidationFailed) as refused:
        service.record_override(db, TOKEN, override_in(expires, starts), now=T0)
    assert refused.value.code == "consent.invalid_override"
    assert footprint(db) == before


@pytest.mark.parametrize("status", [None, "given", "not-sought-risk"], ids=["nothing recorded", "given", "not sought"])
def test_only_a_refusal_or_withdrawal_can_be_overridden(db: Session, status: str | None) -> None:
    if status is not None:
        extra = {"justification": "consent-cannot-be-given"} if status == "not-sought-risk" else {}
        service.record(db, TOKEN, consent(status, **extra), now=T0)
    before = footprint(db)
    with pytest.raises(Conflict) as refused:
        service.record_override(db, TOKEN, override_in(T0 + timedelta(hours=1)), now=T0)
    assert refused.value.code == "consent.nothing_to_override"
    assert footprint(db) == before


@pytest.mark.parametrize("reviewer", ["pc1234", "PC1234"], ids=["same login", "same login in capitals"])
def test_the_recorder_cannot_review_their_own_override(db: Session, reviewer: str) -> None:
    row = refused_override(db)
    before = footprint(db)
    with pytest.raises(ValidationFailed) as refused:
        service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by=reviewer), now=T0 + timedelta(minutes=2))
    assert refused.value.code == "consent.same_reviewer"
    assert footprint(db) == before
    assert service.consent_state(db, TOKEN, T0 + timedelta(minutes=2)).override is None


def test_reviewing_twice_is_refused(db: Session) -> None:
    row = refused_override(db)
    service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by="dci-0007"), now=T0 + timedelta(minutes=2))
    before = footprint(db)
    with pytest.raises(Conflict) as refused:
        service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by="sgt-0099"), now=T0 + timedelta(minutes=3))
    assert (refused.value.code, refused.value.http_status) == ("consent.already_reviewed", 409)
    assert footprint(db) == before
    assert row.reviewed_by == "dci-0007"


def test_an_expired_override_cannot_be_reviewed(db: Session) -> None:
    row = refused_override(db)
    before = footprint(db)
    with pytest.raises(Conflict) as refused:
        service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by="dci-0007"), now=row.expires_at)
    assert refused.value.code == "consent.override_expired"
    assert footprint(db) == before


@pytest.mark.parametrize("which", ["no such id", "another token's override"])
def test_reviewing_an_override_that_is_not_there(db: Session, which: str) -> None:
    row = refused_override(db)
    token, override_id = (TOKEN, row.id + 100) if which == "no such id" else (OTHER, row.id)
    before = footprint(db)
    with pytest.raises(NotFound) as refused:
        service.review_override(db, token, override_id, ReviewIn(reviewed_by="dci-0007"), now=T0)
    assert (refused.value.code, refused.value.http_status) == ("consent.override_not_found", 404)
    assert footprint(db) == before


# --- audit and change announcements -------------------------------------------------------------


def test_every_change_is_audited_with_the_subject_token_and_no_free_text(db: Session) -> None:
    service.record(
        db, TOKEN, consent("not-sought-risk", justification="would-prejudice-protection", reference="CASE-77"), now=T0
    )
    row = refused_override(db, at=T0 + timedelta(hours=1))
    service.review_override(db, TOKEN, row.id, ReviewIn(reviewed_by="dci-0007"), now=T0 + timedelta(hours=2))
    rows = consent_rows(db)
    assert [(r.kind, r.outcome, r.actor, r.subject_token) for r in rows] == [
        ("consent.record", "not-sought-risk", "pc1234", TOKEN),
        ("consent.record", "withdrawn", "pc1234", TOKEN),
        ("consent.override", "pending-review", "pc1234", TOKEN),
        ("consent.review", "reviewed", "dci-0007", TOKEN),
    ]
    assert rows[0].detail == "record_id=1; agency_id=met-police; justification=would-prejudice-protection"
    assert rows[2].source == rows[3].source == f"consent:override:{row.id}"
    assert all("CASE-77" not in (r.detail or "") and TOKEN not in (r.detail or "") for r in rows)
    assert all(r.at is not None and r.reason_code is None and r.message_id is None for r in rows)
    assert db.info[CHANGES_KEY] == [(ChangeKind.CONSENT, TOKEN)]


def _given_then_bad_record(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        service.record(session, OTHER, consent("given"), now=T0)
        service.record(session, OTHER, consent("not-sought-risk"), now=T0)


def test_a_committed_change_is_announced_and_a_refused_one_is_not() -> None:
    engine = make_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    published: list[list[Change]] = []
    announce_commits(factory, published.append)
    try:
        with factory() as session, session.begin():
            session.add(
                Agency(id=MET, display_name=MET, kind=AgencyKind.POLICE, status=AgencyStatus.ACTIVE, created_at=T0)
            )
        assert published == []
        with factory() as session, session.begin():
            service.record(session, TOKEN, consent("withdrawn"), now=T0)
            assert published == [], "nothing is announced before the commit"
        assert published == [[(ChangeKind.CONSENT, TOKEN)]]
        with pytest.raises(OneDoorError):
            _given_then_bad_record(factory)
        assert published == [[(ChangeKind.CONSENT, TOKEN)]], "a rolled-back change is never announced"
        with factory() as session:
            assert service.consent_state(session, OTHER, T0) == ConsentState.not_recorded()
    finally:
        engine.dispose()
