"""``onedoor connector check`` against the real hub app (SQLite) and the real Kafka broker.

A registered agency with its topics passes every check; a connector holding keys the hub never
registered is told, in words, that the hub does not know its signing key (``auth.key_unknown``).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from connectors.agent.check import CheckResult, all_ok, run_checks
from connectors.identity.keys import MatchingKey
from hub.app import create_app
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.kafka.admin import ensure_topics
from onedoor.settings import DatabaseSettings, Settings
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration

COUNCIL = AgencyId("lb-testborough-csc")
TOKEN = "synthetic-connector-api-token-" + "x" * 32


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, AgencyKeyPair]]:
    """The real hub app on SQLite, with ``COUNCIL`` registered under fresh keys."""
    settings = Settings(
        env="test", home=tmp_path / "home", db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    )
    operator = DevIssuer.from_settings(settings).mint(subject="setup", roles=[Role.HUB_OPERATOR])
    app = create_app(settings)
    keys = AgencyKeyPair.generate(COUNCIL)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
            created = await http.post(
                "/agencies",
                json={
                    "id": str(COUNCIL),
                    "display_name": "London Borough of Testborough CSC (synthetic)",
                    "kind": "children-services",
                    "signing_public_key": _b64(keys.signing_public),
                    "encryption_public_key": _b64(keys.encryption_public),
                },
                headers={"Authorization": f"Bearer {operator}"},
            )
            assert created.status_code == 201, created.text
        yield app, keys


def _config(tmp_path: Path, keys: AgencyKeyPair, bootstrap: str, prefix: str) -> Path:
    keys.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    path = tmp_path / "connector.env"
    path.write_text(
        "\n".join(
            [
                f"ONEDOOR_CONNECTOR_AGENCY={COUNCIL}",
                f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}",
                f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
                f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'disclosures.sqlite'}",
                f"ONEDOOR_CONNECTOR_API__TOKEN={TOKEN}",
                "ONEDOOR_CONNECTOR_HUB_URL=http://hub.test",
                f"ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS={bootstrap}",
                f"ONEDOOR_CONNECTOR_KAFKA__TOPIC_PREFIX={prefix}",
            ]
        )
        + "\n"
    )
    return path


def _by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.check: result for result in results}


async def test_a_registered_agency_with_its_topics_passes_every_check(
    hub: tuple[FastAPI, AgencyKeyPair], tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    app, keys = hub
    topics = TopicNames(topic_prefix)
    wanted = [topics.outbound(COUNCIL), topics.inbox(COUNCIL), topics.registry]  # the hub API makes the registry
    await ensure_topics(kafka_bootstrap, wanted, partitions=1)
    path = _config(tmp_path, keys, kafka_bootstrap, topic_prefix)

    results = await run_checks(path, hub_transport=httpx.ASGITransport(app=app))

    assert all_ok(results), [r.line() for r in results]
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
    assert str(keys.signing_key_id) in _by_check(results)["identity"].message


async def test_unregistered_keys_and_missing_topics_are_said_in_words(
    hub: tuple[FastAPI, AgencyKeyPair], tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    app, _registered = hub
    stranger = AgencyKeyPair.generate(COUNCIL)  # the hub never saw these keys
    path = _config(tmp_path, stranger, kafka_bootstrap, topic_prefix)

    results = _by_check(await run_checks(path, hub_transport=httpx.ASGITransport(app=app)))

    identity = results["identity"]
    assert (identity.ok, identity.code) == (False, "check.identity_refused")
    assert "the hub does not know this signing key (registered? rotated? revoked?)" in identity.message
    assert "auth.key_unknown" in identity.message
    assert "clock" not in results
    assert results["directory"].code == "check.keys_mismatch"
    assert results["hub"].ok
    assert results["broker"].ok  # the real broker answers...
    assert results["topics"].code == "check.topic_missing"  # ...but this prefix has no topics
    assert f"{topic_prefix}.in.{COUNCIL}" in results["topics"].message
