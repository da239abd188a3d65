"""The workbench store on a real PostgreSQL server: the same behaviour as on SQLite."""

from __future__ import annotations

import pytest

from connectors.workbench.store import Decided, NewItem, WorkbenchStore
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
