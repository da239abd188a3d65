"""The workbench's audit trail: append and read newest first, only ids and codes stored, never changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from connectors.workbench.audit import ITEM_VIEWED, AuditTrail, Outcome
from connectors.workbench.store import AuditEntry, WorkbenchStore

ITEM = "0b8e6c1e-6a4f-4d3b-9a53-2f7d1c0e9a11"
TOKEN = "st1_" + "A" * 43


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


def test_lines_are_appended_and_read_newest_first(store: WorkbenchStore) -> None:
    store.append_audit(AuditEntry("workbench.sign_in", "permit", actor="officer.one"), at_ms=1000)
    store.append_audit(AuditEntry(ITEM_VIEWED, "permit", actor="officer.one", item_id=ITEM, subject_token=TOKEN))
    store.append_audit(AuditEntry("triage.decide", "deny", actor="viewer.one", item_id=ITEM, reason_code="a.b"))
    store.append_audit(AuditEntry("workbench.sign_out", "ok", actor="officer.one"))
    assert [line.action for line in store.audit_trail()] == [
        "workbench.sign_out",
        "triage.decide",
        "workbench.item_viewed",
        "workbench.sign_in",
    ]
    assert [line.action for line in store.audit_trail(limit=2)] == ["workbench.sign_out", "triage.decide"]
    about = store.audit_trail(item_id=ITEM)
    assert [(line.actor, line.outcome, line.reason_code) for line in about] == [
        ("viewer.one", "deny", "a.b"),
        ("officer.one", "permit", None),
    ]
    assert about[1].subject_token == TOKEN
    first = store.audit_trail()[-1]
    assert (first.at_ms, first.at.isoformat()) == (1000, "1970-01-01T00:00:01+00:00")


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("item_id", "Synthia Example", "a child's name typed into a URL in place of an item id"),
        ("item_id", ITEM.upper() + "x", "anything that is not a lower-case UUID"),
        ("subject_token", "Synthia Example", "a name typed in place of a subject token"),
        ("actor", "correct horse battery fake", "a password typed into the username box"),
        ("actor", "Synthia", "upper case is never a username"),
        ("reason_code", "wrong password for Synthia", "prose in place of a code"),
        ("request_id", "session=abc.def", "a cookie in place of a request id"),
        ("address_fp", "203.0.113.9", "an address in place of its fingerprint"),
    ],
)
def test_a_value_not_of_its_form_is_never_stored(store: WorkbenchStore, field: str, value: str, why: str) -> None:
    entry = AuditEntry(ITEM_VIEWED, "deny", **{field: value})
    assert getattr(entry, field) is None, why
    store.append_audit(entry)
    with store._engine.connect() as connection:
        [row] = connection.execute(text("SELECT * FROM workbench_audit")).all()
    assert value not in repr(tuple(row)), why


def test_an_action_must_be_a_code_and_an_outcome_one_of_four() -> None:
    with pytest.raises(ValueError, match="dotted code"):
        AuditEntry("Synthia opened it", "permit")
    with pytest.raises(ValueError, match="outcome"):
        AuditEntry(ITEM_VIEWED, "maybe")


def test_the_table_refuses_updates_and_deletes(store: WorkbenchStore) -> None:
    store.append_audit(AuditEntry("workbench.sign_in", "deny", reason_code="workbench.wrong_password"))
    with store._engine.connect() as connection:
        with pytest.raises(DatabaseError, match="append-only"):
            connection.execute(text("UPDATE workbench_audit SET outcome = 'permit'"))
        connection.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            connection.execute(text("DELETE FROM workbench_audit"))
        connection.rollback()
    [line] = store.audit_trail()
    assert (line.outcome, line.reason_code) == ("deny", "workbench.wrong_password")


async def test_the_trail_records_off_the_loop_with_the_requests_id(store: WorkbenchStore) -> None:
    trail = AuditTrail(store)
    with structlog.contextvars.bound_contextvars(request_id="0123456789abcdef0123456789abcdef"):
        await trail.record(ITEM_VIEWED, Outcome.PERMIT, actor="officer.one", item_id=ITEM, address_fp="ab" * 8)
    await trail.record(ITEM_VIEWED, Outcome.DENY, reason_code="workbench.not_signed_in")
    [later, first] = trail.lines()
    assert (first.request_id, first.address_fp, first.item_id) == ("0123456789abcdef0123456789abcdef", "ab" * 8, ITEM)
    assert (later.actor, later.request_id, later.outcome) == (None, None, "deny")
