"""The workbench store: inbox newest first, dedupe, first view, one decision, timelines, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.workbench.store import Decided, NewItem, WorkbenchStore
from onedoor.errors import Conflict, NotFound


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


def _item(
    key: str, at: int, *, kind: str = "referral", token: str | None = None, occurred: int | None = None
) -> NewItem:
    return NewItem(
        dedupe_key=key,
        kind=kind,
        source="professional",
        sender="test-county-police",
        title=f"Fake {key}",
        body={"child": {"given_name": "Testy"}, "n": at},
        received_at_ms=at,
        subject_token=token,
        occurred_at_ms=occurred,
    )


def test_items_are_newest_first_and_stored_once(store: WorkbenchStore) -> None:
    first, new = store.add_item(_item("message:a", 1000))
    assert new
    again, new_again = store.add_item(_item("message:a", 5000))
    assert not new_again
    assert again.item_id == first.item_id
    store.add_item(_item("message:b", 3000))
    store.add_item(_item("message:c", 2000, kind="alert"))
    assert [i.title for i in store.items()] == ["Fake message:b", "Fake message:c", "Fake message:a"]
    assert [i.title for i in store.items(kind="referral")] == ["Fake message:b", "Fake message:a"]
    assert store.item(first.item_id).body == {"child": {"given_name": "Testy"}, "n": 1000}


def test_first_view_and_one_decision(store: WorkbenchStore) -> None:
    item, _ = store.add_item(_item("public:OD-1", 1000))
    assert store.mark_viewed(item.item_id, 2000)
    assert not store.mark_viewed(item.item_id, 3000)
    decided = store.record_decision(item.item_id, Decided("no-further-action", None, "dup", "officer", None, 61_000))
    assert (decided.status, decided.time_to_triage_ms, decided.viewed_at_ms) == ("triaged", 60_000, 2000)
    with pytest.raises(Conflict):
        store.record_decision(item.item_id, Decided("intervention", "x", None, "officer", None, 70_000))
    with pytest.raises(NotFound):
        store.item("no-such-item")


def test_a_claim_is_taken_once_and_given_back_or_finished(store: WorkbenchStore) -> None:
    item, _ = store.add_item(_item("public:OD-2", 1000))
    claimed = store.claim(item.item_id, "officer.one", 5000)
    assert (claimed.status, claimed.decided_at_ms, claimed.decided_by) == ("deciding", 5000, "officer.one")
    with pytest.raises(Conflict) as taken:
        store.claim(item.item_id, "officer.two", 5001)
    assert taken.value.code == "triage.already_decided"
    with pytest.raises(Conflict):
        store.record_decision(item.item_id, Decided("intervention", "x", None, "officer.two", None, 5001))
    assert not store.release(item.item_id, 5001), "only the claim's own time releases it"
    assert store.release(item.item_id, 5000)
    assert store.item(item.item_id).status == "received"
    store.claim(item.item_id, "officer.two", 6000)
    done = store.record_decision(item.item_id, Decided("intervention", "x", None, "officer.two", "m-1", 6000))
    assert (done.status, done.decision_target, done.onward_message_id) == ("triaged", "x", "m-1")
    assert not store.release(item.item_id, 6000), "a recorded decision is not given back"
    with pytest.raises(NotFound):
        store.claim("no-such-item", "officer.one", 1)


def test_the_timeline_is_one_subject_in_the_order_things_happened(store: WorkbenchStore) -> None:
    store.add_item(_item("message:late", 100, kind="alert", token="st1_x", occurred=50))
    store.add_item(_item("message:early", 200, kind="alert", token="st1_x", occurred=10))
    store.add_item(_item("message:other", 300, kind="alert", token="st1_y", occurred=5))
    store.add_item(_item("message:ref", 400, token="st1_x"))
    assert [i.title for i in store.timeline("st1_x")] == ["Fake message:early", "Fake message:late"]


def test_sessions(store: WorkbenchStore) -> None:
    store.add_session("h" * 64, "officer", "csrf", 1000)
    found = store.session("h" * 64)
    assert found is not None
    assert (found.username, found.csrf, found.last_seen_ms) == ("officer", "csrf", 1000)
    store.touch_session("h" * 64, 5000)
    assert store.session("h" * 64).last_seen_ms == 5000  # type: ignore[union-attr]
    store.end_session("h" * 64)
    assert store.session("h" * 64) is None
