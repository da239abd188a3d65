"""Must show: a member of the public refers at the hub; triage reads it in its own connector and routes it.

Real headless Chromium, a real broker, the whole hub served over HTTP (API, form, router) and
two connector processes (a triage desk and an outreach charity) with their workbenches. The desk's
connector registers its own intake key with the hub at start-up (no operator token):

1. A neighbour fills in the public form at ``/refer``; the form is sealed in the browser, and the
   request the hub received holds only ciphertext (no child's name, no concern text).
2. The triage officer signs in to the triage connector's workbench, sees the referral in the
   inbox, opens it (the child's name is visible: decrypted in the triage connector) and routes it
   to the charity as an intervention referral under their agreement.
3. The charity's case worker signs in to the charity's workbench: the referral is in its inbox.
4. The referrer's private progress link says "Being handled": status only, reported by the desk.

Screenshots: ``tests/artifacts/workbench-inbox.png``, ``workbench-referral.png``,
``workbench-decision-form.png``, ``workbench-decision.png``, ``service-inbox.png``; axe-core finds no
serious or critical problem on the inbox or the triage form.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from connectors.triage.referral import SAFEGUARDING_REFERRAL
from onedoor.envelope.intake import IntakeKeyPair
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.browser.conftest import assert_accessible, hub_settings, serving_hub
from tests.browser.federation import ConnectorsThread, add_staff, agree, connector_config, referral_agreement

pytestmark = pytest.mark.e2e

DESK = AgencyId("bt-triage-desk")
CHARITY = AgencyId("bt-outreach-charity")
GIVEN, FAMILY = "Testy", "McFakeface"
SUMMARY = "Seen most evenings at the station with older lads, new phones and cash. Out very late."
PASSWORD = "a long fake password for the test"


def _eventually(check: Callable[[], bool], what: str, timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _refer(page: Page, hub_url: str) -> tuple[str, str | None, list[str]]:
    """Fill in and send the public form as a neighbour would; the reference, progress link and request bodies."""
    bodies: list[str] = []
    page.on(
        "request",
        lambda request: (
            bodies.append(request.post_data or "")
            if request.method == "POST" and request.url.endswith("/refer")
            else None
        ),
    )
    page.goto(f"{hub_url}/refer")
    page.check('input[name="relationship"][value="neighbour"]')
    page.fill("#child-given-name", GIVEN)
    page.fill("#child-family-name", FAMILY)
    page.fill("#estimated-age", "14")
    page.fill("#area", "Testborough")
    page.check('input[name="concerns"][value="COUNTY_LINES"]')
    page.check('input[name="concerns"][value="MISSING"]')
    page.fill("#summary", SUMMARY)
    page.check('input[name="urgency"][value="SAME_DAY"]')
    page.check('input[name="parent-knows"][value="not-sure"]')
    page.check('input[name="progress-link"][value="yes"]')
    page.click("#send-referral")
    page.wait_for_selector("#reference", timeout=30_000)
    reference = page.inner_text("#reference").strip()
    link = page.get_attribute("#progress-link", "href")
    return reference, link, bodies


def _sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/workbench/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base_url}/workbench/inbox")


def _wait_in_inbox(page: Page, base_url: str, text: str) -> None:
    def shown() -> bool:
        page.goto(f"{base_url}/workbench/inbox")
        return page.locator(f"text={text}").count() > 0

    _eventually(shown, f"'{text}' in the inbox at {base_url}")


def test_a_public_referral_is_triaged_in_the_desks_connector_and_reaches_the_service(  # noqa: PLR0917 - fixtures
    kafka_bootstrap: str,
    tmp_path: Path,
    browser: Browser,
    page: Page,
    page_errors: list[str],
    artifacts_dir: Path,
) -> None:
    settings = hub_settings(tmp_path, kafka_bootstrap, min_fill_seconds=0, rate_per_minute=100)
    desk_keys, charity_keys = AgencyKeyPair.generate(DESK), AgencyKeyPair.generate(CHARITY)
    intake_key = IntakeKeyPair.generate()
    intake_key.save(tmp_path / "intake.pem")
    with serving_hub(settings) as hub:
        hub.register(desk_keys, "triage")
        hub.register(charity_keys, "charity")
        agree(hub, referral_agreement("isa-bt-desk-charity", DESK, CHARITY, str(SAFEGUARDING_REFERRAL)))
        desk_config = connector_config(
            tmp_path / "connectors", desk_keys, hub, kafka_bootstrap, intake_key_path=tmp_path / "intake.pem"
        )
        charity_config = connector_config(tmp_path / "connectors", charity_keys, hub, kafka_bootstrap)
        add_staff(desk_config, "triage.officer", "triage-officer", PASSWORD)
        add_staff(charity_config, "case.worker", "case-worker", PASSWORD)

        with ConnectorsThread(settings, [desk_config, charity_config]) as federation:
            desk_url, charity_url = federation.urls[DESK], federation.urls[CHARITY]
            # 0. The desk's connector registered its own intake key at start-up (its agency assertion, no operator).
            shown = httpx.get(f"{hub.base_url}/intake/key").json()
            assert (shown["agency"], shown["key_id"]) == (DESK, intake_key.key_id)
            assert httpx.get(f"{desk_url}/healthz").status_code == 200

            # 1. The public form: sealed in the browser; the hub received only ciphertext.
            reference, progress_link, bodies = _refer(page, hub.base_url)
            assert reference.startswith("OD-")
            [body] = bodies
            assert "sealed=" in body
            for secret in (GIVEN, FAMILY, "Testborough", "station"):
                assert secret not in body, f"the hub received {secret!r} in clear"

            # 2. The triage officer: inbox, the referral decrypted here, routed to the charity.
            officer = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
            officer.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
            _sign_in(officer, desk_url, "triage.officer")
            _wait_in_inbox(officer, desk_url, f"{GIVEN} {FAMILY}")
            assert officer.locator("text=Public referral").count() >= 1
            assert officer.locator("text=Same day").count() >= 1
            officer.screenshot(path=str(artifacts_dir / "workbench-inbox.png"), full_page=True)
            assert_accessible(officer, "the workbench inbox")

            officer.click(f"text={GIVEN} {FAMILY}")
            officer.wait_for_selector("[data-testid=item-title]")
            assert officer.inner_text("[data-testid=item-title]") == f"{GIVEN} {FAMILY}"
            assert SUMMARY in officer.content()
            assert reference in officer.content()
            officer.screenshot(path=str(artifacts_dir / "workbench-referral.png"), full_page=True)

            officer.check('input[name="decision"][value="intervention"]')
            officer.wait_for_selector("#service", state="visible")
            officer.select_option("#service", str(CHARITY))
            officer.screenshot(path=str(artifacts_dir / "workbench-decision-form.png"), full_page=True)
            assert_accessible(officer, "the referral page with the triage form")
            officer.click("button:has-text('Record decision')")
            officer.wait_for_selector(".govuk-notification-banner--success")
            assert "Decision recorded" in officer.inner_text(".govuk-notification-banner--success")
            assert "Time to triage" in officer.content()
            officer.screenshot(path=str(artifacts_dir / "workbench-decision.png"), full_page=True)
            stored = federation.processes[DESK].desk.store.by_reference(reference)
            assert stored is not None
            assert (stored.status, stored.decision_target) == ("triaged", CHARITY)
            assert stored.time_to_triage_ms is not None

            # 3. The charity's inbox shows it, decrypted in the charity's own connector.
            worker = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
            worker.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
            _sign_in(worker, charity_url, "case.worker")
            _wait_in_inbox(worker, charity_url, f"{GIVEN} {FAMILY}")
            worker.screenshot(path=str(artifacts_dir / "service-inbox.png"), full_page=True)
            worker.click(f"text={GIVEN} {FAMILY}")
            assert SUMMARY in worker.content()
            assert "Record decision" not in worker.content(), "a service does not triage"

            # 4. The referrer sees status only.
            assert progress_link is not None
            page.goto(f"{hub.base_url}{progress_link}")
            assert page.inner_text("#status") == "Being handled"
            assert GIVEN not in page.content()
            officer.context.close()
            worker.context.close()
