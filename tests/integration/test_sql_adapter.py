"""The SQL adapter against real databases (a SQLite file and a real PostgreSQL server).

The agency's "existing database" is the synthetic council case system (``connectors.reference``),
read and written through its shipped mapping:

1. its status records come from the ``onedoor_status`` view, codes mapped to flags and NRM stages;
2. a mapping naming a table, column or field that does not exist is refused at start, by name;
3. a received referral or alert is written back once (a redelivery adds no second row);
4. a message that cannot be mapped is refused with a code and nothing at all is written;
5. (PostgreSQL) the database refusing connections is ``DeliveryRetry``; once back, the message goes in;
6. new case events (rows after the stored watermark) become outbound Alerts, once each, across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, func, select, text
from sqlalchemy.engine import make_url

from connectors.adapters.base import AdapterContext, DeliveryRefused, DeliveryRetry, OutboundRequest
from connectors.adapters.sql import SqlAdapter, factory
from connectors.reference import council
from connectors.reference.seed import mapping_text, seed_database
from connectors.status.messages import NrmStage, StatusFlag
from connectors.synthetic import alert, referral
from connectors.triage.referral import ALERT, REFERRAL
from onedoor.errors import Unavailable, ValidationFailed
from onedoor.ids import AgencyId
from tests.unit.triage.world import received

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 6, 1)
COUNCIL = AgencyId("lb-it-borough-csc")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def agency_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The council's case system, seeded with 20 synthetic children: a SQLite file or a PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'council.sqlite3'}"
    else:
        url = str(request.getfixturevalue("postgres_database_url"))
    seed_database("council", url, count=20, seed=5, as_of=AS_OF)
    return url


def _options(url: str, **changes: Any) -> dict[str, Any]:
    options: dict[str, Any] = yaml.safe_load(mapping_text("council"))["adapters"][0]["options"]
    options["url"] = url
    options.update(changes)
    return options


def _adapter(url: str, tmp_path: Path, options: dict[str, Any] | None = None) -> SqlAdapter:
    context = AdapterContext(COUNCIL, tmp_path, tmp_path)
    return factory("council-case-system", options or _options(url), context)


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(text(table))).scalar_one())
    finally:
        engine.dispose()


def _referral(**changes: Any) -> dict[str, Any]:
    body = referral(3)
    body.update(changes)
    return body


async def test_status_records_come_from_the_view_with_codes_mapped(agency_db: str, tmp_path: Path) -> None:
    adapter = _adapter(agency_db, tmp_path)
    try:
        records = {r.record_reference: r for r in adapter.status_records()}
    finally:
        await adapter.close()

    assert len(records) == 20
    assert all(r.identifiers.family_name.startswith("Fake-") for r in records.values())
    rows = council.rows(20, seed=5, as_of=AS_OF)
    for child in rows["children"]:
        record = records[child["lcs_ref"]]
        assert record.identifiers.date_of_birth == child["date_of_birth"]
        assert record.case_open is (child["case_status"] == "OPEN")
        assert record.lead_professional is not None
        assert record.lead_professional.team == child["team"]
    current = {p["person_id"]: p["plan_type"] for p in rows["plans"] if p["end_date"] is None}
    codes = {"CP": StatusFlag.CHILD_PROTECTION_PLAN, "CIN": StatusFlag.CHILD_IN_NEED, "LAC": StatusFlag.LOOKED_AFTER}
    for person, plan in current.items():
        assert codes[plan] in records[f"LCS-{person:06d}"].flags
    stages = {"RG_POS": NrmStage.REASONABLE_GROUNDS_POSITIVE, "CG_POS": NrmStage.CONCLUSIVE_GROUNDS_POSITIVE}
    stages |= {"PENDING": NrmStage.REFERRED_AWAITING_DECISION, "RG_NEG": NrmStage.REASONABLE_GROUNDS_NEGATIVE}
    stages |= {"CG_NEG": NrmStage.CONCLUSIVE_GROUNDS_NEGATIVE}
    for nrm in rows["nrm_referrals"]:
        assert records[f"LCS-{nrm['person_id']:06d}"].nrm_stage == stages[nrm["outcome"]]
    never_referred = {c["person_id"] for c in rows["children"]} - {n["person_id"] for n in rows["nrm_referrals"]}
    assert all(records[f"LCS-{p:06d}"].nrm_stage == NrmStage.NOT_KNOWN for p in never_referred)


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        pytest.param(
            {"write": [{"contract": str(REFERRAL), "table": "contacts",
                        "columns": {"child_first_name": "child.given_name"}}]},
            "adapter.sql.unknown_column",
            ("contacts", "child_first_name"),
            id="a written column the table does not have",
        ),
        pytest.param(
            {"status": {"table": "onedoor_status", "columns": {
                "record_reference": "lcs_ref", "given_name": "first_name", "family_name": "surname",
                "date_of_birth": "date_of_birth"}}},
            "adapter.sql.unknown_column",
            ("onedoor_status", "first_name"),
            id="a status column the view does not have",
        ),
        pytest.param(
            {"write": [{"contract": str(ALERT), "table": "alerts_in", "columns": {"alert_id": "alert_id"}}]},
            "adapter.sql.unknown_table",
            ("alerts_in",),
            id="a table the database does not have",
        ),
        pytest.param(
            {"write": [{"contract": str(ALERT), "table": "partner_alerts", "columns": {"alert_id": "alert_ref"}}]},
            "adapter.sql.unknown_field",
            ("alert_ref",),
            id="a field the contract does not have",
        ),
        pytest.param(
            {"write": [{"contract": str(ALERT), "table": "partner_alerts", "columns": {"alert_id": "alert_id"}}]},
            "adapter.sql.unmapped_column",
            ("partner_alerts", "message_id"),
            id="a required column nothing is mapped to",
        ),
    ],
)  # fmt: skip
async def test_a_mapping_that_does_not_fit_the_database_is_refused_at_start(
    agency_db: str, tmp_path: Path, change: dict[str, Any], code: str, named: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _adapter(agency_db, tmp_path, _options(agency_db, **change))

    assert refused.value.code == code
    assert "council-case-system" in refused.value.message
    for name in named:
        assert repr(name) in refused.value.message or name in refused.value.message
    assert _count(agency_db, "contacts") == 0


async def test_a_received_referral_and_alert_are_written_back_once(agency_db: str, tmp_path: Path) -> None:
    adapter = _adapter(agency_db, tmp_path)
    message = received(str(REFERRAL), _referral(), recipient=COUNCIL)
    warning = received(str(ALERT), alert(4), recipient=COUNCIL)
    try:
        assert await adapter.deliver(message) is True
        assert await adapter.deliver(message) is True  # redelivered after a retry elsewhere: no second row
        assert await adapter.deliver(warning) is True
        assert await adapter.deliver(received("onedoor.status.StatusCheck", {}, recipient=COUNCIL)) is False
        with adapter.engine.connect() as conn:
            [row] = conn.execute(select(council.contacts)).mappings().all()
            [alert_row] = conn.execute(select(council.partner_alerts)).mappings().all()
    finally:
        await adapter.close()

    body = message.body
    assert row["message_id"] == message.header.message_id
    assert row["source_agency"] == message.header.sender
    assert (row["child_forename"], row["child_surname"]) == (body["child"]["given_name"], body["child"]["family_name"])
    assert row["child_dob"] == body["child"]["date_of_birth"]
    assert row["child_postcode"] == "ZZ99 9ZZ"
    assert row["concern_categories"] == "CRIMINAL_EXPLOITATION; COUNTY_LINES"
    assert row["nrm_status"] == "REASONABLE_GROUNDS_POSITIVE"
    assert row["contact_status"] == "NEW"  # the table's own default
    assert isinstance(row["received_at"], dt.datetime)
    assert (alert_row["alert_id"], alert_row["kind"], alert_row["town"]) == (
        warning.body["alert_id"],
        "FOUND_OUT_OF_AREA",
        "Testtown",
    )


@pytest.mark.parametrize(
    ("body_change", "code", "named"),
    [
        pytest.param({"concern_summary": None}, "adapter.sql.missing_value", "contacts.concern_summary",
                     id="a required column the message leaves empty"),
        pytest.param({"urgency": "X" * 30}, "adapter.sql.type_mismatch", "contacts.urgency",
                     id="a value longer than its column"),
        pytest.param({"referral_id": ["not", "text"]}, "adapter.sql.type_mismatch", "contacts.referral_id",
                     id="a list into a text column"),
    ],
)  # fmt: skip
async def test_a_message_that_cannot_be_mapped_is_refused_and_nothing_is_written(
    agency_db: str, tmp_path: Path, body_change: dict[str, Any], code: str, named: str
) -> None:
    # A first target the message fits, then contacts: one transaction, so neither row may appear.
    engine = create_engine(agency_db)
    log = Table("contact_log", MetaData(), Column("id", Integer, primary_key=True), Column("message_id", String(64)))
    log.create(engine)
    engine.dispose()
    options = _options(agency_db)
    contacts = options["write"][0]
    options["write"] = [{"contract": str(REFERRAL), "table": "contact_log", "columns": {"message_id": "$message_id"}}]
    options["write"].append(contacts)
    adapter = _adapter(agency_db, tmp_path, options)
    try:
        with pytest.raises(DeliveryRefused) as refused:
            await adapter.deliver(received(str(REFERRAL), _referral(**body_change), recipient=COUNCIL))
    finally:
        await adapter.close()

    assert refused.value.code == code
    assert named in refused.value.message
    assert "XXXX" not in refused.value.message, "never a value in the message"
    assert (_count(agency_db, "contact_log"), _count(agency_db, "contacts")) == (0, 0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param("ALTER TABLE contacts DROP COLUMN child_postcode", "column", id="a mapped column dropped"),
        pytest.param("DROP TABLE contacts", "table", id="the table dropped"),
    ],
)
async def test_a_table_changed_after_the_start_parks_the_message_with_a_reason(
    agency_db: str, tmp_path: Path, change: str, reason: str
) -> None:
    """Trying again cannot cure a schema change: refused for good (parked), not retried for ever."""
    adapter = _adapter(agency_db, tmp_path)  # the mapping is checked against the tables as they are now
    engine = create_engine(agency_db)
    with engine.begin() as conn:
        conn.execute(text(change))
    engine.dispose()
    message = received(str(REFERRAL), _referral(), recipient=COUNCIL)
    try:
        with pytest.raises(DeliveryRefused) as refused:
            await adapter.deliver(message)
    finally:
        await adapter.close()
    assert refused.value.code == "adapter.sql.write_failed"
    assert not refused.value.retriable
    assert "table contacts" in refused.value.message
    assert "nothing written" in refused.value.message
    if agency_db.startswith("sqlite"):
        assert f"{reason} does not exist" in refused.value.message
    for value in (message.body["child"]["given_name"], message.body["child"]["family_name"], "ZZ99"):
        assert value not in refused.value.message


@pytest.mark.postgres
async def test_a_permission_denied_parks_the_message_naming_the_table(
    postgres_database_url: str, tmp_path: Path
) -> None:
    """The connector's own (non-superuser) role loses INSERT on contacts: parked with a reason, not retried."""
    seed_database("council", postgres_database_url, count=5, seed=2, as_of=AS_OF)
    owner = make_url(postgres_database_url)
    plain = owner.set(drivername="postgresql").render_as_string(hide_password=False)
    role, password = f"connector_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    ident = sql.Identifier(role)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL("REVOKE INSERT ON contacts FROM {}").format(ident))
    url = owner.set(username=role, password=password).render_as_string(hide_password=False)
    message = received(str(REFERRAL), _referral(), recipient=COUNCIL)
    try:
        adapter = _adapter(url, tmp_path)
        try:
            with pytest.raises(DeliveryRefused) as refused:
                await adapter.deliver(message)
        finally:
            await adapter.close()
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
    assert refused.value.code == "adapter.sql.write_failed"
    assert not refused.value.retriable
    assert "table contacts" in refused.value.message
    assert "InsufficientPrivilege" in refused.value.message
    assert "42501" in refused.value.message
    assert message.body["child"]["given_name"] not in refused.value.message
    assert password not in refused.value.message


