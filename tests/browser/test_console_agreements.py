"""Agreements in the console, in real headless Chromium against the whole hub served over HTTP.

The admin of agency A (the Met) proposes an agreement with agency B (Hackney), amends it and
approves the new version; the admin of Hackney signs in, reads the summary and the diff between
the versions, and approves: the agreement is in force with both approvals, who and when. An ops
viewer cannot open the agreement (the 403 page). Every page passes axe-core; screenshots go to
tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.browser.conftest import ServedHub, assert_accessible, hub_settings, serving_hub
from tests.browser.console import expected_status_errors, screenshot, sign_in, sign_out

pytestmark = pytest.mark.browser

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
ISA = "isa-met-hackney-county-lines"
REFERRAL = "onedoor.referral.MasterReferral"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServedHub]:
    with serving_hub(hub_settings(tmp_path, None)) as served:
        served.register(AgencyKeyPair.generate(MET), "police")
        served.register(AgencyKeyPair.generate(HACKNEY), "children-services")
        yield served


def _propose(page: Page, hub: ServedHub) -> None:
    page.goto(f"{hub.base_url}/console/agreements")
    page.get_by_role("link", name="Propose an agreement").click()
    expect(page.get_by_role("heading", name="Propose an agreement")).to_be_visible()
    # Sent empty first: every problem is listed and linked, nothing is stored.
    page.get_by_test_id("propose-button").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter an agreement id")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Choose at least one other agency to share with")
    assert_accessible(page, "the agreement form with errors")
    screenshot(page, "agreement-form-errors")

    page.get_by_label("Agreement id").fill(ISA)
    page.get_by_label("Title").fill("County lines referrals, Met and Hackney")
    page.locator(f"input[name='party-{HACKNEY}']").check()
    page.locator(f"input[name='contract-{REFERRAL}']").check()
    page.locator("input[name='purpose-safeguarding-referral']").check()
    page.locator("#provision-1-access").select_option("limited")
    page.get_by_label("UK GDPR Art. 6(1)(e)").check()
    page.get_by_label("Children Act 2004 s.11").check()
    page.locator("#retention-days").fill("365")
    page.locator("#review-date-day").fill("22")
    page.locator("#review-date-month").fill("11")
    page.locator("#review-date-year").fill("2027")
    page.get_by_test_id("propose-button").click()
    expect(page.get_by_text("The agreement was proposed.")).to_be_visible()


def test_two_agencies_agree_and_an_ops_viewer_cannot_look(page: Page, page_errors: list[str], hub: ServedHub) -> None:
    sign_in(page, hub, Role.AGENCY_ADMIN, MET)
    _propose(page, hub)
    expect(page.get_by_test_id("summary-headline")).to_contain_text("share information for safeguarding referral")
    expect(page.get_by_test_id("version-1")).to_contain_text("Waiting for approval")

    # Met amends it before anyone approved: a new version with a second purpose and a shorter retention.
    page.get_by_role("link", name="Propose a new version of this agreement").click()
    page.locator("input[name='purpose-case-coordination']").check()
    page.locator("#retention-days").fill("180")
    page.get_by_test_id("propose-button").click()
    expect(page.get_by_test_id("version-1")).to_contain_text("Superseded")
    page.get_by_test_id("approve-button").click()
    expect(page.get_by_text("Your agency's approval was recorded.")).to_be_visible()
    expect(page.get_by_test_id("version-2")).to_contain_text(f"approved by agency-admin@{MET}")
    assert_accessible(page, "the agreement page after the first approval")
    screenshot(page, "agreement-approved-by-a")
    sign_out(page)

    sign_in(page, hub, Role.AGENCY_ADMIN, HACKNEY)
    page.goto(f"{hub.base_url}/console/agreements")
    page.get_by_role("link", name="County lines referrals, Met and Hackney").click()
    expect(page.get_by_test_id("summary-headline").first).to_contain_text("safeguarding referral and case coordination")
    expect(page.get_by_text("Recipients keep what they receive for 180 days").first).to_be_visible()
    diff = page.get_by_test_id("diff-table")
    expect(diff).to_contain_text("Version 1 compared with version 2")
    expect(diff).to_contain_text("case coordination")
    expect(diff).to_contain_text("365 days (1 year) → 180 days")
    assert_accessible(page, "the agreement page as the second party reviews it")
    screenshot(page, "agreement-review-by-b")
    page.get_by_test_id("approve-button").click()

    expect(page.get_by_test_id("agreement-state")).to_contain_text("In force")
    approvals = page.get_by_test_id("version-2").get_by_test_id("approval")
    expect(approvals).to_have_count(2)
    expect(approvals.nth(0)).to_contain_text(f"approved by agency-admin@{MET} on ")
    expect(approvals.nth(1)).to_contain_text(f"approved by agency-admin@{HACKNEY} on ")
    expect(page.get_by_test_id("history-table")).to_contain_text("Activate")
    assert_accessible(page, "the agreement in force")
    screenshot(page, "agreement-in-force")
    sign_out(page)

    sign_in(page, hub, Role.OPS_VIEWER)
    page.goto(f"{hub.base_url}/console/agreements/{ISA}")
    expect(page.get_by_role("heading", name="You cannot open this page")).to_be_visible()
    expect(page.get_by_test_id("problem-code")).to_have_text("console.forbidden")
    expect(page.get_by_text("share information")).to_have_count(0)
    expect(page.get_by_role("link", name="Agreements")).to_have_count(0)
    expected_status_errors(page_errors, 403, 422)  # the ops viewer's 403; the empty form's 422
    assert_accessible(page, "the 403 page an ops viewer gets")
    screenshot(page, "agreement-ops-viewer-403")
