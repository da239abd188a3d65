"""The snapshot task's tick over a real (SQLite) audit table: tail by id, metadata only, cached."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

import hub.audit.models  # noqa: F401 - registers the audit table
from hub.audit.service import AuditEntry, append_now, append_now_rows
from hub.ops.lag import LagReader
from hub.ops.readaudit import ReadAudit
from hub.ops.schemas import InboxLag
from hub.ops.snapshot import OpsHub, discover_sections
from onedoor.db import Base, make_engine, make_session_factory

SUBJECT = "st-ZZTOKENFORTESTSONLY000000000000000000000001"


@pytest.fixture
def factory() -> Iterator[sessionmaker[Session]]:
    engine = make_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _row(kind: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "at": datetime.now(UTC),
        "kind": kind,
        "outcome": "delivered" if kind == "route.delivered" else "rejected",
        "actor": "met-police",
        "message_id": str(uuid.uuid4()),
        "subject_token": SUBJECT,
        "contract": "onedoor.referral.MasterReferral",
        "recipients": "lb-csc",
    }
    row.update(kw)
    return row


async def test_a_tick_counts_only_rows_after_start_and_never_copies_identifiers(
    factory: sessionmaker[Session],
) -> None:
    append_now_rows(factory, [_row("route.delivered")])  # before the task starts: not counted
    ops = OpsHub(factory)
    await ops.tick()
    assert ops.snapshot.totals.delivered == 0
    message_id = str(uuid.uuid4())
    append_now_rows(
        factory,
        [
            _row("route.delivered", message_id=message_id, recipients="lb-csc,nhs-trust"),
            _row("route.rejected", reason_code="agreement.none", recipients=None),
        ],
    )
    append_now(factory, [AuditEntry(kind="api.authz", outcome="permit", actor="someone")])
    generation = ops.generation
    snapshot = await ops.tick()
    assert ops.generation == generation + 1
    assert snapshot.totals.delivered == 1
    assert snapshot.totals.rejected == 1
    assert {(p.sender, p.recipient) for p in snapshot.flow_by_pair} == {
        ("met-police", "lb-csc"),
        ("met-police", "nhs-trust"),
    }
    assert [(r.reason, r.count) for r in snapshot.rejections] == [("agreement.none", 1)]
    assert ops.encoded == snapshot.model_dump_json().encode()
    assert SUBJECT.encode() not in ops.encoded
    assert message_id.encode() not in ops.encoded
    # The next tick reads nothing twice.
    assert (await ops.tick()).totals.delivered == 1


async def test_sections_from_other_components_and_their_failures(factory: sessionmaker[Session]) -> None:
    def broken(_factory: sessionmaker[Session]) -> Any:
        raise RuntimeError("boom")

    ops = OpsHub(
        factory,
        sections={"dead_letters": lambda _f: {"open": 3}, "connectors": broken},
        sections_every_s=0.0,
    )
    await ops.tick()
    assert ops._sections_task is not None
    await ops._sections_task
    snapshot = await ops.tick()
    assert snapshot.dead_letters == {"open": 3}
    assert snapshot.connectors is None
    assert snapshot.sections_unavailable == {"connectors": "ops.section_failed"}
    await ops.stop()


def test_sections_present_in_this_installation_are_found() -> None:
    found = discover_sections()
    assert set(found) <= {"connectors", "triage", "policy_effect", "dead_letters"}


async def test_lag_failures_show_as_unknown_never_crash_the_tick(factory: sessionmaker[Session]) -> None:
    # Nothing listens on port 9: the reader reports the broker unavailable instead of raising.
    reader = LagReader("127.0.0.1:9", "onedoor", None, timeout_s=0.5)
    ops = OpsHub(factory, lag=reader, lag_every_s=0.0)
    await ops.tick()
    assert ops._lag_task is not None
    await ops._lag_task
    snapshot = await ops.tick()
    assert snapshot.lag == [InboxLag(agency="*", lag=None, status="unknown", reason="lag.broker_unavailable")]
    await ops.stop()


async def test_read_permits_are_written_in_batches_and_kept_when_a_write_fails(
    factory: sessionmaker[Session], tmp_path: Any
) -> None:
    audit = ReadAudit(factory, every_s=3600)
    for n in range(3):
        audit.add(AuditEntry(kind="api.authz", outcome="permit", actor=f"viewer-{n}", source="GET /ops/dashboard"))
    broken = ReadAudit(make_session_factory(make_engine(f"sqlite:///{tmp_path}/no-tables.sqlite3")))
    broken.add(AuditEntry(kind="api.authz", outcome="permit", actor="kept"))
    await broken.flush()  # no audit table there: the row is kept for the next try
    assert [e.actor for e in broken._pending] == ["kept"]
    audit.start()
    await audit.stop()  # stopping writes what is left
    assert audit.written == 3
    with factory() as session:
        actors = session.execute(text("SELECT actor FROM audit_event WHERE kind = 'api.authz'")).scalars().all()
    assert sorted(actors) == ["viewer-0", "viewer-1", "viewer-2"]
