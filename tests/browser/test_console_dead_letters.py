"""The dead-letter page in real headless Chromium, with a real router and broker behind the hub.

A referral is dead-lettered because its recipient agency is suspended. A hub operator sees it
on /console/dead-letters with its reason in words, presses Replay before the fix (the page
says the cause is not fixed, naming the current reason; nothing changed), reinstates the
agency and presses Replay again (the page says it was replayed). An ops viewer sees the same
row with no Replay button. Screenshots: tests/artifacts/console-dead-letters-*.png.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, SubjectToken
from tests.browser.conftest import ServedHub, assert_accessible, hub_settings, run_async, serving_hub
from tests.browser.console import (
    PURPOSE,
    expected_status_errors,
    hub_views,
    screenshot,
    send_referrals,
    sign_in,
    sign_out,
)
from tests.browser.federation import ConnectorsThread, agree, referral_agreement

pytestmark = pytest.mark.browser

CHILD = SubjectToken("st1_FAKEbrowserReplaySubj0000")
"""The fake subject token of the one referral sent (``send_referrals`` numbers them from 0000)."""


def _letter(hub: ServedHub, message_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = httpx.get(f"{hub.base_url}/ops/dead-letters", headers=hub.operator(), timeout=10)
        assert listed.status_code == 200, listed.text
        for row in listed.json():
            if row["message_id"] == message_id:
                return dict(row)
        time.sleep(0.2)
    raise AssertionError(f"no dead letter for {message_id}")


def _set_active(hub: ServedHub, agency: AgencyId, *, active: bool) -> None:
    action = "reactivate" if active else "suspend"
    answer = httpx.post(f"{hub.base_url}/agencies/{agency}/{action}", headers=hub.operator(), timeout=10)
    assert answer.status_code == 200, answer.text
    time.sleep(2.5)  # the router's refresh interval here is 2 s (it is also told at once, by push)


def test_hub_operator_replays_a_dead_letter_once_the_cause_is_fixed(
    page: Page, page_errors: list[str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = hub_settings(tmp_path, kafka_bootstrap)
    police = AgencyKeyPair.generate(AgencyId("br-dl-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-br-dl-borough-csc"))
    with serving_hub(settings) as hub, ConnectorsThread(settings, []):
        hub.register(police, "police")
        hub.register(council, "children-services")
        agree(hub, referral_agreement("isa-browser-dl", police.agency, council.agency, str(PURPOSE)))
        known = run_async(hub_views(hub))  # the sender's view from before the suspension
        _set_active(hub, council.agency, active=False)
        subject = CHILD.removesuffix("0000")
        [message_id] = run_async(
            send_referrals(hub, police, council.agency, kafka_bootstrap, 1, views=known, subject=subject)
        )
        assert _letter(hub, message_id)["reason_code"] == "recipient.unknown"

        # The hub operator sees it, in words, with a Replay button.
        sign_in(page, hub, Role.HUB_OPERATOR, next_path="/console/dead-letters")
        page.goto(f"{hub.base_url}/console/dead-letters")
        row = page.locator(f"tr[data-message-id='{message_id}']")
        expect(row).to_contain_text("recipient.unknown")
        expect(row).to_contain_text("not a registered, active agency")
        expect(row).to_contain_text(f"{police.agency} → {council.agency}")
        expect(page.locator("body")).not_to_contain_text(str(CHILD))
        screenshot(page, "dead-letters")
        assert_accessible(page, "the dead-letter page")

        # Before the fix: a clear message, nothing changed.
        row.get_by_role("button", name="Replay").click()
        page.wait_for_load_state("load")
        notice = page.get_by_test_id("replay-notice")
        expect(notice).to_contain_text("The cause is not fixed")
        expect(notice).to_contain_text("Nothing was changed")
        expect(notice).to_contain_text("recipient.unknown")
        expect(page.get_by_test_id("replay-code")).to_have_text("deadletter.cause_not_fixed")
        expected_status_errors(page_errors, 409)
        expect(page.locator(f"tr[data-message-id='{message_id}']")).to_contain_text("Awaiting")
        screenshot(page, "dead-letters-cause-not-fixed")
        assert_accessible(page, "the dead-letter page with a refusal")

        # The cause is fixed: replayed.
        _set_active(hub, council.agency, active=True)
        page.goto(f"{hub.base_url}/console/dead-letters")
        page.locator(f"tr[data-message-id='{message_id}']").get_by_role("button", name="Replay").click()
        page.wait_for_load_state("load")
        expect(page.get_by_test_id("replay-notice")).to_contain_text("Replayed: the message was handed back")
        replayed = page.locator(f"tr[data-message-id='{message_id}']")
        expect(replayed).to_contain_text("Replayed")
        expect(replayed.get_by_role("button", name="Replay")).to_have_count(0)
        screenshot(page, "dead-letters-replayed")
        sign_out(page)

        # An ops viewer reads the page but has no Replay button anywhere.
        sign_in(page, hub, Role.OPS_VIEWER, next_path="/console/dead-letters")
        page.goto(f"{hub.base_url}/console/dead-letters")
        expect(page.locator(f"tr[data-message-id='{message_id}']")).to_contain_text("recipient.unknown")
        expect(page.get_by_role("button", name="Replay")).to_have_count(0)