@pytest.fixture
def postgres_council(postgres_database_url: str) -> str:
    seed_database("council", postgres_database_url, count=5, seed=1, as_of=AS_OF)
    return postgres_database_url


@pytest.mark.postgres
async def test_the_database_refusing_connections_is_a_retry_and_the_message_goes_in_once_it_is_back(
    postgres_council: str, tmp_path: Path
) -> None:
    url = make_url(postgres_council)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = sql.Identifier(str(url.database))
    adapter = _adapter(postgres_council, tmp_path)
    message = received(str(REFERRAL), _referral(referral_id=str(uuid.uuid4())), recipient=COUNCIL)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            )
        with pytest.raises(DeliveryRetry) as retry:
            await adapter.deliver(message)
        assert retry.value.code == "adapter.sql.unavailable"
        assert retry.value.retriable

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
        assert await adapter.deliver(message) is True
    finally:
        await adapter.close()
    assert _count(postgres_council, "contacts") == 1


def _events_table(url: str) -> Table:
    reports = Table(
        "missing_reports",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("alert_uuid", String(36), nullable=False),
        Column("subject_token", String(64), nullable=False),
        Column("reported_at", DateTime, nullable=False),
        Column("town", String(60)),
        Column("risk", String(2)),
    )
    engine = create_engine(url)
    reports.create(engine, checkfirst=True)
    engine.dispose()
    return reports


