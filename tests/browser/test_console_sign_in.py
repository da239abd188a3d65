"""Console sign-in in real headless Chromium against the whole hub served over HTTP.

A token that is not a hub token gets a clear message on the form (and no session); a good
token signs in and lands on a page of the console; "Sign out" ends the session, so the cookie
the browser had no longer opens a page; a sign-in form posted without its CSRF cookie, and a
sign-out posted with the wrong CSRF token, change nothing. Each attempt is in the audit trail,
never with the token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent
from hub.auth.roles import Role
from hub.console.models import ConsoleSession
from hub.console.shell import SESSION_COOKIE
from tests.browser.conftest import ServedHub, assert_accessible, hub_settings, serving_hub
from tests.browser.console import expected_status_errors, screenshot, sign_in, sign_out

pytestmark = pytest.mark.browser


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServedHub]:
    with serving_hub(hub_settings(tmp_path, None)) as served:
        yield served


def _events(hub: ServedHub, kind: str) -> list[AuditEvent]:
    engine = create_engine(hub.settings.database_url)
    try:
        with Session(engine) as db:
            return list(db.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))
    finally:
        engine.dispose()


def _sessions(hub: ServedHub) -> int:
    engine = create_engine(hub.settings.database_url)
    try:
        with Session(engine) as db:
            return len(list(db.scalars(select(ConsoleSession))))
    finally:
        engine.dispose()


def test_a_bad_token_gets_a_clear_error_and_no_session(page: Page, page_errors: list[str], hub: ServedHub) -> None:
    page.goto(f"{hub.base_url}/console")
    # Signed out: sent to the sign-in page, which remembers where the person was going.
    expect(page).to_have_url(f"{hub.base_url}/console/sign-in?next=%2Fconsole")
    page.get_by_label("Your hub access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("This is not a whole hub access token")
    expect(page).to_have_title("Error: Sign in \N{EN DASH} OneDoor console")
    assert_accessible(page, "the sign-in page with an error")
    screenshot(page, "sign-in-error")

    good = hub.issuer.mint(subject="late-viewer", roles=[Role.OPS_VIEWER])
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    page.get_by_label("Your hub access token").fill(tampered)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("not issued by an issuer this hub trusts")

    long_ago = datetime.now(UTC) - timedelta(hours=2)
    expired = hub.issuer.mint(subject="late-viewer", roles=[Role.OPS_VIEWER], now=long_ago, ttl=timedelta(minutes=5))
    page.get_by_label("Your hub access token").fill(expired)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("This token has expired")
    expected_status_errors(page_errors, 401)
    assert _sessions(hub) == 0
    denials = _events(hub, "console.sign_in")
    assert [e.outcome for e in denials] == ["deny", "deny", "deny"]
    assert [e.reason_code for e in denials] == ["auth.malformed_token", "auth.bad_signature", "auth.expired"]
    assert [e.actor for e in denials] == [None, None, "late-viewer"]
    assert all(good[:40] not in (e.detail or "") and expired[:40] not in (e.detail or "") for e in denials)


def test_sign_in_then_sign_out_ends_the_session(page: Page, hub: ServedHub) -> None:
    subject = sign_in(page, hub, Role.OPS_VIEWER)
    expect(page).to_have_url(f"{hub.base_url}/console")
    expect(page.get_by_test_id("console-subject")).to_have_text(subject)
    expect(page.get_by_role("navigation", name="Console pages")).to_contain_text("Dashboard")
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE and c["path"] == "/console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert _sessions(hub) == 1

    sign_out(page)
    expect(page).to_have_url(f"{hub.base_url}/console/sign-in")
    assert _sessions(hub) == 0
    # The old cookie, replayed, opens nothing.
    replay = httpx.get(f"{hub.base_url}/console", cookies={SESSION_COOKIE: cookie["value"]}, follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/console/sign-in")
    kinds = [(e.kind, e.outcome, e.actor) for e in _events(hub, "console.sign_out")]
    assert kinds == [("console.sign_out", "ok", subject)]


def test_forms_without_their_csrf_token_change_nothing(page: Page, page_errors: list[str], hub: ServedHub) -> None:
    token = hub.issuer.mint(subject="csrf-viewer", roles=[Role.OPS_VIEWER])
    # Sign-in form posted from elsewhere: no sign-in cookie, made-up form token.
    forged = httpx.post(
        f"{hub.base_url}/console/sign-in", data={"csrf_token": "forged", "token": token}, follow_redirects=False
    )
    assert forged.status_code == 400
    assert "The sign-in form expired" in forged.text
    assert f"{SESSION_COOKIE}=" not in forged.headers.get("set-cookie", "")
    assert _sessions(hub) == 0

    sign_in(page, hub, Role.OPS_VIEWER, subject="csrf-viewer")
    # A sign-out with the wrong CSRF token: the 400 page, and the session lives on.
    page.evaluate(
        """() => { const f = document.querySelector('form[action="/console/sign-out"]');
                   f.querySelector('input[name="csrf_token"]').value = 'wrong'; f.submit(); }"""
    )
    page.wait_for_load_state("load")
    expect(page.get_by_test_id("problem-code")).to_have_text("console.csrf_failed")
    expected_status_errors(page_errors, 400)
    assert _sessions(hub) == 1
    page.goto(f"{hub.base_url}/console")
    expect(page.get_by_test_id("console-subject")).to_have_text("csrf-viewer")
    reasons = [e.reason_code for e in _events(hub, "console.sign_in")] + [
        e.reason_code for e in _events(hub, "console.sign_out")
    ]
    assert reasons.count("console.csrf_failed") == 2


def test_next_only_leads_inside_the_console(page: Page, hub: ServedHub) -> None:
    sign_in(page, hub, Role.OPS_VIEWER, next_path="https://evil.example/console")
    expect(page).to_have_url(f"{hub.base_url}/console")


def _form_token(client: httpx.Client) -> str:
    page = client.get("/console/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_failed_sign_ins_are_limited_even_for_a_good_token_then(hub: ServedHub) -> None:
    with httpx.Client(base_url=hub.base_url, follow_redirects=False, timeout=30) as client:
        for _ in range(5):
            refused = client.post("/console/sign-in", data={"csrf_token": _form_token(client), "token": "x.y.z"})
            assert refused.status_code == 401
        good = hub.issuer.mint(subject="patient-viewer", roles=[Role.OPS_VIEWER])
        limited = client.post("/console/sign-in", data={"csrf_token": _form_token(client), "token": good})
        assert limited.status_code == 429
        assert "Too many failed sign-ins" in limited.text
        assert f"{SESSION_COOKIE}=" not in limited.headers.get("set-cookie", "")
    assert _sessions(hub) == 0
    assert [e.reason_code for e in _events(hub, "console.sign_in")][-1] == "console.sign_in_limited"
