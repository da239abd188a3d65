"""SQL event feeds deriving the subject token from names and dates of birth, on real SQLite and PostgreSQL.

A police force and a council record the same synthetic child differently (upper case, a hyphen or a
space, a DATE column or day-first text): both adapters derive the SAME token under the federation's
matching key, so the hub keys one consent record and one network for the child. A row whose
identifiers are missing is passed over and logged by its key, never its values; a feed asking to
derive without a key, or naming a column the table lacks, is refused at start.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Column, Date, DateTime, Integer, MetaData, String, Table, create_engine

from connectors.adapters.base import AdapterContext, OutboundRequest
from connectors.adapters.sql import SqlAdapter, factory
from connectors.adapters.sql.events import EVENT_SKIPPED, UNDERIVABLE_SUBJECT
from connectors.identity import Identifiers, MatchingKey
from connectors.identity.subject import subject_token
from connectors.triage.referral import ALERT
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, SubjectToken

pytestmark = pytest.mark.integration

KEY = MatchingKey(b"synthetic-test-matching-key-0001" * 2)
POLICE = AgencyId("test-county-police")
COUNCIL = AgencyId("lb-it-borough-csc")
MOMENT = dt.datetime(2026, 6, 1, 21, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def agency_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database holding both agencies' event tables: a SQLite file or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'agencies.sqlite3'}"
    return str(request.getfixturevalue("postgres_database_url"))


def _tables(url: str) -> tuple[Table, Table]:
    meta = MetaData()
    police = Table(
        "missing_persons",
        meta,
        Column("id", Integer, primary_key=True),
        Column("alert_uuid", String(36), nullable=False),
        Column("forename", String(60)),
        Column("surname", String(60)),
        Column("date_of_birth", Date),
        Column("reported_at", DateTime, nullable=False),
    )
    council = Table(
        "child_episodes",
        meta,
        Column("episode_no", Integer, primary_key=True),
        Column("episode_uuid", String(36), nullable=False),
        Column("FirstNames", String(60)),  # mixed case: quoted by the dialect on PostgreSQL
        Column("family_name", String(60)),
        Column("dob_text", String(10)),  # day-first text, as a council export has it
        Column("opened_at", DateTime, nullable=False),
    )
    engine = create_engine(url)
    meta.create_all(engine)
    engine.dispose()
    return police, council


def _insert(url: str, table: Table, *rows: dict[str, Any]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for row in rows:
            conn.execute(table.insert().values(**row))
    engine.dispose()


def _feed(table: str, key: str, alert: str, at: str, derive: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "missing",
        "table": table,
        "watermark": key,
        "key": key,
        "start": "beginning",
        "contract": str(ALERT),
        "recipients": ["lb-it-other-csc"],
        "purpose": "safeguarding-alert",
        "subject_token": {"derive": derive},
        "body": {
            "alert_id": alert,
            "kind": {"value": "MISSING_EPISODE"},
            "occurred_at": at,
            "reported_at": at,
        },
    }


POLICE_FEED = _feed(
    "missing_persons",
    "id",
    "alert_uuid",
    "reported_at",
    {"given_name": "forename", "family_name": "surname", "date_of_birth": "date_of_birth"},
)
COUNCIL_FEED = _feed(
    "child_episodes",
    "episode_no",
    "episode_uuid",
    "opened_at",
    {"given_name": "FirstNames", "family_name": "family_name", "date_of_birth": "dob_text"},
)


def _adapter(
    url: str, tmp_path: Path, agency: AgencyId, feed: dict[str, Any], key: MatchingKey | None = KEY
) -> SqlAdapter:
    data = tmp_path / str(agency)
    context = AdapterContext(agency, data, tmp_path, key)
    return factory(f"{agency}-records", {"url": url, "events": [feed]}, context)


async def _poll(adapter: SqlAdapter) -> list[OutboundRequest]:
    sent: list[OutboundRequest] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request)

    try:
        await adapter.poll_events(outbound)
    finally:
        await adapter.close()
    return sent


async def test_two_agencies_derive_the_same_token_for_the_same_child(agency_db: str, tmp_path: Path) -> None:
    police, council = _tables(agency_db)
    _insert(
        agency_db,
        police,
        {
            "id": 1,
            "alert_uuid": str(uuid.UUID(int=1)),
            "forename": "TESTY",
            "surname": "MCFAKEFACE-EXAMPLE",
            "date_of_birth": dt.date(2010, 3, 14),
            "reported_at": MOMENT,
        },
        {
            "id": 2,
            "alert_uuid": str(uuid.UUID(int=2)),
            "forename": "Synthia",
            "surname": "Example",
            "date_of_birth": dt.date(2011, 2, 1),
            "reported_at": MOMENT,
        },
    )
    _insert(
        agency_db,
        council,
        {
            "episode_no": 10,
            "episode_uuid": str(uuid.UUID(int=10)),
            "FirstNames": "Testy Marie",
            "family_name": "McFakeface Example",
            "dob_text": "14/03/2010",
            "opened_at": MOMENT,
        },
    )
    from_police = await _poll(_adapter(agency_db, tmp_path, POLICE, POLICE_FEED))
    from_council = await _poll(_adapter(agency_db, tmp_path, COUNCIL, COUNCIL_FEED))

    expected = subject_token(KEY, Identifiers.parse("Testy", "McFakeface-Example", "2010-03-14"))
    assert [r.subject_token for r in from_police] == [
        str(expected),
        str(subject_token(KEY, Identifiers.parse("Synthia", "Example", "2011-02-01"))),
    ]
    [council_alert] = from_council
    assert council_alert.subject_token == from_police[0].subject_token, "one child, one token, two agencies"
    assert SubjectToken.pattern.fullmatch(council_alert.subject_token or "")
    # The Alert's own subject_token field carries the derived token too (the contract requires it).
    assert council_alert.body["subject_token"] == council_alert.subject_token
    assert from_police[0].body["alert_id"] == str(uuid.UUID(int=1))
    assert council_alert.source == f"{COUNCIL}-records:missing:10"


async def test_a_row_without_a_date_of_birth_is_passed_over_and_logged_by_its_key(
    agency_db: str, tmp_path: Path
) -> None:
    police, _ = _tables(agency_db)
    _insert(
        agency_db,
        police,
        {
            "id": 1,
            "alert_uuid": str(uuid.UUID(int=1)),
            "forename": "Fakey",
            "surname": "Testperson",
            "date_of_birth": None,
            "reported_at": MOMENT,
        },
        {
            "id": 2,
            "alert_uuid": str(uuid.UUID(int=2)),
            "forename": "Fakey",
            "surname": "Testperson",
            "date_of_birth": dt.date(2012, 5, 6),
            "reported_at": MOMENT,
        },
    )
    with structlog.testing.capture_logs() as logs:
        sent = await _poll(_adapter(agency_db, tmp_path, POLICE, POLICE_FEED))
    assert [r.source for r in sent] == [f"{POLICE}-records:missing:2"]
    [skipped] = [entry for entry in logs if entry["event"] == EVENT_SKIPPED]
    assert (skipped["key"], skipped["code"]) == ("1", UNDERIVABLE_SUBJECT)
    assert "Fakey" not in str(logs)
    assert "Testperson" not in str(logs)


async def test_a_feed_that_derives_needs_the_matching_key_and_known_columns(agency_db: str, tmp_path: Path) -> None:
    _tables(agency_db)
    with pytest.raises(ValidationFailed) as no_key:
        _adapter(agency_db, tmp_path, POLICE, POLICE_FEED, key=None)
    assert no_key.value.code == "adapter.sql.no_matching_key"

    wrong = dict(POLICE_FEED, subject_token={"derive": {**POLICE_FEED["subject_token"]["derive"], "given_name": "fn"}})
    with pytest.raises(ValidationFailed) as unknown:
        _adapter(agency_db, tmp_path, POLICE, wrong)
    assert unknown.value.code == "adapter.sql.unknown_column"
    assert "'fn'" in unknown.value.message

    incomplete = dict(POLICE_FEED, subject_token={"derive": {"given_name": "forename", "family_name": "surname"}})
    with pytest.raises(ValidationFailed) as missing:
        _adapter(agency_db, tmp_path, POLICE, incomplete)
    assert missing.value.code == "adapter.invalid_options"