def _report(url: str, table: Table, *ids: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for ident in ids:
            conn.execute(
                table.insert().values(
                    id=ident,
                    alert_uuid=str(uuid.UUID(int=ident)),
                    subject_token=f"st1_SYNTHETICsubjectToken{ident:03d}",
                    reported_at=dt.datetime(2026, 6, 1, 21, ident),
                    town="Testtown",
                    risk="H",
                )
            )
    engine.dispose()


def _feed(start: str) -> dict[str, Any]:
    return {
        "name": "missing",
        "table": "missing_reports",
        "watermark": "id",
        "key": "id",
        "start": start,
        "poll_seconds": 0.05,
        "contract": str(ALERT),
        "recipients": ["lb-it-other-csc"],
        "purpose": "safeguarding-alert",
        "body": {
            "alert_id": "alert_uuid",
            "kind": {"value": "MISSING_EPISODE"},
            "subject_token": "subject_token",
            "occurred_at": "reported_at",
            "reported_at": "reported_at",
            "location.town": "town",
            "risk_level": {"column": "risk", "map": {"H": "HIGH", "M": "MEDIUM"}},
        },
    }


async def test_new_case_events_are_sent_once_each_and_a_restart_carries_on(agency_db: str, tmp_path: Path) -> None:
    reports = _events_table(agency_db)
    _report(agency_db, reports, 1, 2)
    sent: list[OutboundRequest] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request)

    async def run_until(count: int) -> None:
        adapter = _adapter(agency_db, tmp_path, _options(agency_db, events=[_feed("beginning")]))
        task = asyncio.create_task(adapter.run(outbound))
        try:
            for _ in range(200):
                if len(sent) >= count:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # a few more polls: nothing is sent twice
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await adapter.close()

    await run_until(2)
    assert [r.source for r in sent] == ["council-case-system:missing:1", "council-case-system:missing:2"]
    first = sent[0]
    assert (first.contract, first.version, first.purpose) == (str(ALERT), 1, "safeguarding-alert")
    assert first.recipients == (AgencyId("lb-it-other-csc"),)
    assert first.body["alert_id"] == str(uuid.UUID(int=1))
    assert first.body["kind"] == "MISSING_EPISODE"
    assert first.body["risk_level"] == "HIGH"
    assert first.body["location"] == {"town": "Testtown"}
    assert first.body["occurred_at"] == dt.datetime(2026, 6, 1, 21, 1, tzinfo=dt.UTC)

    _report(agency_db, reports, 3)
    await run_until(3)  # a new adapter, the same data directory: the watermark was kept
    assert [r.source.rsplit(":", 1)[1] for r in sent] == ["1", "2", "3"]


