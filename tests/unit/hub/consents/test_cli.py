"""`onedoor consent`: what each command sends to the hub and what it prints, against a fake hub."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.consents import cli
from onedoor.cli import app
from tests.unit.hub.fake_hub import FakeHub

TOKEN = "st1_FAKEtokenForTestsOnly00"
PATH = f"/consents/{TOKEN}"


def _record(status: str, agency: str = "met-police", by: str | None = "pc1234", **extra: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "status": status,
        "agency_id": agency,
        "recorded_at": "2026-11-22T12:00:00Z",
        "recorded_by": by,
        "justification": None,
        "reference": None,
    } | extra


def _override(reviewed_by: str | None = None) -> dict[str, Any]:
    return {
        "id": 7,
        "agency_id": "met-police",
        "recorded_at": "2026-11-22T12:01:00Z",
        "starts_at": "2026-11-22T12:01:00Z",
        "expires_at": "2026-11-23T12:01:00Z",
        "justification": "risk-of-significant-harm",
        "reviewed": reviewed_by is not None,
        "reviewed_at": "2026-11-22T12:05:00Z" if reviewed_by else None,
        "recorded_by": "pc1234",
        "reviewed_by": reviewed_by,
        "reference": None,
    }


def _consent(record: dict[str, Any] | None, override: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "subject_token": TOKEN,
        "state": {"status": record["status"] if record else "not-recorded", "record": record, "override": override},
        "records": [record] if record else [],
        "overrides": [override] if override else [],
    }


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(cli, "client_factory", fake.client)
    return fake


def _run(*args: str, with_token: bool = True) -> tuple[int, str, str]:
    env = {"ONEDOOR_TOKEN": "fake-token"} if with_token else {}
    result = CliRunner().invoke(app, ["consent", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_record_sends_codes_only_and_prints_the_state(hub: FakeHub) -> None:
    record = _record("not-sought-risk", justification="would-prejudice-protection")
    hub.responses = {("POST", PATH): (201, _consent(record))}
    code, out, err = _run(
        "record", TOKEN, "--status", "not-sought-risk", "--agency", "met-police", "--by", "pc1234",
        "--justification", "would-prejudice-protection", "--reference", "CP/26/7",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(hub.seen[0].content) == {
        "status": "not-sought-risk",
        "agency_id": "met-police",
        "recorded_by": "pc1234",
        "justification": "would-prejudice-protection",
        "reference": "CP/26/7",
    }
    assert hub.seen[0].headers["Authorization"] == "Bearer fake-token"
    assert "consent: not-sought-risk (recorded 2026-11-22T12:00:00Z by pc1234 for met-police)" in out


def test_override_asks_for_a_time_box_and_says_it_needs_a_review(hub: FakeHub) -> None:
    hub.responses = {("POST", f"{PATH}/overrides"): (201, _override())}
    before = datetime.now(UTC)
    code, out, err = _run(
        "override", TOKEN, "--agency", "met-police", "--by", "pc1234",
        "--justification", "risk-of-significant-harm", "--hours", "12",
    )  # fmt: skip
    assert code == 0, err
    sent = json.loads(hub.seen[0].content)
    assert sent["justification"] == "risk-of-significant-harm"
    expires = datetime.fromisoformat(sent["expires_at"])
    assert before + timedelta(hours=12) <= expires <= datetime.now(UTC) + timedelta(hours=12)
    assert "override 7: risk-of-significant-harm" in out
    assert "awaiting review" in out
    assert "onedoor consent review SUBJECT_TOKEN 7" in out


def test_override_longer_than_72_hours_is_refused_before_any_request(hub: FakeHub) -> None:
    code, _, _ = _run(
        "override", TOKEN, "--agency", "met-police", "--by", "pc1234",
        "--justification", "risk-to-life", "--hours", "73",
    )  # fmt: skip
    assert code != 0
    assert hub.seen == []


def test_review_sends_the_reviewer_and_shows_the_override_in_force(hub: FakeHub) -> None:
    reviewed = _override("dci-0007")
    hub.responses = {("POST", f"{PATH}/overrides/7/review"): (200, _consent(_record("withdrawn"), reviewed))}
    code, out, err = _run("review", TOKEN, "7", "--by", "dci-0007")
    assert code == 0, err
    assert json.loads(hub.seen[0].content) == {"reviewed_by": "dci-0007"}
    assert "reviewed by dci-0007" in out
    assert "override given to the engine: 7" in out


def test_show_prints_the_state_and_the_history(hub: FakeHub) -> None:
    hub.responses = {("GET", PATH): (200, _consent(_record("refused", agency="lb-hackney-csc", by=None), _override()))}
    code, out, err = _run("show", TOKEN)
    assert code == 0, err
    assert "consent: refused (recorded 2026-11-22T12:00:00Z by - for lb-hackney-csc)" in out
    assert "override given to the engine: 7" in out
    assert "records:" in out
    assert "overrides:" in out


def test_hub_errors_print_their_code_and_exit_1(hub: FakeHub) -> None:
    refused = {"code": "consent.same_reviewer", "message": "reviewed by a second person", "error_id": "x"}
    hub.responses = {("POST", f"{PATH}/overrides/7/review"): (422, refused)}
    code, _, err = _run("review", TOKEN, "7", "--by", "pc1234")
    assert code == 1
    assert "reviewed by a second person (consent.same_reviewer, HTTP 422)" in err


@pytest.mark.parametrize("subject", ["Jane Doe", "st1_short", "st1_FAKEtokenForTestsOnly00/../x"])
def test_something_that_is_not_a_token_never_leaves_the_machine(hub: FakeHub, subject: str) -> None:
    code, _, err = _run("show", subject)
    assert code == 1
    assert "not a subject token" in err
    assert subject not in err
    assert hub.seen == []


def test_no_token_is_refused_before_any_request(hub: FakeHub) -> None:
    code, _, err = _run("show", TOKEN, with_token=False)
    assert code == 1
    assert "no token" in err
    assert hub.seen == []
