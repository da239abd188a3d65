"""The workbench's audit trail through the connector's real FastAPI app and a real SQLite store: sign-ins
(failed and good), openings, timelines, decision attempts (denied, refused, done), CSRF refusals, the
REST API's decisions, the auditors' page; and nothing personal or secret in any line."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from connectors.agent.api import create_app
from connectors.agent.notices import NoticeBoard
from connectors.agent.runtime import build_workbench
from connectors.status import DisclosureLog
from connectors.triage.desk import TriageDesk
from connectors.workbench.store import AuditRecord, Item, WorkbenchStore
from connectors.workbench.users import Staff
from connectors.workbench.web import Workbench
from onedoor.envelope.intake_form import PublicReferralForm
from tests.unit.agent.fakes import TOKEN, FakeChecker, config
from tests.unit.triage.world import CHARITY, DESK, FakeProgress, FakeSender, desk

pytestmark = pytest.mark.integration

PASSWORD = "a fake but long password"
SUBJECT = "st1_" + "T" * 43


@dataclass
class Backend:
    """The connector process as the API sees it: a real desk and workbench, a fake checker."""

    desk: TriageDesk
    workbench: Workbench
    checker: FakeChecker = field(default_factory=FakeChecker)
    disclosures: DisclosureLog = field(default_factory=DisclosureLog)
    notices: NoticeBoard = field(default_factory=NoticeBoard)
    healthy: bool = True


@dataclass
class World:
    client: httpx.AsyncClient
    store: WorkbenchStore
    desk: TriageDesk
    item: Item

    def lines(self, *, after: int = 0) -> list[tuple[str | None, str, str, str | None]]:
        """(actor, action, outcome, reason code) of each line after line id ``after``, oldest first."""
        found = [a for a in reversed(self.store.audit_trail(limit=1000)) if a.id > after]
        return [(a.actor, a.action, a.outcome, a.reason_code) for a in found]

    def last_id(self) -> int:
        newest = self.store.audit_trail(limit=1)
        return newest[0].id if newest else 0

    def sent(self) -> list[dict[str, object]]:
        sender = self.desk._sender
        assert isinstance(sender, FakeSender)
        return sender.sent


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = config(
        tmp_path, agency=DESK, workbench={"secure_cookies": False, "sign_in_attempts": 3}, data_dir=tmp_path / "data"
    )
    store = WorkbenchStore(settings.workbench_database_url()).create()
    triage = desk(store, progress=FakeProgress())
    staff = Staff(store)
    staff.add("officer.one", "triage-officer", PASSWORD)
    staff.add("viewer.one", "viewer", PASSWORD)
    staff.add("auditor.one", "auditor", PASSWORD)
    form = PublicReferralForm.model_validate(
        {
            "referrer": {"relationship": "neighbour"},
            "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 15},
            "concern_categories": ["COUNTY_LINES"],
            "concern_summary": "Seen with older men and new phones.",
            "urgency": "SAME_DAY",
            "parent_carer_knows": "not-sure",
        }
    )
    item = triage.receive_public(form, reference="OD-TESTAUDIT", received_at=dt.datetime.now(dt.UTC))
    app = create_app(settings, Backend(triage, build_workbench(settings, triage)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield World(client, store, triage, item)
    store.close()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "every form carries a CSRF token"
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/workbench/sign-in")
    return await client.post(
        "/workbench/sign-in", data={"username": username, "password": password, "csrf_token": _csrf(page.text)}
    )


async def test_sign_ins_are_audited_with_why_one_failed(world: World) -> None:
    assert (await _sign_in(world.client, "nobody.here")).status_code == 401
    assert (await _sign_in(world.client, "officer.one", "not the password at all")).status_code == 401
    assert (await world.client.post("/workbench/sign-in", data={"username": "officer.one"})).status_code == 403
    assert (await _sign_in(world.client, "officer.one")).status_code == 303
    page = await world.client.get("/workbench/inbox")
    assert (await world.client.post("/workbench/sign-out", data={"csrf_token": "forged"})).status_code == 403
    assert (await world.client.post("/workbench/sign-out", data={"csrf_token": _csrf(page.text)})).status_code == 303
    assert world.lines() == [
        (None, "workbench.sign_in", "deny", "workbench.unknown_user"),
        ("officer.one", "workbench.sign_in", "deny", "workbench.wrong_password"),
        (None, "workbench.sign_in", "deny", "workbench.csrf_refused"),
        ("officer.one", "workbench.sign_in", "permit", None),
        ("officer.one", "workbench.csrf_refused", "deny", "workbench.sign_out"),
        ("officer.one", "workbench.sign_out", "ok", None),
    ]
    [signed_in] = [a for a in world.store.audit_trail() if a.outcome == "permit"]
    assert signed_in.request_id is not None, "the line carries the request's id (as its log line does)"
    assert signed_in.address_fp is not None


async def test_a_rate_limited_sign_in_is_audited(world: World) -> None:
    for _ in range(3):
        await _sign_in(world.client, "officer.one", "wrong wrong wrong")
    assert (await _sign_in(world.client, "officer.one")).status_code == 429
    assert world.lines()[-1] == ("officer.one", "workbench.sign_in", "deny", "workbench.sign_in_limited")


async def test_openings_timelines_and_decisions_are_audited(world: World) -> None:
    item = world.item.item_id
    assert (await world.client.get(f"/workbench/items/{item}")).status_code == 303
    await _sign_in(world.client, "viewer.one")
    start = world.last_id()
    page = await world.client.get(f"/workbench/items/{item}")
    assert page.status_code == 200
    assert (await world.client.get(f"/workbench/timeline/{SUBJECT}")).status_code == 200
    decision = {"decision": "intervention", "service": str(CHARITY), "csrf_token": _csrf(page.text)}
    assert (await world.client.post(f"/workbench/items/{item}/decision", data=decision)).status_code == 403
    assert world.sent() == []
    assert world.lines(after=start) == [
        ("viewer.one", "workbench.item_viewed", "permit", None),
        ("viewer.one", "workbench.timeline_viewed", "permit", None),
        ("viewer.one", "triage.decide", "deny", "workbench.role_cannot_decide"),
    ]
    viewed, timeline, _ = [a for a in reversed(world.store.audit_trail()) if a.id > start]
    assert (viewed.item_id, timeline.subject_token) == (item, SUBJECT)
    [before_sign_in] = world.store.audit_trail(item_id=item)[-1:]
    assert (before_sign_in.actor, before_sign_in.outcome, before_sign_in.reason_code) == (
        None,
        "deny",
        "workbench.not_signed_in",
    ), "an opening without a session is a denial, audited too"

    world.client.cookies.clear()
    await _sign_in(world.client, "officer.one")
    start = world.last_id()
    page = await world.client.get(f"/workbench/items/{item}")
    path = f"/workbench/items/{item}/decision"
    token = _csrf(page.text)
    assert (await world.client.post(path, data={**decision, "csrf_token": "forged"})).status_code == 403
    no_reason = {"decision": "no-further-action", "reason": "", "csrf_token": token}
    assert (await world.client.post(path, data=no_reason)).status_code == 400
    assert (await world.client.post(path, data={**decision, "csrf_token": token})).status_code == 303
    assert (await world.client.post(path, data={**decision, "csrf_token": token})).status_code == 409
    assert len(world.sent()) == 1
    assert world.lines(after=start) == [
        ("officer.one", "workbench.item_viewed", "permit", None),
        ("officer.one", "workbench.csrf_refused", "deny", "triage.decide"),
        ("officer.one", "triage.decide", "permit", None),
        ("officer.one", "triage.decide", "refused", "triage.reason_required"),
        ("officer.one", "triage.decide", "permit", None),
        ("officer.one", "triage.decide", "ok", None),
        ("officer.one", "triage.decide", "permit", None),
        ("officer.one", "triage.decide", "refused", "triage.already_decided"),
    ]


async def test_the_rest_api_is_audited_once_as_api(world: World) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    path = f"/triage/referrals/{world.item.item_id}"
    assert (await world.client.get(path, headers=auth)).status_code == 200
    bad = await world.client.post(f"{path}/decision", headers=auth, json={"decision": "no-further-action"})
    assert bad.status_code == 422
    done = await world.client.post(
        f"{path}/decision", headers=auth, json={"decision": "no-further-action", "reason": "Known", "by": "Synthia"}
    )
    assert done.json()["decided_by"] == "Synthia"
    assert world.lines() == [
        ("api", "workbench.item_viewed", "permit", None),
        ("api", "triage.decide", "refused", "triage.reason_required"),
        ("api", "triage.decide", "ok", None),
    ], "what the caller says in 'by' is not who the audit trail names"


async def test_only_an_auditor_reads_the_audit_trail(world: World) -> None:
    assert (await world.client.get("/workbench/audit")).status_code == 303
    await _sign_in(world.client, "viewer.one")
    refused = await world.client.get("/workbench/audit")
    assert refused.status_code == 403
    assert "You cannot read the audit trail" in refused.text
    assert 'href="/workbench/audit"' not in (await world.client.get("/workbench/inbox")).text, "no link for a viewer"
    await world.client.get(f"/workbench/items/{world.item.item_id}")

    world.client.cookies.clear()
    await _sign_in(world.client, "auditor.one")
    inbox = await world.client.get("/workbench/inbox")
    assert 'href="/workbench/audit"' in inbox.text
    page = await world.client.get("/workbench/audit")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'data-testid="audit"' in page.text
    assert "workbench.role_cannot_audit" in page.text
    assert "viewer.one" in page.text
    assert world.item.item_id in page.text
    assert "Synthia" not in page.text, "ids and codes, never a name"
    one = await world.client.get(f"/workbench/audit?item={world.item.item_id}")
    assert one.status_code == 200
    assert "workbench.item_viewed" in one.text
    assert "workbench.role_cannot_audit" not in one.text, "only the item's lines"
    decided = await world.client.post(
        f"/workbench/items/{world.item.item_id}/decision",
        data={"decision": "intelligence", "csrf_token": _csrf(inbox.text)},
    )
    assert decided.status_code == 403, "an auditor reads; it never decides"
    assert world.lines()[-1] == ("auditor.one", "triage.decide", "deny", "workbench.role_cannot_decide")
    denied = [a for a in world.store.audit_trail() if a.action == "workbench.audit_viewed"]
    assert [(a.actor, a.outcome) for a in reversed(denied)] == [
        (None, "deny"),
        ("viewer.one", "deny"),
        ("auditor.one", "permit"),
        ("auditor.one", "permit"),
    ]


async def test_no_name_password_session_or_csrf_token_reaches_the_audit_trail(world: World) -> None:
    secrets: set[str] = {"Synthia", "Example", "social worker", PASSWORD, "wrong wrong wrong"}
    await _sign_in(world.client, PASSWORD, PASSWORD)  # a password typed as the username
    await _sign_in(world.client, "officer.one", "wrong wrong wrong")
    await _sign_in(world.client, "officer.one")
    secrets.update(v for v in world.client.cookies.values())
    page = await world.client.get(f"/workbench/items/{world.item.item_id}")
    secrets.add(_csrf(page.text))
    await world.client.get("/workbench/items/Synthia%20Example")
    await world.client.get("/workbench/timeline/Synthia%20Example")
    await world.client.post(
        f"/workbench/items/{world.item.item_id}/decision",
        data={"decision": "no-further-action", "reason": "Known to Synthia's social worker", "csrf_token": "x"},
    )
    await world.client.post(
        f"/workbench/items/{world.item.item_id}/decision",
        data={
            "decision": "no-further-action",
            "reason": "Known to Synthia's social worker",
            "csrf_token": _csrf(page.text),
        },
    )
    lines = world.store.audit_trail(limit=1000)
    assert len(lines) >= 9
    assert ("officer.one", "triage.decide", "ok", None) in world.lines()
    with world.store._engine.connect() as connection:
        raw = repr(connection.execute(text("SELECT * FROM workbench_audit")).all())
    assert len(secrets) >= 7, "the session and sign-in cookies and the CSRF token are among them"
    for secret in secrets:
        assert secret not in raw, f"{secret!r} reached the audit trail"
    assert all(_only_ids_and_codes(a) for a in lines)


def _only_ids_and_codes(line: AuditRecord) -> bool:
    return all(
        value is None or re.fullmatch(r"[a-z0-9][a-z0-9._@:_-]*|st1_[A-Za-z0-9_-]+", value)
        for value in (line.actor, line.action, line.item_id, line.subject_token, line.reason_code)
    )
