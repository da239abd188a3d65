"""`onedoor agreement`: what each command sends to the hub and what it prints, against a fake hub."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.agreements import cli
from hub.agreements.signing import verify_approval
from onedoor.cli import app
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.unit.hub.fake_hub import FakeHub

DIGEST = "ab" * 32


def _version(state: str, approvals: list[str]) -> dict[str, Any]:
    return {
        "version": 1,
        "state": state,
        "digest": DIGEST,
        "proposed_by": "admin@met-police",
        "proposed_at": "2026-11-22T02:00:00Z",
        "changed_at": "2026-11-22T02:00:00Z",
        "signatories": ["lb-hackney-csc", "met-police"],
        "approvals": [
            {"agency": a, "approver": f"admin@{a}", "approved_at": "2026-11-22T02:01:00Z", "digest": DIGEST}
            for a in approvals
        ],
        "body": {
            "id": "isa-met-hackney",
            "title": "",
            "parties": ["agency:met-police", "agency:lb-hackney-csc"],
            "contracts": ["onedoor.referral.MasterReferral"],
            "purposes": ["safeguarding-referral"],
            "provisions": [{"effect": "permit", "access_level": "limited"}],
            "lawful_basis": {
                "article6": "UK GDPR Art. 6(1)(e)",
                "article9": None,
                "conditions": [],
                "statutes": ["Children Act 2004 s.11"],
            },
            "retention_days": 365,
            "review_date": "2027-11-22",
        },
    }


def _agreement(state: str, approvals: list[str]) -> dict[str, Any]:
    in_force = 1 if state in {"active", "suspended"} else None
    return {"id": "isa-met-hackney", "in_force": in_force, "latest": 1, "versions": [_version(state, approvals)]}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(cli, "client_factory", fake.client)
    return fake


def _run(*args: str, with_token: bool = True) -> tuple[int, str, str]:
    env = {"ONEDOOR_TOKEN": "fake-token"} if with_token else {}
    result = CliRunner().invoke(app, ["agreement", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_propose_sends_the_file_and_says_who_must_approve(hub: FakeHub, tmp_path: Path) -> None:
    hub.responses = {("POST", "/agreements"): (201, _agreement("proposed", []))}
    file = tmp_path / "isa.json"
    file.write_text(json.dumps({"id": "isa-met-hackney"}))
    code, out, _ = _run("propose", str(file))
    assert code == 0
    assert json.loads(hub.seen[0].content) == {"agreement": {"id": "isa-met-hackney"}, "amends": None}
    assert hub.seen[0].headers["Authorization"] == "Bearer fake-token"
    assert "proposed isa-met-hackney version 1: proposed" in out
    assert "waiting for approval by: lb-hackney-csc, met-police" in out


def test_approve_sends_the_digest_of_the_version_it_names(hub: FakeHub) -> None:
    hub.responses = {
        ("GET", "/agreements/isa-met-hackney"): (200, _agreement("proposed", [])),
        ("POST", "/agreements/isa-met-hackney/versions/1/approve"): (200, _agreement("proposed", ["met-police"])),
    }
    code, out, _ = _run("approve", "isa-met-hackney", "--version", "1")
    assert code == 0
    assert json.loads(hub.seen[1].content) == {"digest": DIGEST}
    assert "still waiting for: lb-hackney-csc" in out


def test_hub_errors_print_their_code_and_exit_1(hub: FakeHub) -> None:
    refused = {"code": "agreement.stale_version", "message": "version 1 was replaced", "error_id": "x"}
    hub.responses = {
        ("GET", "/agreements/isa-met-hackney"): (200, _agreement("proposed", [])),
        ("POST", "/agreements/isa-met-hackney/versions/1/approve"): (409, refused),
    }
    code, _, err = _run("approve", "isa-met-hackney", "--version", "1")
    assert code == 1
    assert "version 1 was replaced (agreement.stale_version, HTTP 409)" in err


def test_show_and_list_are_readable(hub: FakeHub) -> None:
    summary = {
        "id": "isa-met-hackney",
        "title": "",
        "latest": 1,
        "latest_state": "active",
        "in_force": 1,
        "parties": ["agency:met-police", "agency:lb-hackney-csc"],
    }
    hub.responses = {
        ("GET", "/agreements/isa-met-hackney"): (200, _agreement("active", ["met-police", "lb-hackney-csc"])),
        ("GET", "/agreements"): (200, {"items": [summary]}),
    }
    code, out, _ = _run("show", "isa-met-hackney")
    assert code == 0
    assert "(in force: version 1)" in out
    assert "basis:      UK GDPR Art. 6(1)(e); Children Act 2004 s.11" in out
    assert "by admin@lb-hackney-csc for lb-hackney-csc" in out
    code, out, _ = _run("list")
    assert code == 0
    assert out.splitlines()[1].split()[:4] == ["isa-met-hackney", "1", "active", "1"]


def test_revoke_and_suspend(hub: FakeHub) -> None:
    hub.responses = {
        ("POST", "/agreements/isa-met-hackney/revoke"): (200, _agreement("revoked", ["met-police"])),
        ("POST", "/agreements/isa-met-hackney/suspend"): (200, _agreement("suspended", ["met-police"])),
    }
    assert _run("suspend", "isa-met-hackney")[1].strip() == "suspended isa-met-hackney version 1"
    assert _run("revoke", "isa-met-hackney")[1].strip() == "revoked isa-met-hackney (version 1)"


def test_no_token_is_refused_before_any_request(hub: FakeHub) -> None:
    code, _, err = _run("list", with_token=False)
    assert code == 1
    assert "no token" in err
    assert hub.seen == []


def test_approve_signs_with_the_agency_key_when_given(hub: FakeHub, tmp_path: Path) -> None:
    keys = AgencyKeyPair.generate(AgencyId("met-police"))
    keys.save(tmp_path / "keys")
    hub.responses = {
        ("GET", "/agreements/isa-met-hackney"): (200, _agreement("proposed", [])),
        ("POST", "/agreements/isa-met-hackney/versions/1/approve"): (200, _agreement("proposed", ["met-police"])),
    }
    code, out, _ = _run(
        "approve", "isa-met-hackney", "--version", "1", "--signing-key", str(tmp_path / "keys/signing.pem")
    )
    assert code == 0, out
    assert "(signed)" in out
    sent = json.loads(hub.seen[1].content)
    signature = base64.urlsafe_b64decode(sent["signature"] + "==")
    assert verify_approval(keys.signing_public, signature, "isa-met-hackney", 1, DIGEST)
    assert not verify_approval(keys.signing_public, signature, "isa-met-hackney", 2, DIGEST)


def test_a_key_that_is_not_ed25519_is_refused_before_any_request(hub: FakeHub, tmp_path: Path) -> None:
    AgencyKeyPair.generate(AgencyId("met-police")).save(tmp_path / "keys")
    code, _, err = _run(
        "approve", "isa-met-hackney", "--version", "1", "--signing-key", str(tmp_path / "keys/encryption.pem")
    )
    assert code == 1
    assert "not an Ed25519 private key" in err
    assert hub.seen == []
