"""``POST /broker/credentials`` and ``onedoor connector enrol``/``check`` against the real hub and a secured broker.

The hub app runs on SQLite with broker provisioning configured (an admin user and its 0600
password file) against the secured 1-node broker. A registered, active agency gets ``agency-<id>``
with a fresh password sealed to its encryption key; an unknown or suspended agency is refused
(401, audited) before anything reaches the broker; a hub without provisioning answers
``409 broker.provisioning_off``; an unreachable broker ``503 broker.unavailable``.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.agent.check import run_checks
from connectors.agent.config import load_config_file
from connectors.agent.enrol import enrol, password_path
from connectors.identity.keys import MatchingKey
from connectors.sdk.hubauth import agency_assertion
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.kafka import _process
from onedoor.kafka.acls import granted, provision_hub
from onedoor.kafka.admin import authenticate, ensure_topics
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.kafka.plan import agency_acl_plan
from onedoor.kafka.security import ClientCredentials, open_secret, write_password_file
from onedoor.settings import DatabaseSettings, KafkaSettings, Settings
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration

COUNCIL = AgencyId("lb-brokerton-csc")
TOKEN = "synthetic-connector-api-token-" + "x" * 32


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Hub:
    app: FastAPI
    http: httpx.AsyncClient
    operator: dict[str, str]
    settings: Settings

    @property
    def factory(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        return factory

    async def register(self, keys: AgencyKeyPair, kind: str = "children-services") -> None:
        created = await self.http.post(
            "/agencies",
            json={
                "id": str(keys.agency),
                "display_name": "London Borough of Brokerton CSC (synthetic)",
                "kind": kind,
                "signing_public_key": _b64(keys.signing_public),
                "encryption_public_key": _b64(keys.encryption_public),
            },
            headers=self.operator,
        )
        assert created.status_code == 201, created.text

    async def credentials(self, keys: AgencyKeyPair) -> httpx.Response:
        return await self.http.post(
            "/broker/credentials",
            json={"encryption_key_id": str(keys.encryption_key_id)},
            headers={"Authorization": f"Bearer {agency_assertion(keys)}"},
        )

    def audit(self, kind: str) -> list[AuditEvent]:
        with self.factory() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))


def _settings(tmp_path: Path, kafka: KafkaSettings) -> Settings:
    return Settings(
        env="test",
        home=tmp_path / "home",
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
        kafka=kafka,
    )


async def _hub_kafka(
    tmp_path: Path, cluster: LocalKafkaCluster, prefix: str, bootstrap: str | None = None
) -> KafkaSettings:
    """The hub's broker settings: its own identity (the API announces policy changes) and the provisioning admin."""
    admin = cluster.admin_credentials
    assert admin is not None
    identity = await provision_hub(cluster.bootstrap_servers, admin, TopicNames(prefix))
    write_password_file(tmp_path / "admin.password", admin.password)
    write_password_file(tmp_path / "hub.password", identity.password)
    return KafkaSettings(
        bootstrap_servers=bootstrap or cluster.bootstrap_servers,
        topic_prefix=prefix,
        username=identity.username,
        password_file=tmp_path / "hub.password",
        admin_username=admin.username,
        admin_password_file=tmp_path / "admin.password",
        ca_file=cluster.ca_file,  # TLS (SASL_SSL): the hub trusts the broker's CA and hands it out
    )


async def _running(settings: Settings, bootstrap: str | None = None) -> AsyncIterator[Hub]:
    app = create_app(settings, bootstrap=bootstrap)
    operator = DevIssuer.from_settings(settings).mint(subject="setup", roles=[Role.HUB_OPERATOR])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http,
    ):
        yield Hub(app, http, {"Authorization": f"Bearer {operator}"}, settings)


@pytest.fixture
async def hub(tmp_path: Path, secured_kafka: LocalKafkaCluster, topic_prefix: str) -> AsyncIterator[Hub]:
    """The hub API with provisioning on: admin user and password file, the secured broker, a fresh prefix."""
    kafka = await _hub_kafka(tmp_path, secured_kafka, topic_prefix)
    async for running in _running(_settings(tmp_path, kafka)):
        yield running