async def test_events_start_at_the_latest_row_wait_for_the_outbox_and_pass_over_a_refused_row(
    agency_db: str, tmp_path: Path
) -> None:
    reports = _events_table(agency_db)
    _report(agency_db, reports, 1, 2)
    adapter = _adapter(agency_db, tmp_path, _options(agency_db, events=[_feed("latest")]))
    sent: list[str] = []
    outcomes: list[Exception | None] = []

    async def outbound(request: OutboundRequest) -> None:
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome
        sent.append(request.source)

    try:
        assert await adapter.poll_events(outbound) == 0, "rows already there on the first start are history"
        _report(agency_db, reports, 3, 4)
        outcomes.append(Unavailable("outbox.unavailable", "the outbox is busy"))
        assert await adapter.poll_events(outbound) == 0
        outcomes.append(ValidationFailed("outbound.body_invalid", "field 'body.kind' must be one of ..."))
        assert await adapter.poll_events(outbound) == 1  # row 3 refused for good and passed over; row 4 sent
        assert await adapter.poll_events(outbound) == 0
    finally:
        await adapter.close()
    assert sent == ["council-case-system:missing:4"]


async def test_an_event_feed_naming_a_missing_column_is_refused_at_start(agency_db: str, tmp_path: Path) -> None:
    _events_table(agency_db)
    feed = _feed("latest")
    feed["body"]["location.town"] = "town_name"
    with pytest.raises(ValidationFailed) as refused:
        _adapter(agency_db, tmp_path, _options(agency_db, events=[feed]))
    assert refused.value.code == "adapter.sql.unknown_column"
    assert "'missing_reports'" in refused.value.message
    assert "'town_name'" in refused.value.message


