"""The audit page in real headless Chromium: search by message id, see the hash chain's status.

Routing rows are written as the router writes them (its audit sink, on its own engine over the
hub's SQLite file); sign-ins add the console's own authorization rows. An auditor searches by
message id and sees the chain verified up to the head; after one record is changed with raw
SQL the page shows the chain BROKEN at exactly that record, with the code. An ops viewer gets
the 403 page. Screenshots: tests/artifacts/console-audit-*.png.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from hub.auth.roles import Role
from hub.router.decide import Delivered
from hub.router.runtime import audit_sink
from hub.router.service import _audit_row
from onedoor.db import make_engine, make_session_factory
from tests.browser.conftest import ServedHub, assert_accessible, hub_settings, serving_hub
from tests.browser.console import expected_status_errors, screenshot, sign_in, sign_out

pytestmark = pytest.mark.browser

MSG = "5a2c0e3d-7b4f-4c8a-9d9e-3f4a5b6c7d8e"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServedHub]:
    settings = hub_settings(tmp_path, None)
    fast = settings.api.model_copy(update={"audit_verify_seconds": 0.5, "audit_checkpoint_seconds": 0.5})
    with serving_hub(settings.model_copy(update={"api": fast})) as served:
        yield served


def _route(hub: ServedHub, count: int) -> None:
    """Append ``count`` routing decisions through the router's audit sink, one batch."""
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        decision = Delivered(
            message_id=MSG if i == 3 else str(uuid.uuid4()),
            sender="browser-police",
            recipients=("browser-council",),
            contract="onedoor.referral.MasterReferral",
            contract_version=1,
            correlation_id=f"corr-{i}",
            subject_token="st1_FAKEbrowserAuditSubj01",
            created_at_ms=int(now.timestamp() * 1000),
            expires_at_ms=int((now + timedelta(days=7)).timestamp() * 1000),
            purpose="safeguarding-referral",
            agreement_id="isa-browser-audit",
            agreement_version=1,
        )
        rows.append({**_audit_row(decision, f"b.out.browser-police:0:{i}", now), "latency_ms": 20 + i})
    engine = make_engine(hub.settings.database_url, poolclass=NullPool)
    try:
        audit_sink(make_session_factory(engine))(rows)
    finally:
        engine.dispose()


def _seq_of_message(hub: ServedHub) -> tuple[int, int]:
    engine = make_engine(hub.settings.database_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            row = connection.execute(text("SELECT seq, id FROM audit_event WHERE message_id = :m"), {"m": MSG}).one()
            connection.execute(text("UPDATE audit_event SET recipients = 'someone-else' WHERE seq = :s"), {"s": row[0]})
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def _wait_for_status(page: Page, status: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        current = page.get_by_test_id("chain-status").get_attribute("data-status")
        if current == status or time.monotonic() > deadline:
            break
        time.sleep(0.5)
        page.reload()
    assert page.get_by_test_id("chain-status").get_attribute("data-status") == status


def test_an_auditor_searches_by_message_and_sees_the_chain_status(
    page: Page, page_errors: list[str], hub: ServedHub
) -> None:
    _route(hub, 12)
    sign_in(page, hub, Role.AUDITOR)
    page.goto(f"{hub.base_url}/console/audit")
    _wait_for_status(page, "verified")
    expect(page.get_by_test_id("chain-summary")).to_contain_text("Verified up to seq")

    page.get_by_label("Message id").fill(MSG)
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state("load")
    rows = page.get_by_test_id("audit-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(MSG)
    expect(rows.first).to_contain_text("route.delivered")
    expect(rows.first).to_contain_text("isa-browser-audit v1")
    assert_accessible(page, "the audit page")
    screenshot(page, "audit-search")

    seq, row_id = _seq_of_message(hub)  # someone changes that record in the database
    page.goto(f"{hub.base_url}/console/audit?message_id={MSG}")
    _wait_for_status(page, "broken")
    expect(page.get_by_test_id("chain-status")).to_contain_text(f"BROKEN at record {seq}")
    expect(page.get_by_test_id("chain-code")).to_have_text("audit.row_altered")
    expect(page.get_by_test_id("chain-summary")).to_contain_text(f"id {row_id}")
    screenshot(page, "audit-broken")
    assert page_errors == []


def test_a_malformed_search_says_so_without_echoing_it(page: Page, hub: ServedHub, page_errors: list[str]) -> None:
    sign_in(page, hub, Role.HUB_OPERATOR)
    page.goto(f"{hub.base_url}/console/audit")
    page.get_by_label("Subject token").fill("Testy McFakeface")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state("load")
    problem = page.get_by_test_id("search-problem")
    expect(problem).to_contain_text("subject_token.invalid")
    expect(problem).not_to_contain_text("Testy")
    expected_status_errors(page_errors, 422)
    assert page_errors == []


def test_an_ops_viewer_cannot_open_the_audit_page(page: Page, hub: ServedHub, page_errors: list[str]) -> None:
    sign_in(page, hub, Role.OPS_VIEWER)
    response = page.goto(f"{hub.base_url}/console/audit")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    expected_status_errors(page_errors, 403)
    sign_out(page)