async def test_a_registered_agency_gets_its_identity_sealed_to_its_own_key(
    hub: Hub, secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    keys = AgencyKeyPair.generate(COUNCIL)
    await hub.register(keys)

    answer = await hub.credentials(keys)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["username"] == f"agency-{COUNCIL}"
    assert body["mechanism"] == "SCRAM-SHA-512"
    assert body["encryption_key_id"] == str(keys.encryption_key_id)
    assert body["topic_prefix"] == topic_prefix
    assert f"User:agency-{COUNCIL} write topic literal:{topic_prefix}.out.{COUNCIL}" in body["acls"]
    password = open_secret(keys.encryption, body["sealed_password"], agency=str(COUNCIL), username=body["username"])
    assert password.get_secret_value() not in answer.text  # nothing readable crossed the wire
    with pytest.raises(ValidationFailed):
        open_secret(
            AgencyKeyPair.generate(COUNCIL).encryption,
            body["sealed_password"],
            agency=str(COUNCIL),
            username=body["username"],
        )
    # The broker takes it, with exactly the agency's ACLs.
    bootstrap = secured_kafka.bootstrap_servers
    assert secured_kafka.ca_file is not None
    assert body["ca_certificate_pem"] == secured_kafka.ca_file.read_text(encoding="ascii")  # public: the broker's CA
    await authenticate(bootstrap, ClientCredentials(body["username"], password, ca_file=secured_kafka.ca_file))
    admin = secured_kafka.admin_credentials
    assert admin is not None
    assert await granted(bootstrap, admin, body["username"]) == agency_acl_plan(COUNCIL, TopicNames(topic_prefix))
    # Audited, without the password.
    [row] = hub.audit("broker.credentials")
    assert (row.outcome, row.actor, row.reason_code) == ("permit", str(COUNCIL), None)
    assert str(keys.encryption_key_id) in (row.detail or "")
    assert password.get_secret_value() not in (row.detail or "")


async def test_unknown_and_suspended_agencies_are_refused_and_audited(hub: Hub) -> None:
    stranger = AgencyKeyPair.generate(AgencyId("lb-nowhere-csc"))
    unknown = await hub.credentials(stranger)
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "auth.key_unknown"

    keys = AgencyKeyPair.generate(COUNCIL)
    await hub.register(keys)
    suspended = await hub.http.post(f"/agencies/{COUNCIL}/suspend", headers=hub.operator)
    assert suspended.status_code == 200, suspended.text
    refused = await hub.credentials(keys)
    assert refused.status_code == 401
    assert refused.json()["code"] == "auth.agency_inactive"

    denials = [(r.actor, r.reason_code) for r in hub.audit("api.authz") if r.outcome == "deny"]
    assert ("lb-nowhere-csc", "auth.key_unknown") in denials
    assert (str(COUNCIL), "auth.agency_inactive") in denials
    assert hub.audit("broker.credentials") == []  # nothing reached the broker


async def test_a_hub_without_provisioning_says_so(tmp_path: Path) -> None:
    settings = _settings(tmp_path, KafkaSettings(topic_prefix="tnoprov"))  # no broker, no admin
    async for hub in _running(settings):
        keys = AgencyKeyPair.generate(COUNCIL)
        await hub.register(keys)
        answer = await hub.credentials(keys)
        assert answer.status_code == 409
        assert answer.json()["code"] == "broker.provisioning_off"
        assert "ONEDOOR_KAFKA__ADMIN_USERNAME" in answer.json()["message"]
        [row] = hub.audit("broker.credentials")
        assert (row.outcome, row.reason_code) == ("deny", "broker.provisioning_off")


async def test_an_unreachable_broker_is_a_503_in_words(
    tmp_path: Path, secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    [closed] = _process.free_ports(1)
    # The API's own clients use the real broker; provisioning is pointed at a port nobody listens on.
    kafka = await _hub_kafka(tmp_path, secured_kafka, topic_prefix, bootstrap=f"127.0.0.1:{closed}")
    async for hub in _running(_settings(tmp_path, kafka), bootstrap=secured_kafka.bootstrap_servers):
        keys = AgencyKeyPair.generate(COUNCIL)
        await hub.register(keys)
        answer = await hub.credentials(keys)
        assert answer.status_code == 503
        assert answer.json()["code"] == "broker.unavailable"
        assert "does not answer" in answer.json()["message"]
        [row] = hub.audit("broker.credentials")
        assert (row.outcome, row.reason_code) == ("deny", "broker.unavailable")


def _connector_config(tmp_path: Path, keys: AgencyKeyPair, bootstrap: str, prefix: str) -> Path:
    keys.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    path = tmp_path / "connector.env"
    path.write_text(
        "\n".join(
            [
                f"ONEDOOR_CONNECTOR_AGENCY={keys.agency}",
                f"ONEDOOR_CONNECTOR_KEYS_DIR={tmp_path / 'keys'}",
                f"ONEDOOR_CONNECTOR_MATCHING_KEY_PATH={tmp_path / 'matching.key'}",
                f"ONEDOOR_CONNECTOR_DISCLOSURE_LOG_PATH={tmp_path / 'data' / 'disclosures.sqlite'}",
                f"ONEDOOR_CONNECTOR_API__TOKEN={TOKEN}",
                "ONEDOOR_CONNECTOR_HUB_URL=http://hub.test",
                f"ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS={bootstrap}",
                f"ONEDOOR_CONNECTOR_KAFKA__TOPIC_PREFIX={prefix}",
            ]
        )
        + "\n"
    )
    os.chmod(path, 0o600)
    return path


async def test_enrol_then_check_on_the_secured_broker(
    hub: Hub, secured_kafka: LocalKafkaCluster, tmp_path: Path, topic_prefix: str
) -> None:
    keys = AgencyKeyPair.generate(COUNCIL)
    await hub.register(keys)
    bootstrap = secured_kafka.bootstrap_servers
    topics = TopicNames(topic_prefix)
    admin = secured_kafka.admin_credentials
    wanted = [topics.outbound(COUNCIL), topics.inbox(COUNCIL), topics.registry]  # the hub API makes the registry
    await ensure_topics(bootstrap, wanted, partitions=1, credentials=admin)
    config = _connector_config(tmp_path / "agency", keys, bootstrap, topic_prefix)
    transport = httpx.ASGITransport(app=hub.app)

    enrolled = await enrol(config, hub_transport=transport)

    stored = password_path(load_config_file(config))
    assert enrolled.password_file == stored
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600  # the config keeps its mode
    text = config.read_text()
    assert f"ONEDOOR_CONNECTOR_KAFKA__USERNAME=agency-{COUNCIL}\n" in text
    assert f"ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE={stored.resolve()}\n" in text
    assert stored.read_text().strip() not in text
    # The broker speaks TLS: the hub handed out its CA, kept next to the password (public) and named in the config.
    assert enrolled.ca_file is not None
    assert secured_kafka.ca_file is not None
    assert enrolled.ca_file.read_bytes() == secured_kafka.ca_file.read_bytes()
    assert stat.S_IMODE(os.stat(enrolled.ca_file).st_mode) == 0o644
    assert f"ONEDOOR_CONNECTOR_KAFKA__CA_FILE={enrolled.ca_file}\n" in text

    results = {r.check: r for r in await run_checks(config, hub_transport=transport)}
    assert results["broker_identity"].ok, results["broker_identity"].line()
    assert results["topics"].ok, results["topics"].line()
    assert results["acls"].ok, results["acls"].line()
    assert "refuses agency-" in results["acls"].message
    assert "not every rule" in results["acls"].message
    assert results["policy_topic"].ok, results["policy_topic"].line()  # consent events: refused (threat model S7)

    # A stale password (say, another enrolment rotated it) is said in words.
    write_password_file(stored, SecretStr("a-stale-password-" + "y" * 24))
    results = {r.check: r for r in await run_checks(config, hub_transport=transport)}
    identity = results["broker_identity"]
    assert (identity.ok, identity.code) == (False, "check.broker_credentials")
    assert f"the broker refused the SCRAM credentials for agency-{COUNCIL}" in identity.message
    assert "run onedoor connector enrol again" in identity.message
    assert "acls" not in results


async def test_a_retired_key_or_a_wrong_encryption_key_changes_no_password(
    hub: Hub, secured_kafka: LocalKafkaCluster
) -> None:
    keys = AgencyKeyPair.generate(COUNCIL)
    await hub.register(keys)
    first = await hub.credentials(keys)
    assert first.status_code == 200, first.text
    body = first.json()
    password = open_secret(keys.encryption, body["sealed_password"], agency=str(COUNCIL), username=body["username"])

    # The connector holds an encryption key the hub does not list as current: refused before the broker.
    stranger_key = AgencyKeyPair.generate(COUNCIL).encryption_key_id
    mismatch = await hub.http.post(
        "/broker/credentials",
        json={"encryption_key_id": str(stranger_key)},
        headers={"Authorization": f"Bearer {agency_assertion(keys)}"},
    )
    assert mismatch.status_code == 409, mismatch.text
    assert mismatch.json()["code"] == "broker.encryption_key_mismatch"
    assert str(keys.encryption_key_id) in mismatch.json()["message"]

    # The agency rotates its signing key; the old one is retired (still trusted for its overlap).
    new = AgencyKeyPair.generate(COUNCIL)
    rotated = await hub.http.post(
        "/agencies/me/keys",
        json={"use": "signing", "public_key": _b64(new.signing_public)},
        headers={"Authorization": f"Bearer {agency_assertion(keys)}"},
    )
    assert rotated.status_code == 201, rotated.text
    stale = await hub.credentials(keys)
    assert stale.status_code == 403, stale.text
    assert stale.json()["code"] == "agency.key_not_current"

    # Neither refusal touched the broker: the first password still logs in.
    await authenticate(
        secured_kafka.bootstrap_servers, ClientCredentials(body["username"], password, ca_file=secured_kafka.ca_file)
    )
    outcomes = [(r.outcome, r.reason_code) for r in hub.audit("broker.credentials")]
    assert outcomes == [
        ("permit", None),
        ("deny", "broker.encryption_key_mismatch"),
        ("deny", "agency.key_not_current"),
    ]
