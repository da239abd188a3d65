"""Case-transfer messages and unrouted messages into the workbench store, once each, over a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from connectors.casework.transfers import HANDOVER_PACK, TRANSFER_COMPLETED, TRANSFER_OFFER
from connectors.triage.transfers import HANDOVER_KIND, TRANSFER_DONE_KIND, TRANSFER_OFFER_KIND, UNROUTED
from connectors.workbench.store import WorkbenchStore
from onedoor.ids import SubjectToken
from tests.unit.triage.transfer_bodies import (
    CHILD_TOKEN,
    TRANSFER_ID,
    completed_body,
    handover_body,
    offer_body,
)
from tests.unit.triage.world import BOROUGH, POLICE, desk, received


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkbenchStore]:
    found = WorkbenchStore(f"sqlite:///{tmp_path / 'wb.sqlite3'}").create()
    yield found
    found.close()


async def test_a_transfer_offer_is_stored_once_with_a_readable_title_and_no_subject_token(
    store: WorkbenchStore,
) -> None:
    triage = desk(store)
    message = received(str(TRANSFER_OFFER), offer_body(), sender=BOROUGH)
    await triage.on_transfer_offer(message)
    await triage.on_transfer_offer(message)
    [item] = store.items()
    assert item.kind == TRANSFER_OFFER_KIND
    assert (
        item.title == "Transfer offer from Testborough Children's Services: Testshire County Council, within 24 hours"
    )
    assert item.urgency == "WITHIN_24_HOURS"
    assert item.subject_token is None
    assert item.message_id == str(message.header.message_id)
    assert item.body["transfer_id"] == TRANSFER_ID
    assert item.body["offered_at"] == "2026-11-20T09:30:00+00:00", "stored as JSON"


async def test_a_handover_pack_is_stored_with_the_childs_subject_token(store: WorkbenchStore) -> None:
    triage = desk(store)
    message = received(str(HANDOVER_PACK), handover_body(), sender=BOROUGH, token=SubjectToken(CHILD_TOKEN))
    await triage.on_handover(message)
    await triage.on_handover(message)
    [item] = store.items()
    assert (item.kind, item.title) == (HANDOVER_KIND, "Handover pack from Testborough Children's Services")
    assert item.subject_token == CHILD_TOKEN
    assert item.body["child"]["date_of_birth"] == "2011-02-03"
    assert item.body["plan"]["summary"].startswith("Weekly visits")


async def test_a_completed_transfer_names_the_new_lead(store: WorkbenchStore) -> None:
    triage = desk(store)
    await triage.on_transfer_completed(received(str(TRANSFER_COMPLETED), completed_body(), sender=BOROUGH))
    await triage.on_transfer_completed(received(str(TRANSFER_COMPLETED), completed_body("CANDIDATE"), sender=BOROUGH))
    items = store.items()
    assert [i.kind for i in items] == [TRANSFER_DONE_KIND, TRANSFER_DONE_KIND]
    assert {i.title for i in items} == {"Transfer completed: Test One Front Door triage now leads"}
    assert sorted(str(i.subject_token) for i in items) == sorted([CHILD_TOKEN, "None"]), "candidates get no token"


async def test_an_unrouted_message_keeps_its_contract_and_sender_but_not_its_body(store: WorkbenchStore) -> None:
    triage = desk(store)
    message = received("onedoor.test.SomethingNew", {"secret": "Testy McFakeface lives at 1 Fake Street"})
    with capture_logs() as logs:
        await triage.on_unrouted(message)
        await triage.on_unrouted(message)
    [item] = store.items()
    assert (item.kind, item.status) == (UNROUTED, UNROUTED)
    assert item.body == {"contract": "onedoor.test.SomethingNew", "contract_version": 1}
    assert "Fake Street" not in item.title
    assert "onedoor.test.SomethingNew" in item.title
    assert item.sender == str(POLICE)
    [warning] = [e for e in logs if e["event"] == "connector.unrouted"]
    assert warning["log_level"] == "warning"
    assert warning["contract"] == "onedoor.test.SomethingNew"
    assert warning["message_id"] == message.header.message_id
    assert "Fake Street" not in repr(logs)


async def test_opening_a_transfer_item_is_audited(store: WorkbenchStore) -> None:
    triage = desk(store)
    await triage.on_handover(received(str(HANDOVER_PACK), handover_body(), sender=BOROUGH))
    [item] = store.items()
    opened = await triage.opened(item.item_id, by="officer.one")
    assert opened.viewed_at_ms is not None
    [line] = [a for a in triage.audit.lines(limit=10) if a.item_id == item.item_id]
    assert (line.action, line.outcome, line.actor) == ("workbench.item_viewed", "permit", "officer.one")
    assert line.subject_token == CHILD_TOKEN
