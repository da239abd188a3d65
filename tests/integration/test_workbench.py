"""The workbench's routes through the connector's real FastAPI app, a real SQLite store and a desk
whose sender is a list: sign-in required, wrong password, CSRF, rate limits, viewers cannot decide,
the triage form's errors, a decision recorded, the bearer-token REST API for referrals."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from connectors.agent.api import create_app
from connectors.agent.notices import NoticeBoard
from connectors.agent.runtime import build_workbench
from connectors.sdk.connector import ReceivedMessage
from connectors.status import DisclosureLog
from connectors.triage.desk import TriageDesk
from connectors.workbench import users
from connectors.workbench.store import Item, WorkbenchStore
from connectors.workbench.users import Staff
from connectors.workbench.web import Workbench
from onedoor.envelope.header import Header
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.ids import ContractName, CorrelationId, KeyId, MessageId, Purpose, SubjectToken
from tests.unit.agent.fakes import TOKEN, FakeChecker, config
from tests.unit.triage.world import CHARITY, DESK, NO_AGREEMENT, POLICE, FakeProgress, FakeSender, desk, referral_json

pytestmark = pytest.mark.integration

PASSWORD = "a fake but long password"
CHILD = "Synthia Example"


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
    progress: FakeProgress
    item: Item

    @property
    def sent(self) -> list[dict[str, object]]:
        sender = self.desk._sender
        assert isinstance(sender, FakeSender)
        return sender.sent


def _form() -> PublicReferralForm:
    return PublicReferralForm.model_validate(
        {
            "referrer": {"relationship": "neighbour"},
            "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 15},
            "concern_categories": ["COUNTY_LINES"],
            "concern_summary": "Seen with older men and new phones.",
            "urgency": "SAME_DAY",
            "parent_carer_knows": "not-sure",
        }
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = config(
        tmp_path, agency=DESK, workbench={"secure_cookies": False, "sign_in_attempts": 3}, data_dir=tmp_path / "data"
    )
    store = WorkbenchStore(settings.workbench_database_url()).create()
    progress = FakeProgress()
    triage = desk(store, progress=progress)
    bench = build_workbench(settings, triage)
    staff = Staff(store)
    staff.add("officer.one", "triage-officer", PASSWORD)
    staff.add("viewer.one", "viewer", PASSWORD)
    item = triage.receive_public(_form(), reference="OD-TESTWB01", received_at=dt.datetime.now(dt.UTC))
    app = create_app(settings, Backend(triage, bench))
    async with _client(app) as client:
        yield World(client, store, triage, progress, item)
    store.close()


def _client(app: object, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)  # type: ignore[arg-type]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "every form carries a CSRF token"
    return found.group(1)


async def _sign_in(
    client: httpx.AsyncClient, username: str = "officer.one", password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/workbench/sign-in")
    return await client.post(
        "/workbench/sign-in", data={"username": username, "password": password, "csrf_token": _csrf(page.text)}
    )


async def test_every_page_needs_a_signed_in_member_of_staff(world: World) -> None:
    for path in ("/workbench/inbox", f"/workbench/items/{world.item.item_id}", "/workbench/timeline/st1_x"):
        response = await world.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/workbench/sign-in"
    refused = await world.client.post(
        f"/workbench/items/{world.item.item_id}/decision", data={"decision": "intervention"}
    )
    assert refused.status_code == 303
    assert world.sent == []
    assert world.store.item(world.item.item_id).viewed_at_ms is None, "nothing was opened"


async def test_a_wrong_password_is_refused_and_a_right_one_starts_a_session(world: World) -> None:
    wrong = await _sign_in(world.client, password="not the password at all")
    assert wrong.status_code == 401
    assert "Enter a correct username and password" in wrong.text
    assert "govuk-error-summary" in wrong.text
    assert "onedoor_wb_session" not in world.client.cookies

    right = await _sign_in(world.client)
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "onedoor_wb_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/workbench" in cookie
    inbox = await world.client.get("/workbench/inbox")
    assert inbox.status_code == 200
    assert CHILD in inbox.text
    assert "Same day" in inbox.text
    assert inbox.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in inbox.headers["content-security-policy"]


async def test_sign_in_without_its_csrf_token_is_forbidden(world: World) -> None:
    await world.client.get("/workbench/sign-in")
    response = await world.client.post("/workbench/sign-in", data={"username": "officer.one", "password": PASSWORD})
    assert response.status_code == 403
    assert "onedoor_wb_session" not in response.headers.get("set-cookie", "")


async def test_sign_in_attempts_are_limited(world: World) -> None:
    for _ in range(3):
        assert (await _sign_in(world.client, password="wrong wrong wrong")).status_code == 401
    limited = await _sign_in(world.client)
    assert limited.status_code == 429, "even the right password waits out the limit"
    assert "Too many failed attempts" in limited.text


async def test_a_decision_without_its_csrf_token_is_forbidden_and_nothing_is_sent(world: World) -> None:
    await _sign_in(world.client)
    path = f"/workbench/items/{world.item.item_id}/decision"
    response = await world.client.post(path, data={"decision": "intervention", "service": str(CHARITY)})
    assert response.status_code == 403
    wrong = await world.client.post(path, data={"decision": "intervention", "service": str(CHARITY), "csrf_token": "x"})
    assert wrong.status_code == 403
    assert world.sent == []
    assert world.store.item(world.item.item_id).status == "received"


async def test_a_viewer_reads_but_cannot_decide(world: World) -> None:
    await _sign_in(world.client, "viewer.one")
    page = await world.client.get(f"/workbench/items/{world.item.item_id}")
    assert page.status_code == 200
    assert CHILD in page.text
    assert "Record decision" not in page.text
    refused = await world.client.post(
        f"/workbench/items/{world.item.item_id}/decision",
        data={"decision": "intervention", "service": str(CHARITY), "csrf_token": _csrf(page.text)},
    )
    assert refused.status_code == 403
    assert world.sent == []
    assert world.store.item(world.item.item_id).decided_at_ms is None


async def test_the_triage_form_shows_errors_then_records_a_decision(world: World) -> None:
    await _sign_in(world.client)
    page = await world.client.get(f"/workbench/items/{world.item.item_id}")
    assert CHILD in page.text, "decrypted in the connector, shown to its staff"
    assert world.progress.reports == [("OD-TESTWB01", "being-handled")]
    token = _csrf(page.text)
    path = f"/workbench/items/{world.item.item_id}/decision"

    no_reason = await world.client.post(path, data={"decision": "no-further-action", "reason": "", "csrf_token": token})
    assert no_reason.status_code == 400
    assert "govuk-error-summary" in no_reason.text
    assert "Enter the reason for no further action" in no_reason.text
    assert 'href="#reason"' in no_reason.text

    no_agreement = await world.client.post(
        path, data={"decision": "intervention", "service": str(NO_AGREEMENT), "csrf_token": token}
    )
    assert no_agreement.status_code == 400
    assert "Test Youth Club" in no_agreement.text
    assert world.sent == []

    done = await world.client.post(
        path, data={"decision": "intervention", "service": str(CHARITY), "csrf_token": token}
    )
    assert done.status_code == 303
    [sent] = world.sent
    assert sent["recipients"] == [CHARITY]
    shown = await world.client.get(done.headers["location"])
    assert "Decision recorded" in shown.text
    assert "Time to triage" in shown.text
    inbox = await world.client.get("/workbench/inbox")
    assert "Triaged" in inbox.text


async def test_nothing_personal_is_logged_while_staff_work(world: World) -> None:
    with capture_logs() as logs:
        await _sign_in(world.client)
        page = await world.client.get(f"/workbench/items/{world.item.item_id}")
        await world.client.post(
            f"/workbench/items/{world.item.item_id}/decision",
            data={
                "decision": "no-further-action",
                "reason": "Known to Synthia's social worker",
                "csrf_token": _csrf(page.text),
            },
        )
    assert logs, "the requests were logged"
    text = repr(logs)
    for secret in ("Synthia", "Example", "social worker", PASSWORD, "officer.one", _csrf(page.text)):
        assert secret not in text, f"{secret!r} reached a log line"


async def test_a_young_persons_alert_timeline_is_in_the_order_things_happened(world: World) -> None:
    token = SubjectToken("st1_" + "T" * 43)
    base = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    for kind, hours, details in (("FOUND_OUT_OF_AREA", 5, "Found at a coastal station"), ("MISSING_EPISODE", 1, None)):
        body = {
            "alert_id": str(MessageId.new()),
            "kind": kind,
            "subject_token": str(token),
            "occurred_at": base + dt.timedelta(hours=hours),
            "reported_at": base + dt.timedelta(hours=6),
            "details": details,
            "risk_level": "HIGH",
        }
        await world.desk.on_alert(_alert(body, token))
    await _sign_in(world.client)
    inbox = await world.client.get("/workbench/inbox")
    assert "Found out of area" in inbox.text
    page = await world.client.get(f"/workbench/timeline/{token}")
    assert page.status_code == 200
    assert page.text.index("Missing episode") < page.text.index("Found out of area"), "in the order they happened"
    assert "Found at a coastal station" in page.text
    [found_alert] = [i for i in world.store.timeline(str(token)) if i.title == "Found out of area"]
    detail = await world.client.get(f"/workbench/items/{found_alert.item_id}")
    assert "Found at a coastal station" in detail.text
    assert f"/workbench/timeline/{token}" in detail.text
    assert "Record decision" not in detail.text, "alerts are not triaged"
    empty = await world.client.get("/workbench/timeline/st1_" + "Z" * 43)
    assert "No alerts about this young person" in empty.text


def _alert(body: dict[str, object], token: SubjectToken) -> ReceivedMessage:
    now = int(time.time() * 1000)
    header = Header(
        message_id=MessageId.new(),
        contract=ContractName("onedoor.alert.Alert"),
        contract_version=1,
        sender=POLICE,
        sender_signing_key=KeyId("k1_" + "0" * 32),
        sender_encryption_key=KeyId("k1_" + "1" * 32),
        recipients=(DESK,),
        purpose=Purpose("safeguarding-alert"),
        subject_token=token,
        created_at_ms=now,
        expires_at_ms=now + 60_000,
        correlation_id=CorrelationId.new(),
    )
    return ReceivedMessage(header, body)


async def test_sign_out_ends_the_session(world: World) -> None:
    await _sign_in(world.client)
    page = await world.client.get("/workbench/inbox")
    out = await world.client.post("/workbench/sign-out", data={"csrf_token": _csrf(page.text)})
    assert out.status_code == 303
    assert (await world.client.get("/workbench/inbox")).status_code == 303


async def test_secure_cookies_by_default(tmp_path: Path) -> None:
    settings = config(tmp_path, agency=DESK, data_dir=tmp_path / "data")
    store = WorkbenchStore(settings.workbench_database_url()).create()
    triage = desk(store)
    Staff(store).add("officer.one", "triage-officer", PASSWORD)
    app = create_app(settings, Backend(triage, build_workbench(settings, triage)))
    async with _client(app, "https://testserver") as client:
        response = await _sign_in(client)
        assert "Secure" in response.headers["set-cookie"]
    store.close()


async def test_the_rest_api_takes_referrals_and_decisions_with_its_bearer_token(world: World) -> None:
    client = world.client
    assert (await client.get("/triage/referrals")).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listed = (await client.get("/triage/referrals", headers=auth)).json()["items"]
    assert [i["reference"] for i in listed] == ["OD-TESTWB01"]
    bad = await client.post(
        f"/triage/referrals/{world.item.item_id}/decision", headers=auth, json={"decision": "no-further-action"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "triage.reason_required")
    shown = (await client.get(f"/triage/referrals/{world.item.item_id}", headers=auth)).json()
    assert shown["body"]["child"]["given_name"] == "Synthia"
    decided = (
        await client.post(
            f"/triage/referrals/{world.item.item_id}/decision",
            headers=auth,
            json={"decision": "no-further-action", "reason": "Already known", "by": "api-test"},
        )
    ).json()
    assert (decided["status"], decided["decided_by"]) == ("triaged", "api-test")
    assert decided["time_to_triage_ms"] >= 0
    # This desk has no triage desk to refer to: a clear refusal, nothing sent.
    refused = await client.post("/referrals", headers=auth, json=referral_json())
    assert (refused.status_code, refused.json()["code"]) == (403, "referral.no_triage_desk")
    nameless = await client.post("/referrals", headers=auth, json=referral_json(given_name="", family_name=""))
    assert nameless.json()["code"] == "referral.no_identifier"
    assert "Testy" not in nameless.text


@pytest.mark.parametrize("value", ["é", "1.é", "caf\u00e9." + "0" * 64])
async def test_non_ascii_cookies_and_csrf_tokens_get_the_usual_answer_not_a_500(world: World, value: str) -> None:
    # The header is sent as UTF-8 bytes; the server reads it as Latin-1: non-ASCII either way.
    raw = {"Cookie": f"onedoor_wb_session={value}".encode()}
    redirected = await world.client.get("/workbench/inbox", headers=raw)
    assert (redirected.status_code, redirected.headers["location"]) == (303, "/workbench/sign-in")

    page = await world.client.get("/workbench/sign-in")
    forged = await world.client.post(
        "/workbench/sign-in", data={"username": "officer.one", "password": PASSWORD, "csrf_token": value}
    )
    assert forged.status_code == 403, "a non-ASCII sign-in form token"
    world.client.cookies.clear()
    cookie_forged = await world.client.post(
        "/workbench/sign-in",
        data={"username": "officer.one", "password": PASSWORD, "csrf_token": _csrf(page.text)},
        headers={"Cookie": f"onedoor_wb_signin={value}".encode()},
    )
    assert cookie_forged.status_code == 403, "a non-ASCII sign-in cookie"
    world.client.cookies.clear()

    await _sign_in(world.client)
    path = f"/workbench/items/{world.item.item_id}/decision"
    refused = await world.client.post(
        path, data={"decision": "intervention", "service": str(CHARITY), "csrf_token": value}
    )
    assert refused.status_code == 403, "a non-ASCII decision form token"
    signed_out = await world.client.post("/workbench/sign-out", data={"csrf_token": value})
    assert signed_out.status_code == 403
    assert world.sent == []


async def _ticks_while(action: Awaitable[httpx.Response]) -> tuple[httpx.Response, int]:
    """Run ``action`` while another task ticks every 10 ms; the response and how often it ticked."""
    ticks = 0
    running = True

    async def tick() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        response = await action
    finally:
        running = False
        await ticker
    return response, ticks


async def test_password_checks_and_store_calls_do_not_block_the_event_loop(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow password check and a slow store stand in for scrypt and a busy database: while they
    # run, the connector's other tasks (inbox pump, intake reader) on the same loop must go on.
    real_verify = users.verify_password

    def slow_verify(password: str, encoded: str) -> bool:
        time.sleep(0.4)
        return real_verify(password, encoded)

    monkeypatch.setattr(users, "verify_password", slow_verify)
    page = await world.client.get("/workbench/sign-in")
    data = {"username": "officer.one", "password": PASSWORD, "csrf_token": _csrf(page.text)}
    signed_in, ticks = await _ticks_while(world.client.post("/workbench/sign-in", data=data))
    assert signed_in.status_code == 303
    assert ticks >= 10, f"the loop stalled during the password check ({ticks} ticks in 0.4 s)"

    real_items = world.store.items

    def slow_items(**kwargs: object) -> list[Item]:
        time.sleep(0.3)
        return real_items(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world.store, "items", slow_items)
    inbox, ticks = await _ticks_while(world.client.get("/workbench/inbox"))
    assert inbox.status_code == 200
    assert ticks >= 8, f"the loop stalled during a store call ({ticks} ticks in 0.3 s)"


async def test_an_unreadable_public_referral_is_listed_with_its_reference_and_cannot_be_triaged(world: World) -> None:
    lost = world.desk.receive_unreadable(
        reason="intake.key_unknown", received_at=dt.datetime.now(dt.UTC), reference="OD-TESTLOST", sealed="{}"
    )
    await _sign_in(world.client)
    inbox = await world.client.get("/workbench/inbox")
    assert "Unreadable referral OD-TESTLOST" in inbox.text
    assert "Unreadable public referral" in inbox.text
    page = await world.client.get(f"/workbench/items/{lost.item_id}")
    assert page.status_code == 200
    assert "OD-TESTLOST" in page.text
    assert "intake key this desk no longer holds" in page.text
    assert "intake.key_unknown" in page.text
    assert "Record decision" not in page.text
    refused = await world.client.post(
        f"/workbench/items/{lost.item_id}/decision",
        data={"decision": "intervention", "service": str(CHARITY), "csrf_token": _csrf(inbox.text)},
    )
    assert refused.status_code == 422
    assert world.sent == []
    assert world.progress.reports == [], "nothing is reported for a referral nobody could read"