def _report_at(url: str, table: Table, moment: dt.datetime, *ids: int, token: str | None = None) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for ident in ids:
            conn.execute(
                table.insert().values(
                    id=ident,
                    alert_uuid=str(uuid.UUID(int=ident)),
                    subject_token=token if token is not None else f"st1_SYNTHETICsubjectToken{ident:03d}",
                    reported_at=moment,
                    town="Testtown",
                    risk="H",
                )
            )
    engine.dispose()


async def test_events_sharing_a_watermark_value_are_each_sent_once_across_batch_boundaries(
    agency_db: str, tmp_path: Path
) -> None:
    reports = _events_table(agency_db)
    same = dt.datetime(2026, 6, 1, 21, 0)
    _report_at(agency_db, reports, same, 1, 2, 3)
    _report_at(agency_db, reports, dt.datetime(2026, 6, 1, 21, 5), 4)
    feed = {**_feed("beginning"), "watermark": "reported_at", "key": "id", "batch": 2}
    adapter = _adapter(agency_db, tmp_path, _options(agency_db, events=[feed]))
    sent: list[OutboundRequest] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request)

    try:
        assert await adapter.poll_events(outbound) == 2  # rows 1 and 2: the batch ends inside the tie
        _report_at(agency_db, reports, same, 5)  # a late row with the same time as the stored position
        assert await adapter.poll_events(outbound) == 2  # rows 3 and 5: not dropped at the boundary
        assert await adapter.poll_events(outbound) == 1  # row 4
        assert await adapter.poll_events(outbound) == 0
    finally:
        await adapter.close()
    assert [r.source.rsplit(":", 1)[1] for r in sent] == ["1", "2", "3", "5", "4"]
    keys = [r.idempotency_key for r in sent]
    assert len(set(keys)) == 5, "events with the same time are different messages"
    assert keys[0] == 'sql:council-case-system:missing:{"value": 1}'


