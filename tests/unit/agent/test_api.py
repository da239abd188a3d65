"""The connector's REST API against a fake checker: answers, input errors, the token, owner listings, logs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from connectors.agent.api import create_app
from connectors.status import VICTIM_IDENTIFICATION
from onedoor.ids import MessageId
from tests.unit.agent.fakes import AT, NOT_FOUND, POLICE, TOKEN, FakeBackend, config, notice

VICTIM = {"given_name": "Jon", "family_name": "Testwood-Fakeley", "date_of_birth": "14/03/2010", "postcode": "ZZ99 3ZZ"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(tmp_path: Path, backend: FakeBackend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config(tmp_path), backend)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as http:
        yield http


async def test_a_check_returns_the_readable_answer_and_its_parts(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    response = await client.post("/status-checks", json=VICTIM, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["found"] is True
    assert body["asked"] == ["fake-youth-charity", "lb-testborough-csc", "lb-silentborough-csc"]
    assert body["answered"] == ["fake-youth-charity", "lb-testborough-csc"]
    assert body["not_answered"] == ["lb-silentborough-csc"]
    assert body["elapsed_ms"] == 412.3
    [found] = body["matches"]
    assert found["agency"] == "lb-testborough-csc"
    assert found["flags"] == ["SUSPECTED_EXPLOITATION_VICTIM"]
    assert found["nrm_stage"] == "REASONABLE_GROUNDS_POSITIVE"
    assert found["lead_professional"]["phone"] == "01632 960123"
    assert body["text"].startswith("Known to lb-testborough-csc: suspected exploitation victim; NRM reasonable grounds")
    assert "Not answered in time: lb-silentborough-csc." in body["text"]
    # The typed identifiers were parsed (postcode cut to its district) and the configured deadlines used.
    [(identifiers, soft, hard)] = backend.checker.asked
    assert (identifiers.given_name, identifiers.postcode, identifiers.date_of_birth.isoformat()) == (
        "Jon",
        "ZZ99",
        "2010-03-14",
    )
    assert (soft, hard) == (1.5, 8)


async def test_no_record_is_an_answer_not_an_error(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    backend.checker.answer = NOT_FOUND
    response = await client.post("/status-checks", json={**VICTIM, "postcode": None}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["found"] is False
    assert response.json()["text"] == "No record found at the 2 agencies asked."


BAD_INPUT = [
    ("a date that is not a date", {"date_of_birth": "31/02/2010"}, "identity.invalid_date_of_birth", "31/02/2010"),
    ("a date in American order", {"date_of_birth": "03/14/2010"}, "identity.invalid_date_of_birth", "03/14/2010"),
    ("a date in words", {"date_of_birth": "fourteenth of March"}, "identity.invalid_date_of_birth", "fourteenth"),
    ("no date at all", {"date_of_birth": None}, "identity.invalid_date_of_birth", None),
    ("a given name of punctuation only", {"given_name": "--"}, "identity.empty_name", None),
    ("no family name", {"family_name": "   "}, "identity.empty_name", None),
    ("a postcode that is not a UK one", {"postcode": "Q1Q1Q"}, "identity.invalid_postcode", "Q1Q1Q"),
    ("a name that is not text", {"given_name": 12345}, "request.invalid", "12345"),
]


@pytest.mark.parametrize(("case", "change", "code", "value"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_is_a_422_with_its_code_and_never_echoes_the_value(
    *,
    client: httpx.AsyncClient,
    backend: FakeBackend,
    case: str,
    change: dict[str, object],
    code: str,
    value: str | None,
) -> None:
    response = await client.post("/status-checks", json={**VICTIM, **change}, headers=AUTH)
    assert response.status_code == 422, case
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message", "error_id"}
    if value is not None:
        assert value not in response.text
    assert "Testwood" not in response.text
    assert backend.checker.asked == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
    ids=["no token", "wrong token", "wrong scheme", "no scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/status-checks"), ("GET", "/disclosures/fake-rec-0001"), ("GET", "/notifications")]
)
async def test_every_route_but_healthz_needs_the_token(
    client: httpx.AsyncClient, backend: FakeBackend, headers: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, json=VICTIM if method == "POST" else None, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "connector.unauthenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in response.text
    assert backend.checker.asked == []


async def test_healthz_is_open_and_says_when_the_inbox_is_not_read(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    backend.healthy = False
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})


async def test_disclosures_list_who_was_told_about_a_record(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    first, second = MessageId.new(), MessageId.new()
    backend.disclosures.record("fake-rec-0001", POLICE, VICTIM_IDENTIFICATION, AT, first)
    backend.disclosures.record("fake-rec-0002", POLICE, VICTIM_IDENTIFICATION, AT, second)
    response = await client.get("/disclosures/fake-rec-0001", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "record_ref": "fake-rec-0001",
        "disclosures": [
            {
                "requester": "test-county-police",
                "purpose": "victim-identification",
                "at": "2026-03-01T12:00:00Z",
                "message_id": first,
            }
        ],
    }
    unknown = await client.get("/disclosures/fake-rec-unknown", headers=AUTH)
    assert unknown.json() == {"record_ref": "fake-rec-unknown", "disclosures": []}


async def test_notifications_are_newest_first_with_a_sentence(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    await backend.notices.notify(notice("fake-rec-0001"))
    await backend.notices.notify(notice("fake-rec-0002", at=AT.replace(minute=5)))
    response = await client.get("/notifications", params={"limit": 5}, headers=AUTH)
    listed = response.json()["notifications"]
    assert [n["record_ref"] for n in listed] == ["fake-rec-0002", "fake-rec-0001"]
    assert listed[0]["text"] == (
        "record fake-rec-0002 was checked by test-county-police for victim-identification at 2026-03-01 12:05:00 UTC"
    )
    assert listed[0]["fields"] == ["matches.record_reference"]
    assert len((await client.get("/notifications", params={"limit": 1}, headers=AUTH)).json()["notifications"]) == 1


async def test_one_log_line_per_request_without_names_dates_or_tokens(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        await client.post("/status-checks", json=VICTIM, headers=AUTH)
        await client.post("/status-checks", json={**VICTIM, "date_of_birth": "31/02/2010"}, headers=AUTH)
        await client.post("/status-checks", json=VICTIM, headers={"Authorization": "Bearer not-the-token"})
        await client.get("/disclosures/fake-rec-0001", headers=AUTH)
    requests = [entry for entry in logs if entry["event"] == "http.request"]
    assert [(r["route"], r["status"]) for r in requests] == [
        ("/status-checks", 200),
        ("/status-checks", 422),
        ("/status-checks", 401),
        ("/disclosures/{record_ref}", 200),
    ]
    written = json.dumps(logs, default=str)
    for secret in ("Jon", "Testwood", "14/03/2010", "31/02/2010", "2010-03-14", "ZZ99", TOKEN, "not-the-token"):
        assert secret not in written


async def test_the_token_can_come_from_a_file(tmp_path: Path, backend: FakeBackend) -> None:
    token_file = tmp_path / "api.token"
    token_file.write_text("fake-file-token-" + "y" * 32 + "\n")
    token_file.chmod(0o600)
    app = create_app(config(tmp_path, api={"token_file": token_file}), backend)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as http:
        good = await http.get("/notifications", headers={"Authorization": "Bearer fake-file-token-" + "y" * 32})
        bad = await http.get("/notifications", headers=AUTH)
    assert (good.status_code, bad.status_code) == (200, 401)
