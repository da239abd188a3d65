"""Onboarding and self-service key rotation over the real hub app (SQLite), no broker needed.

The operator approves a signed registration request (``POST /agencies/registrations``); a
tampered, stale or duplicate request is refused with its code and audited. The agency rotates
its keys itself (``onedoor connector rotate-keys``) with an assertion signed by its current
key: the hub lists the new keys as current, the old ones retired with an overlap, the files are
swapped and the old encryption key is kept; a retired key can no longer announce keys; a key is
revoked by the agency itself, but not its current signing key.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.agent.config import ConnectorConfig, load_config_file
from connectors.agent.init import CONFIG_FILE, REQUEST_FILE, initialise
from connectors.agent.keyfiles import load_decryption_keys, load_pair
from connectors.agent.rotate import RevocationIncomplete, revoke_commands, revoke_key, rotate_keys
from connectors.sdk.hubauth import HubClient
from hub.agencies.enums import AgencyKind, KeyUse
from hub.agencies.request import make_request
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Forbidden, OneDoorError, Unauthenticated
from onedoor.ids import AgencyId, KeyId
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

AGENCY = AgencyId("lb-fakeborough-csc")
PASSPHRASE = "correct horse battery staple"


@dataclass
class Hub:
    app: FastAPI
    http: httpx.AsyncClient
    issuer: DevIssuer

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject='op-synthia', roles=[Role.HUB_OPERATOR])}"}

    @property
    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def audit(self, kind: str) -> list[AuditEvent]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        with factory() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))

    async def agency(self, agency: AgencyId = AGENCY) -> dict[str, Any]:
        found: dict[str, Any] = (await self.http.get(f"/agencies/{agency}")).json()
        return found

    async def directory_entry(self, agency: AgencyId = AGENCY) -> dict[str, Any] | None:
        document = (await self.http.get("/directory")).json()
        return next((a for a in document["agencies"] if a["id"] == agency), None)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(
        env="test", home=tmp_path / "home", db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http,
    ):
        yield Hub(app, http, DevIssuer.from_settings(settings))


@pytest.fixture
def connector_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ONEDOOR_CONNECTOR_KEYS_PASSPHRASE", PASSPHRASE)
    home = tmp_path / "connector"
    initialise(
        home,
        agency=AGENCY,
        kind=AgencyKind.CHILDREN_SERVICES,
        display_name="London Borough of Fakeborough CSC (synthetic)",
        passphrase=PASSPHRASE.encode(),
        hub_url="http://hub.test",
    )
    return home


def _config(home: Path) -> ConnectorConfig:
    return load_config_file(home / CONFIG_FILE)


async def _approve(hub: Hub, home: Path) -> httpx.Response:
    document = json.loads((home / REQUEST_FILE).read_text())
    return await hub.http.post("/agencies/registrations", json=document, headers=hub.operator())


# --- approval ------------------------------------------------------------------------------


async def test_the_operator_approves_a_signed_request_and_the_directory_lists_its_keys(
    hub: Hub, connector_home: Path
) -> None:
    response = await _approve(hub, connector_home)
    assert response.status_code == 201, response.text
    keys = load_pair(AGENCY, connector_home / "keys", PASSPHRASE.encode())
    assert response.json()["current_signing_key_id"] == keys.signing_key_id
    assert response.json()["current_encryption_key_id"] == keys.encryption_key_id
    entry = await hub.directory_entry()
    assert entry is not None
    assert [k["key_id"] for k in entry["signing_keys"]] == [keys.signing_key_id]
    [row] = hub.audit("agency.register")
    assert (row.outcome, row.actor, row.reason_code) == ("approved", "op-synthia", None)
    assert str(keys.signing_key_id) in (row.detail or "")
    authz = [r for r in hub.audit("api.authz") if r.source and r.source.startswith("POST /agencies/registrations")]
    assert [(r.outcome, r.source) for r in authz] == [("permit", f"POST /agencies/registrations agency_id={AGENCY}")]
    # The agency's own key now proves it to the hub.
    async with HubClient("http://hub.test", keys, transport=hub.transport) as client:
        assert (await client.call("GET", "/auth/agency"))["agency"] == AGENCY


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"display_name": "Somebody Else Entirely"}, "registration.bad_signature"),
        (
            {"created_at": (datetime.now(UTC) - timedelta(days=60)).isoformat(timespec="seconds")},
            "registration.bad_signature",
        ),
        ({"signature": "AAAA"}, "registration.bad_signature"),
        ({"format": "something/2"}, "registration.malformed"),
    ],
)
async def test_a_tampered_request_is_refused_audited_and_registers_nothing(
    hub: Hub, connector_home: Path, change: dict[str, str], code: str
) -> None:
    document = {**json.loads((connector_home / REQUEST_FILE).read_text()), **change}
    response = await hub.http.post("/agencies/registrations", json=document, headers=hub.operator())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert (await hub.http.get(f"/agencies/{AGENCY}")).status_code == 404
    [row] = hub.audit("agency.register")
    assert (row.outcome, row.reason_code) == ("refused", code)


async def test_a_stale_request_a_duplicate_and_a_non_operator_are_refused(hub: Hub, connector_home: Path) -> None:
    stale_keys = AgencyKeyPair.generate(AgencyId("fake-old-charity"))
    stale = make_request(stale_keys, kind="charity", display_name="Old", now=datetime.now(UTC) - timedelta(days=31))
    refused = await hub.http.post("/agencies/registrations", json=stale, headers=hub.operator())
    assert (refused.status_code, refused.json()["code"]) == (422, "registration.stale")

    assert (await _approve(hub, connector_home)).status_code == 201
    again = await _approve(hub, connector_home)
    assert (again.status_code, again.json()["code"]) == (409, "agency.exists")

    admin = hub.issuer.mint(subject="admin@fake", roles=[Role.AGENCY_ADMIN], agency=AgencyId("fake-other-agency"))
    other = make_request(AgencyKeyPair.generate(AgencyId("fake-other-agency")), kind="charity", display_name="X")
    forbidden = await hub.http.post("/agencies/registrations", json=other, headers={"Authorization": f"Bearer {admin}"})
    assert forbidden.status_code == 403
    outcomes = [(r.outcome, r.reason_code) for r in hub.audit("agency.register")]
    assert outcomes == [("refused", "registration.stale"), ("approved", None), ("refused", "agency.exists")]


# --- rotation and revocation by the agency -------------------------------------------------


async def test_rotation_is_announced_with_the_current_key_then_the_files_are_swapped(
    hub: Hub, connector_home: Path
) -> None:
    assert (await _approve(hub, connector_home)).status_code == 201
    config = _config(connector_home)
    before = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())

    done = await rotate_keys(config, hub_transport=hub.transport)

    assert [r.use for r in done] == [KeyUse.ENCRYPTION, KeyUse.SIGNING]
    after = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())
    assert after.signing_key_id != before.signing_key_id
    assert after.encryption_key_id != before.encryption_key_id
    agency = await hub.agency()
    assert agency["current_signing_key_id"] == after.signing_key_id
    assert agency["current_encryption_key_id"] == after.encryption_key_id
    statuses = {k["key_id"]: (k["status"], k["not_after"]) for k in agency["keys"]}
    assert statuses[before.encryption_key_id][0] == "retired"
    assert statuses[before.encryption_key_id][1] is not None, "the old key has an overlap, then ends"
    # The old encryption key is kept, encrypted, and still loaded for the overlap.
    kept = config.keys_dir / "previous" / f"{before.encryption_key_id}.pem"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in kept.read_bytes()
    _pair, old = load_decryption_keys(AGENCY, config.keys_dir, PASSPHRASE.encode())
    assert set(old) == {before.encryption_key_id}
    assert not list((config.keys_dir / "pending").glob("*.pem")), "nothing left pending"
    rows = hub.audit("agency.key_added")
    assert [(r.actor, r.outcome) for r in rows] == [(AGENCY, "current"), (AGENCY, "current")]

    # The retired signing key (still trusted for assertions during its overlap) may not announce keys.
    async with HubClient("http://hub.test", before, transport=hub.transport) as stale:
        with pytest.raises(Forbidden) as refused:
            await stale.call(
                "POST",
                "/agencies/me/keys",
                json={"use": "encryption", "public_key": agency["keys"][0]["public_key"]},
            )
    assert refused.value.code == "agency.key_not_current"


async def test_a_refused_announcement_swaps_no_file(hub: Hub, connector_home: Path) -> None:
    # Never approved: the hub does not know the signing key, so it refuses the assertion.
    config = _config(connector_home)
    before = (config.keys_dir / "signing.pem").read_bytes(), (config.keys_dir / "encryption.pem").read_bytes()
    with pytest.raises(Unauthenticated) as refused:
        await rotate_keys(config, hub_transport=hub.transport)
    assert refused.value.code == "auth.key_unknown"
    after = (config.keys_dir / "signing.pem").read_bytes(), (config.keys_dir / "encryption.pem").read_bytes()
    assert after == before
    assert not (config.keys_dir / "previous").exists()


async def test_the_agency_revokes_a_compromised_key_but_not_its_current_signing_key(
    hub: Hub, connector_home: Path
) -> None:
    assert (await _approve(hub, connector_home)).status_code == 201
    config = _config(connector_home)
    original = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())
    with pytest.raises(OneDoorError) as refused:
        await revoke_key(config, original.signing_key_id, hub_transport=hub.transport)
    assert refused.value.code == "agency.revoke_current_signing_key"

    done = await rotate_keys(config, uses=(KeyUse.SIGNING,), revoke_old=True, hub_transport=hub.transport)
    assert [(r.old, r.old_not_after) for r in done] == [(original.signing_key_id, None)]
    entry = await hub.directory_entry()
    assert entry is not None
    assert original.signing_key_id not in [k["key_id"] for k in entry["signing_keys"]], "revoked: never trusted"
    # The revoked key can no longer speak for the agency.
    async with HubClient("http://hub.test", original, transport=hub.transport) as stale:
        with pytest.raises(Unauthenticated):
            await stale.call("GET", "/auth/agency")

    answer = await revoke_key(config, original.encryption_key_id, hub_transport=hub.transport)
    assert answer["status"] == "revoked"
    assert [r.outcome for r in hub.audit("agency.key_revoked")] == ["revoked", "revoked"]
    with pytest.raises(OneDoorError) as unknown:
        await revoke_key(config, KeyId("k1_" + "0" * 32), hub_transport=hub.transport)
    assert unknown.value.code == "agency.key_not_found"


async def test_a_retired_signing_key_cannot_revoke_the_new_keys(hub: Hub, connector_home: Path) -> None:
    # Whoever copied the old key files must not be able to revoke the keys that replaced them.
    assert (await _approve(hub, connector_home)).status_code == 201
    config = _config(connector_home)
    before = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())
    await rotate_keys(config, hub_transport=hub.transport)
    after = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())

    async with HubClient("http://hub.test", before, transport=hub.transport) as stale:
        await stale.call("GET", "/auth/agency")  # still trusted for assertions during its overlap
        with pytest.raises(Forbidden) as refused:
            await stale.call("POST", f"/agencies/me/keys/{after.encryption_key_id}/revoke")
    assert refused.value.code == "agency.key_not_current"
    agency = await hub.agency()
    assert agency["current_encryption_key_id"] == after.encryption_key_id, "the new key was not revoked"
    [row] = [r for r in hub.audit("agency.key_revoked") if r.outcome == "refused"]
    assert row.reason_code == "agency.key_not_current"
    assert str(before.signing_key_id) in (row.detail or "")


class _RevokeRefused(httpx.AsyncBaseTransport):
    """The real hub app, except that revocations answer 503 (the hub went away after the swap)."""

    def __init__(self, app: FastAPI) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/revoke"):
            return httpx.Response(503, json={"code": "hub.unavailable", "message": "synthetic outage"})
        return await self._inner.handle_async_request(request)


async def test_a_revocation_failing_after_the_swap_names_the_old_keys(hub: Hub, connector_home: Path) -> None:
    assert (await _approve(hub, connector_home)).status_code == 201
    config = _config(connector_home)
    before = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())
    with pytest.raises(RevocationIncomplete) as incomplete:
        await rotate_keys(config, revoke_old=True, hub_transport=_RevokeRefused(hub.app))
    assert incomplete.value.code == "connector.revoke_incomplete"
    assert incomplete.value.unrevoked == [
        (before.encryption_key_id, "hub.unavailable"),
        (before.signing_key_id, "hub.unavailable"),
    ]
    assert str(before.signing_key_id) in incomplete.value.message
    after = load_pair(AGENCY, config.keys_dir, PASSPHRASE.encode())
    assert after.signing_key_id != before.signing_key_id, "the swap happened: the new keys are in use"
    commands = revoke_commands(incomplete.value.unrevoked, connector_home / CONFIG_FILE)
    assert commands[1] == (
        f"onedoor connector revoke-key {before.signing_key_id} --connector {connector_home / CONFIG_FILE}"
    )
    # Running what it printed works: the new current signing key revokes the old ones.
    for key_id, _ in incomplete.value.unrevoked:
        answer = await revoke_key(config, key_id, hub_transport=hub.transport)
        assert answer["status"] == "revoked"
