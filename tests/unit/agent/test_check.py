"""``onedoor connector check``: each failure has its own code and sentence; no secret is printed.

The hub is an ``httpx.MockTransport``; the broker is a fake ``describe`` function.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from connectors.agent import check as check_module
from connectors.agent.check import CheckResult, Describe, all_ok, clock_result, directory_result, run_checks
from connectors.agent.cli import app
from connectors.identity.keys import MatchingKey
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import NotFound, Unavailable
from tests.unit.agent.fakes import COUNCIL, TOKEN

NOW = 1_790_000_000.0
PASSPHRASE = "synthetic-passphrase-not-real"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Setup:
    path: Path
    keys: AgencyKeyPair
    keys_dir: Path


def _setup(tmp_path: Path, *, bootstrap: str | None = "broker.test:9092", extra: str = "") -> Setup:
    keys = AgencyKeyPair.generate(COUNCIL)
    keys_dir = tmp_path / "keys"
    keys.save(keys_dir, PASSPHRASE.encode())
    MatchingKey.generate().save(tmp_path / "matching.key")
    lines = [
        f"ONEDOOR_CONNECTOR_AGENCY={COUNCIL}",
        f"ONEDOOR_CONNECTOR_KEYS_DIR={keys_dir}",
        f"ONEDOOR_CONNECTOR_KEYS_PASSPHRASE={PASSPHRASE}",
        f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
        f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'disclosures.sqlite'}",
        f"ONEDOOR_CONNECTOR_API__TOKEN={TOKEN}",
        "ONEDOOR_CONNECTOR_HUB_URL=http://hub.test",
    ]
    if bootstrap:
        lines.append(f"ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS={bootstrap}")
    path = tmp_path / "connector.env"
    path.write_text("\n".join(lines) + "\n" + extra)
    return Setup(path, keys, keys_dir)


@dataclass
class FakeHub:
    """Answers like the hub; each field bends one answer."""

    keys: AgencyKeyPair
    healthy: bool = True
    refusal: str | None = None
    server_time: float = NOW
    listed: bool = True
    encryption_key_id: str | None = None
    seen: list[str] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url.path)
        if request.url.path == "/healthz":
            return httpx.Response(200 if self.healthy else 503, json={"status": "ok"})
        if request.url.path == "/auth/agency":
            if self.refusal:
                return httpx.Response(401, json={"code": self.refusal, "message": "refused (synthetic)"})
            return httpx.Response(
                200,
                json={
                    "agency": str(self.keys.agency),
                    "key_id": str(self.keys.signing_key_id),
                    "server_time": datetime.fromtimestamp(self.server_time, UTC).isoformat(),
                },
            )
        if request.url.path == "/directory":
            return httpx.Response(200, json=self.directory())
        return httpx.Response(404, json={"code": "hub.not_found", "message": "no such route"})

    def directory(self) -> dict[str, object]:
        agencies = []
        if self.listed:
            agencies.append(
                {
                    "id": str(self.keys.agency),
                    "signing_keys": [
                        {
                            "key_id": str(self.keys.signing_key_id),
                            "public_key": _b64(self.keys.signing_public),
                            "status": "current",
                        }
                    ],
                    "encryption_keys": [
                        {
                            "key_id": self.encryption_key_id or str(self.keys.encryption_key_id),
                            "public_key": _b64(self.keys.encryption_public),
                            "status": "current",
                        }
                    ],
                }
            )
        return {"agencies": agencies, "hub_public_key": _b64(b"\0" * 32)}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def _broker(*, missing: frozenset[str] = frozenset(), down: bool = False) -> Describe:
    async def describe(bootstrap: str, topic: str) -> object:
        if down:
            raise Unavailable("kafka.unreachable", f"cannot describe {topic} at {bootstrap}")
        if topic in missing:
            raise NotFound("kafka.topic_not_found", f"topic {topic} does not exist")
        return []

    return describe


async def _run(
    setup: Setup, hub: FakeHub | None, *, missing: frozenset[str] = frozenset(), down: bool = False
) -> list[CheckResult]:
    transport = (hub or FakeHub(setup.keys)).transport()
    describe = _broker(missing=missing, down=down)
    return await run_checks(setup.path, hub_transport=transport, describe=describe, clock=lambda: NOW)


def _by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.check: result for result in results}


def _no_secrets(results: list[CheckResult], setup: Setup) -> None:
    text = json.dumps([r.as_dict() for r in results])
    assert PASSPHRASE not in text
    assert TOKEN not in text
    assert _b64(setup.keys.signing_public) not in text
    assert "PRIVATE KEY" not in text


async def test_everything_passes(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    results = await _run(setup, None)
    assert [r.check for r in results] == [
        "config",
        "keys",
        "key_files",
        "hub",
        "identity",
        "clock",
        "directory",
        "previous_keys",
        "key_lifetime",
        "broker",
        "topics",
    ]
    assert all_ok(results), [r.line() for r in results]
    assert all(r.code is None for r in results)
    _no_secrets(results, setup)


async def test_a_bad_config_names_the_variable_not_its_value(tmp_path: Path) -> None:
    setup = _setup(tmp_path, extra="ONEDOOR_CONNECTOR_API__PORT=not-a-port-secretish\n")
    results = await _run(setup, None)
    assert len(results) == 1
    assert (results[0].check, results[0].ok, results[0].code) == ("config", False, "check.config_invalid")
    assert "ONEDOOR_CONNECTOR_API__PORT" in results[0].message
    assert "not-a-port-secretish" not in results[0].message


async def test_a_missing_config_file(tmp_path: Path) -> None:
    results = await run_checks(tmp_path / "nowhere.env")
    assert [(r.check, r.code) for r in results] == [("config", "check.config_invalid")]


async def test_a_wrong_passphrase_skips_the_checks_that_need_keys(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    setup.path.write_text(setup.path.read_text().replace(PASSPHRASE, "a-wrong-synthetic-passphrase"))
    hub = FakeHub(setup.keys)
    results = _by_check(await _run(setup, hub))
    assert results["keys"].code == "check.keys_unreadable"
    assert "identity" not in results
    assert "directory" not in results
    assert "clock" not in results
    assert results["hub"].ok
    assert results["broker"].ok
    assert "/auth/agency" not in hub.seen
    assert "a-wrong-synthetic-passphrase" not in results["keys"].message


async def test_a_key_file_open_to_others_fails(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    os.chmod(setup.keys_dir / "signing.pem", 0o644)
    results = _by_check(await _run(setup, None))
    assert results["keys"].ok
    assert results["key_files"].code == "check.key_file_mode"
    assert "signing.pem is 0644" in results["key_files"].message


async def test_an_unhealthy_hub_skips_identity_and_directory(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    hub = FakeHub(setup.keys, healthy=False)
    results = _by_check(await _run(setup, hub))
    assert results["hub"].code == "check.hub_unreachable"
    assert "HTTP 503" in results["hub"].message
    assert {"identity", "clock", "directory"}.isdisjoint(results)
    assert results["topics"].ok


async def test_an_unreachable_hub(tmp_path: Path) -> None:
    setup = _setup(tmp_path)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    results = _by_check(await run_checks(setup.path, hub_transport=httpx.MockTransport(refuse), describe=_broker()))
    assert results["hub"].code == "check.hub_unreachable"
    assert "ConnectError" in results["hub"].message


@pytest.mark.parametrize(
    ("hub_code", "words"),
    [
        ("auth.key_unknown", "the hub does not know this signing key (registered? rotated? revoked?)"),
        ("auth.agency_inactive", "the agency is suspended at the hub"),
        ("auth.assertion_expired", "clock"),
        ("auth.something_new", "refused (synthetic)"),
    ],
)
async def test_identity_refusals_in_words(tmp_path: Path, hub_code: str, words: str) -> None:
    setup = _setup(tmp_path)
    results = _by_check(await _run(setup, FakeHub(setup.keys, refusal=hub_code)))
    identity = results["identity"]
    assert (identity.ok, identity.code) == (False, "check.identity_refused")
    assert words in identity.message
    assert hub_code in identity.message
    assert "clock" not in results  # no server time without an answer
    assert results["directory"].ok  # the directory needs no assertion
    _no_secrets(list(results.values()), setup)


@pytest.mark.parametrize(("offset", "ok"), [(29.0, True), (-29.0, True), (31.0, False), (-45.0, False)])
async def test_clock_skew(tmp_path: Path, offset: float, ok: bool) -> None:
    setup = _setup(tmp_path)
    results = _by_check(await _run(setup, FakeHub(setup.keys, server_time=NOW + offset)))
    assert results["clock"].ok is ok
    if not ok:
        assert results["clock"].code == "check.clock_skew"
        assert f"{abs(offset):.1f} s" in results["clock"].message


def test_clock_uses_the_midpoint_given() -> None:
    server = datetime.fromtimestamp(NOW, UTC)
    assert "behind" in clock_result(server, NOW - 40).message
    assert "ahead of" in clock_result(server, NOW + 40).message


async def test_an_agency_missing_from_the_directory(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    results = _by_check(await _run(setup, FakeHub(setup.keys, listed=False)))
    assert results["directory"].code == "check.keys_not_registered"
    assert str(COUNCIL) in results["directory"].message


async def test_a_directory_with_another_encryption_key(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    other = AgencyKeyPair.generate(COUNCIL)
    hub = FakeHub(setup.keys, encryption_key_id=str(other.encryption_key_id))
    results = _by_check(await _run(setup, hub))
    assert results["directory"].code == "check.keys_mismatch"
    assert str(setup.keys.encryption_key_id) in results["directory"].message


def test_a_retired_signing_key_is_a_mismatch() -> None:
    keys = AgencyKeyPair.generate(COUNCIL)
    hub = FakeHub(keys)
    document = hub.directory()
    entry = document["agencies"][0]  # type: ignore[index]
    entry["signing_keys"][0]["status"] = "retired"
    result = directory_result(document, keys)
    assert result.code == "check.keys_mismatch"
    assert "no longer current" in result.message


async def test_a_missing_inbox(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    results = _by_check(await _run(setup, None, missing=frozenset({f"onedoor.in.{COUNCIL}"})))
    assert results["broker"].ok
    assert results["topics"].code == "check.topic_missing"
    assert f"inbox onedoor.in.{COUNCIL}" in results["topics"].message
    assert "outbound" not in results["topics"].message
    assert "registry" not in results["topics"].message


async def test_a_missing_registry_topic_says_what_it_costs(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    results = _by_check(await _run(setup, None, missing=frozenset({"onedoor.registry"})))
    assert results["topics"].code == "check.topic_missing"
    assert "registry topic onedoor.registry" in results["topics"].message
    assert "only at its periodic refresh" in results["topics"].message


async def test_the_topics_checked_include_the_registry_topic_and_never_the_policy_topic(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    asked: list[str] = []
    fake = _broker()

    async def describe(bootstrap: str, topic: str) -> object:
        asked.append(topic)
        return await fake(bootstrap, topic)

    await run_checks(setup.path, hub_transport=FakeHub(setup.keys).transport(), describe=describe, clock=lambda: NOW)
    assert "onedoor.registry" in asked
    assert "onedoor.policy" not in asked
    assert _by_check(await _run(setup, None))["topics"].ok


async def test_an_unreachable_broker(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    results = _by_check(await _run(setup, None, down=True))
    assert results["broker"].code == "check.broker_unreachable"
    assert "topics" not in results


async def test_no_broker_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    setup = _setup(tmp_path, bootstrap=None)
    results = _by_check(await _run(setup, None))
    assert results["broker"].code == "check.broker_unreachable"
    assert "ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS" in results["broker"].message


def _cli(monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> None:
    real = check_module.run_checks

    async def with_fakes(path: Path) -> list[CheckResult]:
        return await real(path, hub_transport=hub.transport(), describe=_broker(), clock=lambda: NOW)

    monkeypatch.setattr("connectors.agent.cli.run_checks", with_fakes)


def test_cli_prints_one_line_per_check_and_the_acl_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = _setup(tmp_path)
    _cli(monkeypatch, FakeHub(setup.keys))
    result = CliRunner().invoke(app, ["check", "--connector", str(setup.path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 12
    assert all(line.startswith("ok ") for line in lines[:11])
    assert lines[-1] == check_module.ACL_NOTE


def test_cli_fails_with_exit_1_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = _setup(tmp_path)
    _cli(monkeypatch, FakeHub(setup.keys, refusal="auth.key_unknown"))
    result = CliRunner().invoke(app, ["check", "--connector", str(setup.path), "--json"])
    assert result.exit_code == 1
    found = json.loads(result.output)
    failed = [item for item in found if not item["ok"]]
    assert [(item["check"], item["code"]) for item in failed] == [("identity", "check.identity_refused")]
    assert set(found[0]) == {"check", "ok", "code", "message"}
    assert PASSPHRASE not in result.output
    assert TOKEN not in result.output


def test_cli_text_failure_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = _setup(tmp_path)
    _cli(monkeypatch, FakeHub(setup.keys, healthy=False))
    result = CliRunner().invoke(app, ["check", "--connector", str(setup.path)])
    assert result.exit_code == 1
    assert any(
        line.startswith("FAIL  hub:") and "(check.hub_unreachable)" in line for line in result.output.splitlines()
    )
