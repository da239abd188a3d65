"""Tamper with one audit record in a real database and `onedoor audit verify` names exactly that record.

On SQLite and a real PostgreSQL: events are written through the real API (``require`` audits
every authorization, one row per transaction) and the router's audit sink (batches via
``append_now_rows``), checkpoints are signed, then one record is changed (or deleted) with raw
SQL and the real CLI is run against the database with only the exported public key.
"""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from hub.app import create_app
from hub.audit import chain, checkpoints
from hub.audit.models import AuditCheckpoint, AuditEvent
from hub.audit.service import AuditEntry, append_now
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.db import migrate
from hub.router.decide import Delivered, Rejected
from hub.router.runtime import audit_sink
from hub.router.service import _audit_row
from onedoor.cli import app as onedoor_cli
from onedoor.db import make_engine, make_session_factory
from onedoor.envelope.reasons import Reason
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MSG = "3e0a8c1b-5f2d-4a6e-9b7c-1d2e3f4a5b6c"


@dataclass
class World:
    url: str
    settings: Settings
    factory: sessionmaker[Session]
    public_key: Path


def _router_rows(count: int, start: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for i in range(start, start + count):
        if i % 5:
            decision: Delivered | Rejected = Delivered(
                message_id=MSG if i == start else str(uuid.UUID(int=i)),
                sender="met-police",
                recipients=("lb-hackney-csc", "hackney-schools"),
                contract="onedoor.referral.MasterReferral",
                contract_version=1,
                correlation_id=f"corr-{i}",
                subject_token="st1_" + "b" * 24,
                created_at_ms=int(now.timestamp() * 1000),
                expires_at_ms=int((now + timedelta(days=7)).timestamp() * 1000),
                purpose="safeguarding-referral",
                agreement_id="isa-met-hackney",
                agreement_version=2,
            )
        else:
            decision = Rejected(Reason.CONTRACT_UNKNOWN, "contract not registered", "met-police", recipients=("x-y",))
        row = _audit_row(decision, f"t.out.met-police:0:{i}", now)
        row["latency_ms"] = i % 40
        rows.append(row)
    return rows


def _rewrite_seq_100_onwards(session: Session, detail: str) -> None:
    """What an attacker with the database does: change seq 100's detail and recompute every later hash and the head."""
    rows = list(session.scalars(select(AuditEvent).where(AuditEvent.seq >= 99).order_by(AuditEvent.seq)))
    prev = rows[0].row_hash
    for row in rows[1:]:
        if row.seq == 100:
            row.detail = detail
        values = {name: getattr(row, name) for name in chain.HASHED_FIELDS}
        row.prev_hash, row.row_hash = prev, chain.row_hash(row.seq, prev, values)
        prev = row.row_hash
    session.execute(text("UPDATE audit_chain_head SET row_hash = :h"), {"h": prev})


def _run_cli(*args: str, settings: Settings) -> tuple[int, str]:
    result = CliRunner().invoke(onedoor_cli, ["audit", *args], env={"ONEDOOR_HOME": str(settings.home)})
    return result.exit_code, result.output


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        factory: sessionmaker[Session] = app.state.session_factory
        issuer = DevIssuer.from_settings(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            sink = audit_sink(factory)
            for batch in range(3):
                sink(_router_rows(40, batch * 40))  # the router's batches
                for role in (Role.AUDITOR, Role.OPS_VIEWER):  # the API's one-row appends, permit and deny
                    token = issuer.mint(subject=f"dev:{role}", roles=[role])
                    response = await client.get(
                        "/audit/events", params={"message_id": MSG}, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert response.status_code == (200 if role == Role.AUDITOR else 403)
            append_now(factory, [AuditEntry(kind="test.note", outcome="permit", detail="written through append_now")])
            await __import__("asyncio").to_thread(app.state.audit_monitor.checkpoint_now)
            sink(_router_rows(10, 500))  # after the checkpoint
    public_key = tmp_path / "audit-public.pem"
    code, output = _run_cli("public-key", "--out", str(public_key), settings=settings)
    assert code == 0, output
    engine = make_engine(database_url, poolclass=NullPool)
    yield World(database_url, settings, make_session_factory(engine), public_key)
    engine.dispose()


def _verify(world: World) -> tuple[int, str]:
    # Only the database URL and the public key: what someone off the hub would have.
    return _run_cli(
        "verify", "--database-url", world.url, "--public-key", str(world.public_key), settings=world.settings
    )


def _raw(url: str, sql: str, **params: object) -> Any:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return result.all() if result.returns_rows else result.rowcount
    finally:
        engine.dispose()


def test_an_intact_chain_verifies_with_the_checkpoint(world: World) -> None:
    code, output = _verify(world)
    assert code == 0, output
    assert output.startswith("OK: audit chain intact; 137 records, seq 1 to 137")
    assert "checkpoints checked (last at seq 127)" in output


@pytest.mark.parametrize("column", ["outcome", "detail", "latency_ms", "at"])
def test_one_updated_record_is_named_exactly(world: World, column: str) -> None:
    target_seq = 57
    (target_id,) = _raw(world.url, "SELECT id FROM audit_event WHERE seq = :seq", seq=target_seq)[0]
    value: object = {"outcome": "rejected", "detail": "nothing to see", "latency_ms": 99999}.get(column)
    if column == "at":
        value = datetime(2026, 1, 1, tzinfo=UTC)
    update = f"UPDATE audit_event SET {column} = :v WHERE seq = :seq"  # noqa: S608 - a column of the fixed list above
    assert _raw(world.url, update, v=value, seq=target_seq) == 1
    code, output = _verify(world)
    assert code == 1, output
    assert f"BROKEN: {chain.ROW_ALTERED} at seq {target_seq} (id {target_id})" in output
    assert "56 records, seq 1 to 56" in output


def test_a_deleted_record_in_the_middle_is_named(world: World) -> None:
    assert _raw(world.url, "DELETE FROM audit_event WHERE seq = 90") == 1
    code, output = _verify(world)
    assert code == 1, output
    assert f"BROKEN: {chain.RECORD_MISSING} at seq 90:" in output
    assert "seq 90 missing" in output


def test_a_rewritten_tail_is_caught_by_the_signed_checkpoint(world: World) -> None:
    # An attacker with the database but not the key changes seq 100 and recomputes every later hash.
    with world.factory() as session, session.begin():
        _rewrite_seq_100_onwards(session, "rewritten by someone with the database")
    code, output = _verify(world)
    assert code == 1, output
    assert f"BROKEN: {chain.CHECKPOINT_MISMATCH} at seq 127" in output


def test_a_forged_checkpoint_signature_is_refused(world: World) -> None:
    assert _raw(world.url, "UPDATE audit_checkpoint SET signature = :s WHERE seq = 127", s="00" * 64) == 1
    code, output = _verify(world)
    assert code == 1, output
    assert f"BROKEN: {chain.CHECKPOINT_BAD_SIGNATURE} at seq 127" in output


def test_purged_oldest_records_are_reported_not_refused(world: World) -> None:
    assert _raw(world.url, "DELETE FROM audit_event WHERE seq <= 20") == 20
    code, output = _verify(world)
    assert code == 0, output
    assert "117 records, seq 21 to 137" in output
    assert "rows 1 to 20 are not in the database" in output


def test_verify_needs_the_public_key_once_checkpoints_exist(world: World, tmp_path: Path) -> None:
    elsewhere = Settings(env="test", home=tmp_path / "auditor-home")
    code, output = _run_cli("verify", "--database-url", world.url, settings=elsewhere)
    assert code == 2
    assert "--public-key" in output


def _append_from_another_process(url: str, batches: int, single: bool) -> None:
    from hub.audit.service import AuditEntry, append_now, append_now_rows  # noqa: PLC0415 - in the child
    from onedoor.db import make_engine, make_session_factory  # noqa: PLC0415 - in the child

    engine = make_engine(url, poolclass=NullPool)
    factory = make_session_factory(engine)
    for i in range(batches):
        if single:
            append_now(factory, [AuditEntry(kind="api.authz", outcome="permit", detail=f"single {i}")])
        else:
            append_now_rows(factory, _router_rows(25, i * 25))
    engine.dispose()


def test_two_processes_appending_at_once_leave_an_intact_chain(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_append_from_another_process, args=(database_url, 40, False)),
        spawn.Process(target=_append_from_another_process, args=(database_url, 150, True)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
        assert worker.exitcode == 0
    settings = Settings(env="test", home=tmp_path / "home")
    code, output = _run_cli("verify", "--database-url", database_url, settings=settings)
    assert code == 0, output
    assert "1150 records, seq 1 to 1150" in output


def test_the_migration_chains_rows_already_there(database_url: str, tmp_path: Path) -> None:
    migrate(database_url, "0006")
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for i in range(30):
        _raw(
            database_url,
            "INSERT INTO audit_event (at, kind, actor, outcome, message_id, contract_version, expires_at, detail) "
            "VALUES (:at, 'route.delivered', 'met-police', 'delivered', :m, 1, :e, :d)",
            at=at + timedelta(seconds=i, microseconds=i),
            m=str(uuid.UUID(int=i)),
            e=at + timedelta(days=7),
            d=None if i % 2 else f"row {i}",
        )
    migrate(database_url)
    engine = make_engine(database_url, poolclass=NullPool)
    append_now(make_session_factory(engine), [AuditEntry(kind="test.after", outcome="permit")])
    engine.dispose()
    settings = Settings(env="test", home=tmp_path / "home")
    code, output = _run_cli("verify", "--database-url", database_url, settings=settings)
    assert code == 0, output
    assert "31 records, seq 1 to 31" in output


def test_checkpoints_kept_off_the_hub_catch_a_rewrite_by_someone_holding_the_key(world: World, tmp_path: Path) -> None:
    code, line = _run_cli("checkpoint", "--database-url", world.url, settings=world.settings)
    assert code == 0, line
    kept = tmp_path / "kept-checkpoints.jsonl"
    kept.write_text(line)
    assert json.loads(line)["seq"] == 137
    # The attacker has the database and the audit key: rewrites seq 100 onwards and re-signs everything.
    key = checkpoints.load_or_create_key(checkpoints.audit_key_path(world.settings))
    with world.factory() as session, session.begin():
        _rewrite_seq_100_onwards(session, "rewritten by someone with the database and the key")
        hashes = dict(session.execute(select(AuditEvent.seq, AuditEvent.row_hash)).tuples().all())
        for stored in session.scalars(select(AuditCheckpoint)):
            signed = checkpoints.sign(key, stored.seq, hashes[stored.seq], stored.at)
            stored.row_hash, stored.signature = signed.row_hash, signed.signature
    code, output = _verify(world)
    assert code == 0, output  # the limit: the database alone cannot tell
    code, output = _run_cli(
        "verify", "--database-url", world.url, "--public-key", str(world.public_key), "--checkpoints", str(kept),
        settings=world.settings,
    )  # fmt: skip
    assert code == 1, output
    assert f"BROKEN: {chain.CHECKPOINT_MISMATCH} at seq 137" in output