async def test_a_query_feed_quotes_its_column_names(agency_db: str, tmp_path: Path) -> None:
    reports = _events_table(agency_db)
    _report(agency_db, reports, 1, 2)
    query = (
        'SELECT id AS "Event Id", alert_uuid, subject_token, reported_at AS "Reported At", town, risk '
        "FROM missing_reports"
    )
    feed = {**_feed("beginning"), "table": None, "query": query, "watermark": "Reported At", "key": "Event Id"}
    feed["body"] = {**feed["body"], "occurred_at": "Reported At", "reported_at": "Reported At"}
    adapter = _adapter(agency_db, tmp_path, _options(agency_db, events=[feed]))
    sent: list[OutboundRequest] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request)

    try:
        assert await adapter.poll_events(outbound) == 2
        _report(agency_db, reports, 3)
        assert await adapter.poll_events(outbound) == 1
    finally:
        await adapter.close()
    assert [r.source.rsplit(":", 1)[1] for r in sent] == ["1", "2", "3"]


async def test_latest_with_the_database_gone_is_a_retry_not_a_dead_feed(agency_db: str, tmp_path: Path) -> None:
    reports = _events_table(agency_db)
    _report(agency_db, reports, 1)
    adapter = _adapter(agency_db, tmp_path, _options(agency_db, events=[_feed("latest")]))
    sent: list[str] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request.source)

    engine = create_engine(agency_db)
    renamed = text("ALTER TABLE missing_reports RENAME TO missing_reports_away")
    back = text("ALTER TABLE missing_reports_away RENAME TO missing_reports")
    try:
        with engine.begin() as conn:
            conn.execute(renamed)
        with pytest.raises(Unavailable) as down:
            await adapter.poll_events(outbound)
        assert down.value.code == "adapter.sql.unavailable"
        with engine.begin() as conn:
            conn.execute(back)
        assert await adapter.poll_events(outbound) == 0  # row 1 is history
        _report(agency_db, reports, 2)
        assert await adapter.poll_events(outbound) == 1
    finally:
        engine.dispose()
        await adapter.close()
    assert sent == ["council-case-system:missing:2"]


async def test_an_event_feed_puts_the_subject_token_in_the_header_and_passes_over_a_bad_one(
    agency_db: str, tmp_path: Path
) -> None:
    reports = _events_table(agency_db)
    feed = {**_feed("beginning"), "subject_token": "subject_token"}
    adapter = _adapter(agency_db, tmp_path, _options(agency_db, events=[feed]))
    sent: list[OutboundRequest] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request)

    try:
        _report(agency_db, reports, 1)
        _report_at(agency_db, reports, dt.datetime(2026, 6, 1, 22, 0), 2, token="Testy McFakeface")
        _report(agency_db, reports, 3)
        assert await adapter.poll_events(outbound) == 2  # row 2's token is not a token: passed over
    finally:
        await adapter.close()
    assert [r.subject_token for r in sent] == ["st1_SYNTHETICsubjectToken001", "st1_SYNTHETICsubjectToken003"]


async def test_a_feed_about_a_child_with_no_subject_token_is_refused_at_start(agency_db: str, tmp_path: Path) -> None:
    _events_table(agency_db)
    feed = _feed("latest")
    del feed["body"]["subject_token"]
    with pytest.raises(ValidationFailed) as refused:
        _adapter(agency_db, tmp_path, _options(agency_db, events=[feed]))
    assert refused.value.code == "adapter.sql.no_subject_token"
    assert "'missing'" in refused.value.message or "missing" in refused.value.message


def test_an_event_feed_must_name_its_unique_key(tmp_path: Path) -> None:
    feed = _feed("latest")
    del feed["key"]
    with pytest.raises(ValidationFailed) as refused:
        _adapter(f"sqlite:///{tmp_path / 'none.sqlite3'}", tmp_path, _options("sqlite://", events=[feed]))
    assert "key" in refused.value.message
