"""``onedoor agency approve|revoke-key``: the request file goes to the hub as it is; errors in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.agencies import cli
from hub.agencies.request import make_request
from onedoor.cli import app
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.unit.hub.fake_hub import FakeHub

AGENCY = AgencyId("fakeshire-police")


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(cli, "client_factory", fake.client)
    return fake


def _agency(keys: AgencyKeyPair) -> dict[str, object]:
    return {
        "id": AGENCY,
        "kind": "police",
        "display_name": "Fakeshire Police (synthetic)",
        "current_signing_key_id": keys.signing_key_id,
        "current_encryption_key_id": keys.encryption_key_id,
    }


def test_approve_sends_the_request_unchanged_and_prints_the_keys(hub: FakeHub, tmp_path: Path) -> None:
    keys = AgencyKeyPair.generate(AGENCY)
    request = make_request(keys, kind="police", display_name="Fakeshire Police (synthetic)")
    path = tmp_path / "registration-request.json"
    path.write_text(json.dumps(request))
    hub.responses = {("POST", "/agencies/registrations"): (201, _agency(keys))}
    result = CliRunner().invoke(
        app,
        ["agency", "approve", str(path), "--expect-signing-key", keys.signing_key_id],
        env={"ONEDOOR_TOKEN": "fake-token"},
    )
    assert result.exit_code == 0, result.output
    assert f"signing key {keys.signing_key_id}, encryption key {keys.encryption_key_id}" in result.stdout
    assert json.loads(hub.seen[0].content) == request, "the signed request is sent byte-for-byte in meaning"
    assert f"registered {AGENCY} (police)" in result.stdout
    assert str(keys.signing_key_id) in result.stdout
    assert "fake-token" not in result.output


def test_approve_prints_the_hubs_refusal_and_a_bad_file_in_words(hub: FakeHub, tmp_path: Path) -> None:
    path = tmp_path / "registration-request.json"
    path.write_text(json.dumps({"format": "x"}))
    hub.responses = {
        ("POST", "/agencies/registrations"): (
            422,
            {"code": "registration.bad_signature", "message": "the signature does not verify", "error_id": "e1"},
        )
    }
    expect = ["--expect-signing-key", "k1_" + "a" * 32]
    refused = CliRunner().invoke(app, ["agency", "approve", str(path), *expect], env={"ONEDOOR_TOKEN": "t"})
    assert refused.exit_code == 1
    assert "registration.bad_signature" in refused.output
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    unreadable = CliRunner().invoke(app, ["agency", "approve", str(bad), *expect], env={"ONEDOOR_TOKEN": "t"})
    assert unreadable.exit_code == 1
    assert "is not JSON" in unreadable.output
    assert len(hub.seen) == 1, "nothing sent for a file that is not JSON"


def test_revoke_key_calls_the_operator_route(hub: FakeHub) -> None:
    key = "k1_" + "a" * 32
    hub.responses = {("POST", f"/agencies/{AGENCY}/keys/{key}/revoke"): (200, {"key_id": key, "use": "signing"})}
    result = CliRunner().invoke(app, ["agency", "revoke-key", AGENCY, key], env={"ONEDOOR_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    assert f"revoked {key} (signing) of {AGENCY}" in result.stdout


def test_approve_refuses_a_swapped_request_and_sends_nothing(hub: FakeHub, tmp_path: Path) -> None:
    # The agency read its signing key id to the operator by phone; a whole new self-signed request was swapped in.
    genuine = AgencyKeyPair.generate(AGENCY)
    forged = AgencyKeyPair.generate(AGENCY)
    path = tmp_path / "registration-request.json"
    path.write_text(json.dumps(make_request(forged, kind="police", display_name="Fakeshire Police (synthetic)")))
    hub.responses = {("POST", "/agencies/registrations"): (201, _agency(forged))}
    refused = CliRunner().invoke(
        app,
        ["agency", "approve", str(path), "--expect-signing-key", genuine.signing_key_id],
        env={"ONEDOOR_TOKEN": "t"},
    )
    assert refused.exit_code == 1
    assert "registration.signing_key_unexpected" in refused.output
    assert str(forged.signing_key_id) in refused.output
    assert hub.seen == [], "nothing sent to the hub"
    missing = CliRunner().invoke(app, ["agency", "approve", str(path)], env={"ONEDOOR_TOKEN": "t"})
    assert missing.exit_code != 0, "--expect-signing-key is required"
    assert hub.seen == []


def test_suspend_and_reactivate_say_what_happens_to_the_broker_identity(hub: FakeHub) -> None:
    hub.responses = {
        ("POST", f"/agencies/{AGENCY}/suspend"): (200, {"id": AGENCY, "status": "suspended"}),
        ("POST", f"/agencies/{AGENCY}/reactivate"): (200, {"id": AGENCY, "status": "active"}),
    }
    env = {"ONEDOOR_TOKEN": "fake-token"}
    suspended = CliRunner().invoke(app, ["agency", "suspend", AGENCY], env=env)
    assert suspended.exit_code == 0, suspended.output
    assert f"{AGENCY} is suspended" in suspended.stdout
    assert "broker identity is being withdrawn" in suspended.stdout
    reactivated = CliRunner().invoke(app, ["agency", "reactivate", AGENCY], env=env)
    assert reactivated.exit_code == 0, reactivated.output
    assert "must run `onedoor connector enrol` again" in reactivated.stdout
    assert [r.url.path for r in hub.seen] == [f"/agencies/{AGENCY}/suspend", f"/agencies/{AGENCY}/reactivate"]
