"""Agencies in the console, in real headless Chromium: the hub operator registers an agency and suspends it.

A form with a bad key is refused with the error next to the field and nothing registered; the
good one registers the agency, which the operator then suspends and reinstates. Every page passes
axe-core; screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from hub.agencies.request import make_request
from hub.agencies.schemas import b64url
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.browser.conftest import ServedHub, assert_accessible, hub_settings, serving_hub
from tests.browser.console import expected_status_errors, screenshot, sign_in

pytestmark = pytest.mark.browser

NEW = AgencyId("synthetic-youth-project")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServedHub]:
    with serving_hub(hub_settings(tmp_path, None)) as served:
        yield served


def test_the_operator_registers_an_agency_and_suspends_it(page: Page, page_errors: list[str], hub: ServedHub) -> None:
    keys = AgencyKeyPair.generate(NEW)
    sign_in(page, hub, Role.HUB_OPERATOR)
    page.goto(f"{hub.base_url}/console/agencies")
    page.get_by_role("link", name="Register an agency by its keys").click()

    page.get_by_label("Agency id").fill(NEW)
    page.get_by_label("Name").fill("Synthetic Youth Project")
    page.get_by_label("Charity").check()
    page.get_by_label("Signing public key (Ed25519, base64url)").fill("not-a-key")
    page.get_by_label("Encryption public key (X25519, base64url)").fill(b64url(keys.encryption_public))
    page.get_by_role("button", name="Register agency").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Ed25519 signing public key")
    expect(page.locator("#signing-key-error")).to_be_visible()
    expect(page.get_by_test_id("error-codes")).to_contain_text("agency.bad_public_key")
    expected_status_errors(page_errors, 422)
    assert_accessible(page, "the register form with an error")
    screenshot(page, "agency-register-error")
    assert httpx.get(f"{hub.base_url}/agencies/{NEW}").status_code == 404

    page.get_by_label("Signing public key (Ed25519, base64url)").fill(b64url(keys.signing_public))
    page.get_by_role("button", name="Register agency").click()
    expect(page.get_by_text("The agency was registered with both keys current.")).to_be_visible()
    expect(page.get_by_test_id("agency-status")).to_contain_text("Active")
    expect(page.get_by_test_id("keys-table")).to_contain_text(str(keys.signing_key_id))
    assert_accessible(page, "the new agency's page")
    screenshot(page, "agency-registered")

    page.get_by_role("button", name=f"Suspend {NEW}").click()
    expect(page.get_by_text("The agency was suspended")).to_be_visible()
    expect(page.get_by_test_id("agency-status")).to_contain_text("Suspended")
    assert httpx.get(f"{hub.base_url}/agencies/{NEW}").json()["status"] == "suspended"
    screenshot(page, "agency-suspended")

    page.goto(f"{hub.base_url}/console/agencies")
    expect(page.get_by_test_id(f"agency-{NEW}")).to_contain_text("Suspended")
    assert_accessible(page, "the agency list")
    screenshot(page, "agencies")


def test_the_operator_uploads_a_registration_request(
    page: Page, page_errors: list[str], hub: ServedHub, tmp_path: Path
) -> None:
    keys = AgencyKeyPair.generate(AgencyId("synthetic-school"))
    request = tmp_path / "registration-request.json"
    request.write_text(json.dumps(make_request(keys, kind="education", display_name="Synthetic School")))
    sign_in(page, hub, Role.HUB_OPERATOR)
    page.goto(f"{hub.base_url}/console/agencies")
    page.get_by_role("link", name="Approve a registration request").click()
    page.get_by_label("Upload the registration request").set_input_files(str(request))
    expect(page.locator("#request-json")).to_have_value(re.compile("synthetic-school"))
    page.get_by_label("Signing key id the agency read to you").fill("k1_" + "0" * 32)
    page.get_by_role("button", name="Approve and register").click()
    expect(page.locator("#signing-key-id-error")).to_contain_text(f"The request's signing key is {keys.signing_key_id}")
    expected_status_errors(page_errors, 422)
    assert_accessible(page, "the approve-a-request form with an error")
    screenshot(page, "agency-request-wrong-key")

    page.get_by_label("Signing key id the agency read to you").fill(str(keys.signing_key_id))
    page.get_by_role("button", name="Approve and register").click()
    expect(page.get_by_text("The agency was registered with both keys current.")).to_be_visible()
    expect(page.get_by_test_id("keys-table")).to_contain_text(str(keys.encryption_key_id))
