"""The workbench store on a real PostgreSQL server: the same behaviour as on SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from connectors.workbench.store import AuditEntry, Decided, NewItem, WorkbenchStore
from connectors.workbench.users import Staff
from onedoor.errors import Conflict

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _item(key: str, at: int, *, kind: str = "referral", token: str | None = None) -> NewItem:
    return NewItem(
        dedupe_key=key,
        kind=kind,
        source="professional",
        sender="test-county-police",
        title=f"Fake {key}",
        body={"child": {"given_name": "Testy"}},
        received_at_ms=at,
        subject_token=token,
        occurred_at_ms=at if kind == "alert" else None,
    )


def test_the_store_on_postgresql(postgres_database_url: str) -> None:
    store = WorkbenchStore(postgres_database_url).create()
    try:
        first, new = store.add_item(_item("message:a", 1_700_000_000_000))
        assert new
        again, new_again = store.add_item(_item("message:a", 1_700_000_000_500))
        assert (again.item_id, new_again) == (first.item_id, False)
        store.add_item(_item("message:b", 1_700_000_001_000, kind="alert", token="st1_x"))
        assert [i.title for i in store.items()] == ["Fake message:b", "Fake message:a"]
        assert [i.title for i in store.timeline("st1_x")] == ["Fake message:b"]
        assert store.mark_viewed(first.item_id, 1_700_000_002_000)
        assert not store.mark_viewed(first.item_id, 1_700_000_003_000)
        decided = store.record_decision(
            first.item_id, Decided("no-further-action", None, "known", "officer", None, 1_700_000_060_000)
        )
        assert decided.time_to_triage_ms == 60_000
        with pytest.raises(Conflict):
            store.record_decision(first.item_id, Decided("intervention", "x", None, "officer", None, 1))
        staff = Staff(store)
        staff.add("officer.one", "triage-officer", "a long fake password")
        assert staff.authenticate("officer.one", "a long fake password") is not None
        with pytest.raises(Conflict):
            staff.add("officer.one", "viewer", "a long fake password")
    finally:
        store.close()


def test_the_audit_trail_on_postgresql_is_append_only(postgres_database_url: str) -> None:
    store = WorkbenchStore(postgres_database_url).create()
    try:
        item = "0b8e6c1e-6a4f-4d3b-9a53-2f7d1c0e9a11"
        store.append_audit(AuditEntry("workbench.sign_in", "permit", actor="officer.one"))
        store.append_audit(AuditEntry("workbench.item_viewed", "permit", actor="officer.one", item_id=item))
        assert [a.action for a in store.audit_trail()] == ["workbench.item_viewed", "workbench.sign_in"]
        assert [a.action for a in store.audit_trail(item_id=item)] == ["workbench.item_viewed"]
        with store._engine.connect() as connection:
            with pytest.raises(DatabaseError, match="append-only"):
                connection.execute(text("UPDATE workbench_audit SET outcome = 'deny'"))
            connection.rollback()
            with pytest.raises(DatabaseError, match="append-only"):
                connection.execute(text("DELETE FROM workbench_audit"))
            connection.rollback()
        assert [a.outcome for a in store.audit_trail()] == ["permit", "permit"]
        store.create()  # a restart: the tables (and the trigger) exist already
    finally:
        store.close()
