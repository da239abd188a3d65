"""The public referral form in real Chromium: errors, sealing in the browser, accessibility, a phone screen.

The hub runs for real (uvicorn, SQLite, the session's broker). The browser's POST is captured:
it carries the sealed blob and no plaintext. The record on the intake topic is then opened in
Python with the triage desk's key, which proves the browser's WebCrypto sealing and
``onedoor.envelope.intake`` agree byte for byte on the format.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.sync_api import Browser, Page, Request, expect

from connectors.sdk.hubauth import agency_assertion
from hub.intake.form import MESSAGES
from onedoor.envelope.intake import INTAKE_KEY_PATH, IntakeKeyPair, PublicSubmission, intake_key_body, open_form
from onedoor.envelope.intake_form import IDENTIFY_RULE, PublicReferralForm
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.topics import TopicNames
from tests.browser.conftest import ServedHub, assert_accessible, hub_settings, run_async, serving_hub

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TRIAGE = AgencyId("triage-desk")
GIVEN, FAMILY = "Synthia", "Examplewood"
SECRET_PHRASE = "orange scooter lookout"
REFERENCE = re.compile(r"OD-[2-9A-Z]{8}")


@pytest.fixture
def desk(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[ServedHub, IntakeKeyPair]]:
    """A served hub with a triage agency whose intake key is registered."""
    with serving_hub(hub_settings(tmp_path, kafka_bootstrap, min_fill_seconds=1)) as hub:
        triage = AgencyKeyPair.generate(TRIAGE)
        hub.register(triage, "triage")
        intake = IntakeKeyPair.generate()
        put = httpx.put(  # the triage agency itself, with its signed agency assertion
            f"{hub.base_url}{INTAKE_KEY_PATH}",
            headers={"Authorization": f"Bearer {agency_assertion(triage)}"},
            json=intake_key_body(intake.public_raw),
        )
        assert put.status_code == 200, put.text
        yield hub, intake


async def _intake_records(bootstrap: str, topic: str, timeout_s: float = 20.0) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found = [record for batch in batches.values() for record in batch]
            if found:
                return found
    finally:
        await consumer.stop()
    return []


def _fill_like_a_person(page: Page) -> None:
    page.get_by_label("A neighbour or someone in the community").check()
    page.get_by_label("First name", exact=True).fill(GIVEN)
    page.get_by_label("Last name", exact=True).fill(FAMILY)
    page.get_by_label("If you do not know their date of birth, how old do you think they are?").fill("15")
    page.get_by_label("The area or town where they live or are often seen").fill("Exampleton")
    page.get_by_label("Carrying or selling drugs, maybe in another town (county lines)").check()
    page.get_by_label("Going missing or staying out").check()
    page.get_by_label("Tell us what is happening").fill(
        f"Often waits by the {SECRET_PHRASE} after school and gets into different cars."
    )
    page.get_by_label("Someone needs to act today").check()
    page.get_by_label("I do not know").check()
    page.get_by_label("I want a private link to check progress").check()


def test_the_public_form_seals_in_the_browser(
    desk: tuple[ServedHub, IntakeKeyPair], page: Page, artifacts_dir: Path, kafka_bootstrap: str
) -> None:
    hub, intake = desk
    page.goto(f"{hub.base_url}/refer")
    expect(page).to_have_title(re.compile("Tell us you are worried about a child"))
    expect(page.locator(".govuk-warning-text")).to_contain_text("If a child is in immediate danger call 999")
    assert page.locator("html").get_attribute("lang") == "en-GB"
    honeypot = page.locator("#website")
    assert honeypot.get_attribute("tabindex") == "-1"
    assert honeypot.get_attribute("autocomplete") == "off"
    page.screenshot(path=artifacts_dir / "form.png", full_page=True)
    assert_accessible(page, "the form")

    # Empty: the browser shows the errors itself, focused, and sends nothing.
    posts: list[Request] = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    page.get_by_role("button", name="Send referral").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    for message in (MESSAGES["relationship"], IDENTIFY_RULE, MESSAGES["concerns"], MESSAGES["summary"]):
        expect(summary).to_contain_text(message)
    expect(page).to_have_title(re.compile("^Error: "))
    assert posts == []
    page.screenshot(path=artifacts_dir / "form-errors.png", full_page=True)
    assert_accessible(page, "the form with errors")

    # Filled in like a member of the public would.
    page.wait_for_timeout(1100)  # the hub takes a form sent in under a second for a bot's
    _fill_like_a_person(page)
    page.get_by_role("button", name="Send referral").click()
    expect(page.locator("#reference")).to_have_text(REFERENCE)
    reference = page.locator("#reference").inner_text().strip()

    assert len(posts) == 1
    body = posts[0].post_data or ""
    sent = parse_qs(body, keep_blank_values=True)
    assert set(sent) == {"form-token", "sealed", "website", "progress-link"}, sorted(sent)
    assert sent["progress-link"] == ["yes"]
    for plaintext in (GIVEN, FAMILY, SECRET_PHRASE, "Exampleton", "COUNTY_LINES"):
        assert plaintext not in body
        assert plaintext not in sent["sealed"][0]
    expect(page.locator("#progress-link")).to_be_visible()
    page.screenshot(path=artifacts_dir / "confirmation.png", full_page=True)
    assert_accessible(page, "the confirmation page")

    # The triage desk opens what the browser sealed.
    topic = TopicNames(hub.settings.kafka.topic_prefix).intake(TRIAGE)
    records = run_async(_intake_records(kafka_bootstrap, topic))
    assert [r.key for r in records] == [reference.encode()]
    submission = PublicSubmission.decode(records[0].value)
    assert submission.sealed == sent["sealed"][0]
    assert FAMILY.encode() not in records[0].value
    opened = open_form(intake, submission.sealed)
    assert FAMILY.encode() in opened
    form = PublicReferralForm.model_validate_json(opened)
    assert form.child.given_name == GIVEN
    assert form.child.estimated_age == 15
    assert form.concern_categories == ["COUNTY_LINES", "MISSING"]
    assert SECRET_PHRASE in form.concern_summary
    assert form.urgency == "SAME_DAY"
    assert form.parent_carer_knows == "not-sure"
    assert form.referrer.relationship == "neighbour"

    # The private link shows the status and nothing else.
    page.locator("#progress-link").click()
    expect(page.locator("#status")).to_have_text("Received")
    assert GIVEN not in page.content()
    assert_accessible(page, "the progress page")


def test_the_form_fits_a_phone(desk: tuple[ServedHub, IntakeKeyPair], browser: Browser, artifacts_dir: Path) -> None:
    hub, _intake = desk
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(f"{hub.base_url}/refer")
        expect(phone.get_by_role("button", name="Send referral")).to_be_attached()
        widths = phone.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"horizontal scroll on a phone: content {widths[0]}px, screen {widths[1]}px"
        phone.screenshot(path=artifacts_dir / "form-phone.png", full_page=True)
    finally:
        context.close()


def test_a_page_open_under_an_old_token_still_sends(
    desk: tuple[ServedHub, IntakeKeyPair], page: Page, kafka_bootstrap: str
) -> None:
    """Finding 4, JS path: refer.js fetches a fresh fill-time token before sealing, so a page
    whose token no longer verifies (served before a key change, or days ago) is not thrown away."""
    hub, intake = desk
    page.goto(f"{hub.base_url}/refer")
    page.locator('input[name="form-token"]').evaluate("(field) => { field.value = '1700000000000.deadbeef'; }")
    _fill_like_a_person(page)
    page.get_by_role("button", name="Send referral").click()
    expect(page.locator("#reference")).to_have_text(REFERENCE, timeout=10_000)  # after the 1 s wait
    reference = page.locator("#reference").inner_text().strip()
    topic = TopicNames(hub.settings.kafka.topic_prefix).intake(TRIAGE)
    records = run_async(_intake_records(kafka_bootstrap, topic))
    assert [r.key for r in records] == [reference.encode()]  # a real referral, not the bots' decoy
    assert PublicReferralForm.model_validate_json(open_form(intake, PublicSubmission.decode(records[0].value).sealed))
