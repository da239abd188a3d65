"""Appends chain every row, whichever entry point wrote it, and checkpoints sign the head."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.audit import chain, checkpoints, service, verify
from hub.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from onedoor.db import Base, make_engine, make_session_factory
from onedoor.errors import ValidationFailed


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    Base.metadata.create_all(engine)  # no head row yet: the first append makes it
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def _row(i: int) -> dict[str, object]:
    return {
        "at": datetime(2026, 11, 22, 10, 0, tzinfo=UTC) + timedelta(milliseconds=i),
        "kind": "route.delivered",
        "actor": "met-police",
        "outcome": "delivered",
        "message_id": f"00000000-0000-4000-8000-{i:012d}",
        "recipients": "lb-hackney-csc",
        "source": f"t:0:{i}",
        "expires_at": datetime(2026, 11, 29, tzinfo=UTC),
        "latency_ms": i % 50,
    }


def _verify(engine: Engine, checker: chain.SignatureCheck | None = None) -> chain.ChainReport:
    with engine.connect() as connection:
        return verify.verify_database(connection, checker, batch=7).report


def test_every_entry_point_appends_to_one_chain(engine: Engine, factory: sessionmaker[Session]) -> None:
    service.append_now_rows(factory, [_row(i) for i in range(20)])
    service.append_now(factory, [service.AuditEntry(kind="api.authz", outcome="permit", actor="dev:someone")])
    with factory() as session, session.begin():
        service.append(session, [service.AuditEntry(kind="agreement.approved", outcome="permit", latency_ms=3)])
        service.append_rows(session, [_row(99)])
    with factory() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.id)))
        head = session.get(AuditChainHead, 1)
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert seqs == list(range(1, 24))
    assert head is not None
    assert last is not None
    assert (head.seq, head.row_hash) == (23, last.row_hash)
    report = _verify(engine)
    assert report.ok, report.problem
    assert report.rows == 23


def test_a_rolled_back_append_leaves_no_gap(engine: Engine, factory: sessionmaker[Session]) -> None:
    service.append_now_rows(factory, [_row(1)])
    with factory() as session:
        session.begin()
        service.append_rows(session, [_row(2), _row(3)])
        session.rollback()  # the caller's transaction fails
    service.append_now_rows(factory, [_row(4)])
    with factory() as session:
        assert list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))) == [1, 2]
    assert _verify(engine).ok


def test_a_raw_update_is_named_by_seq_and_id(engine: Engine, factory: sessionmaker[Session]) -> None:
    service.append_now_rows(factory, [_row(i) for i in range(30)])
    with engine.begin() as connection:
        target = connection.execute(text("SELECT id FROM audit_event WHERE seq = 12")).scalar_one()
        connection.execute(text("UPDATE audit_event SET outcome = 'rejected' WHERE seq = 12"))
    report = _verify(engine)
    assert report.problem is not None
    assert (report.problem.code, report.problem.seq, report.problem.id) == (chain.ROW_ALTERED, 12, target)


def test_checkpoints_sign_the_head_only_when_it_moved(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    key = checkpoints.load_or_create_key(tmp_path / "hub" / "audit-key.pem")
    assert (tmp_path / "hub" / "audit-key.pem").stat().st_mode & 0o777 == 0o600
    assert checkpoints.write_checkpoint(factory, key) is None  # empty chain
    service.append_now_rows(factory, [_row(i) for i in range(5)])
    first = checkpoints.write_checkpoint(factory, key)
    assert first is not None
    assert first.seq == 5
    assert checkpoints.write_checkpoint(factory, key) is None  # the head has not moved
    service.append_now_rows(factory, [_row(9)])
    assert checkpoints.write_checkpoint(factory, key) is not None
    checker = checkpoints.SignatureChecker.of(key.public_key())
    report = _verify(engine, checker)
    assert report.ok
    assert (report.checkpoints, report.last_checkpoint_seq) == (2, 6)
    # The same key file loads back; another key's checker refuses the signatures.
    assert (
        checkpoints.key_id(checkpoints.load_or_create_key(tmp_path / "hub" / "audit-key.pem").public_key())
        == first.key_id
    )
    stranger = checkpoints.SignatureChecker.of(Ed25519PrivateKey.generate().public_key())
    refused = _verify(engine, stranger)
    assert refused.problem is not None
    assert refused.problem.code == chain.CHECKPOINT_BAD_SIGNATURE
    with factory() as session:
        assert session.scalar(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq.desc())) == 6


def test_an_audit_key_open_to_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit-key.pem"
    checkpoints.load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(ValidationFailed) as refused:
        checkpoints.load_or_create_key(path)
    assert refused.value.code == "settings.audit_key_unsafe"


def test_verify_cli_refuses_clearly_without_a_database(tmp_path: Path) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

    from onedoor.cli import app  # noqa: PLC0415

    result = CliRunner().invoke(
        app,
        ["audit", "verify", "--database-url", f"sqlite:///{tmp_path / 'none.sqlite3'}"],
        env={"ONEDOOR_HOME": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "no database at" in result.output
    assert "Traceback" not in result.output


def test_verify_cli_says_ok_with_counts(engine: Engine, factory: sessionmaker[Session], tmp_path: Path) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

    from onedoor.cli import app  # noqa: PLC0415

    service.append_now_rows(factory, [_row(i) for i in range(7)])
    result = CliRunner().invoke(
        app, ["audit", "verify", "--database-url", str(engine.url)], env={"ONEDOOR_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: audit chain intact; 7 records, seq 1 to 7; 0 checkpoints checked")
