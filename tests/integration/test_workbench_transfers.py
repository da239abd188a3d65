"""Case-transfer messages and unrouted messages in the workbench: the inbox lists each kind with a readable
title, each detail page shows its fields (and, for an offer, how to accept), and every opening is audited.

Through the connector's real FastAPI app and a real SQLite store, as ``test_workbench``.
"""

from __future__ import annotations

import html

import pytest

from connectors.casework.transfers import HANDOVER_PACK, TRANSFER_COMPLETED, TRANSFER_OFFER
from connectors.triage.transfers import HANDOVER_KIND, TRANSFER_DONE_KIND, TRANSFER_OFFER_KIND, UNROUTED
from onedoor.ids import SubjectToken
from tests.integration.test_workbench import World, _sign_in, world  # noqa: F401 - the fixture
from tests.unit.triage.transfer_bodies import CHILD_TOKEN, TRANSFER_ID, completed_body, handover_body, offer_body
from tests.unit.triage.world import BOROUGH, received

pytestmark = pytest.mark.integration


async def _page(world: World, path: str) -> str:  # noqa: F811 - the imported fixture's type
    response = await world.client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.text)


async def test_every_transfer_kind_is_listed_and_shown_and_each_opening_is_audited(world: World) -> None:  # noqa: F811
    desk = world.desk
    await desk.on_transfer_offer(received(str(TRANSFER_OFFER), offer_body(), sender=BOROUGH))
    token = SubjectToken(CHILD_TOKEN)
    await desk.on_handover(received(str(HANDOVER_PACK), handover_body(), sender=BOROUGH, token=token))
    await desk.on_transfer_completed(received(str(TRANSFER_COMPLETED), completed_body(), sender=BOROUGH))
    await desk.on_unrouted(received("onedoor.test.SomethingNew", {"note": "Testy McFakeface"}, sender=BOROUGH))
    await _sign_in(world.client)

    inbox = await _page(world, "/workbench/inbox")
    for title in (
        "Transfer offer from Testborough Children's Services: Testshire County Council, within 24 hours",
        "Handover pack from Testborough Children's Services",
        "Transfer completed: Test One Front Door triage now leads",
        "Unhandled message from Testborough Children's Services: onedoor.test.SomethingNew",
    ):
        assert title in inbox
    for label in ("Transfer offer", "Handover pack", "Transfer completed", "Unhandled message"):
        assert f'<td class="govuk-table__cell">{label}</td>' in inbox

    items = {i.kind: i for i in world.store.items()}
    offer = await _page(world, f"/workbench/items/{items[TRANSFER_OFFER_KIND].item_id}")
    assert "govuk-summary-list" in offer
    for text in ("Testshire County Council", "Age 13 to 15", "Criminal exploitation, Missing episodes", TRANSFER_ID):
        assert text in offer
    assert f"onedoor transfer accept --connector CONFIG {TRANSFER_ID}" in offer
    assert "Record decision" not in offer, "transfers are not triaged"

    pack = await _page(world, f"/workbench/items/{items[HANDOVER_KIND].item_id}")
    for text in (
        "Testy McFakeface",
        "T-Fake",
        "2011-02-03",
        "Child protection",
        "Weekly visits; disruption of the line.",
        "Criminal exploitation: High (Carrying for a line.)",
        "Missing episode, 20 Nov 2026, 09:30:00 UTC, from Test County Police",
        "Testborough Children's Services (lead); Test County Police (member)",
        "Officer Fakename, Social worker",
    ):
        assert text in pack
    assert f'href="/workbench/timeline/{CHILD_TOKEN}"' in pack, "the pack links to the child's timeline"
    assert "onedoor transfer accept" not in pack

    done = await _page(world, f"/workbench/items/{items[TRANSFER_DONE_KIND].item_id}")
    assert "Test One Front Door triage" in done
    assert "your agency stays in their network" in done
    assert "Test Outreach Charity" in done, "the other candidates"

    unrouted = await _page(world, f"/workbench/items/{items[UNROUTED].item_id}")
    assert "onedoor.test.SomethingNew" in unrouted
    assert "Testy McFakeface" not in unrouted, "an unrouted message's body is not kept"

    viewed = {a.item_id for a in world.desk.audit.lines(limit=50) if a.action == "workbench.item_viewed"}
    kinds = (TRANSFER_OFFER_KIND, HANDOVER_KIND, TRANSFER_DONE_KIND, UNROUTED)
    assert {items[k].item_id for k in kinds} <= viewed
