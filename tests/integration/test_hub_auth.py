"""Roles over the real hub API, on SQLite and a real PostgreSQL: who may call what, and the audit of it.

Each role makes every protected call; each call must answer as the role matrix says and leave
exactly one ``api.authz`` row naming the caller, the outcome, the reason and the target.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.agencies.schemas import DirectoryOut
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, KeyId
from onedoor.settings import AuthSettings, DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MET = AgencyId("met-police")
HACKNEY = AgencyId("lb-hackney-csc")
NOBODY = AgencyId("no-such-agency")
REFERRAL = "onedoor.referral.MasterReferral"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signing_key() -> bytes:
    return Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _encryption_key() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _agency_body(agency: str) -> dict[str, str]:
    return {
        "id": agency,
        "display_name": agency.replace("-", " ").title(),
        "kind": "police",
        "signing_public_key": _b64(_signing_key()),
        "encryption_public_key": _b64(_encryption_key()),
    }


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", home=tmp_path / "home", db=DatabaseSettings(url=database_url))


@pytest.fixture
def issuer(settings: Settings) -> DevIssuer:
    return DevIssuer.from_settings(settings)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield app, http


@dataclass
class World:
    """A running hub with two registered agencies, and a way to read its audit log."""

    client: httpx.AsyncClient
    factory: sessionmaker[Session]
    issuer: DevIssuer
    met_key: KeyId
    hackney_key: KeyId

    def bearer(self, *roles: Role, agency: AgencyId | None = None, subject: str = "someone") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(subject=subject, roles=roles, agency=agency)}"}

    def authz(self) -> list[AuditEvent]:
        with self.factory() as session:
            stmt = select(AuditEvent).where(AuditEvent.kind == "api.authz").order_by(AuditEvent.id)
            return list(session.scalars(stmt))

    def rows(self) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@pytest.fixture
async def world(hub: tuple[FastAPI, httpx.AsyncClient], issuer: DevIssuer) -> World:
    app, client = hub
    operator = {"Authorization": f"Bearer {issuer.mint(subject='setup', roles=[Role.HUB_OPERATOR])}"}
    keys: dict[AgencyId, KeyId] = {}
    for agency in (MET, HACKNEY):
        created = await client.post("/agencies", json=_agency_body(agency), headers=operator)
        assert created.status_code == 201, created.text
        keys[agency] = KeyId(created.json()["current_encryption_key_id"])
    return World(client, app.state.session_factory, issuer, keys[MET], keys[HACKNEY])


@dataclass(frozen=True)
class Call:
    """One protected request, and the target its audit row must name."""

    name: str
    method: str
    path: str
    source: str
    body: Callable[[], Any] | None = None


CALLS = {
    c.name: c
    for c in [
        Call(
            "register", "POST", "/agencies", "POST /agencies agency_id=new-agency", lambda: _agency_body("new-agency")
        ),
        Call(
            "suspend MET", "POST", f"/agencies/{MET}/suspend", f"POST /agencies/{{agency_id}}/suspend agency_id={MET}"
        ),
        Call(
            "reactivate MET",
            "POST",
            f"/agencies/{MET}/reactivate",
            f"POST /agencies/{{agency_id}}/reactivate agency_id={MET}",
        ),
        Call(
            "add key MET",
            "POST",
            f"/agencies/{MET}/keys",
            f"POST /agencies/{{agency_id}}/keys agency_id={MET}",
            lambda: {"use": "signing", "public_key": _b64(_signing_key())},
        ),
        Call(
            "revoke key MET",
            "POST",
            f"/agencies/{MET}/keys/<met_key>/revoke",
            f"POST /agencies/{{agency_id}}/keys/{{key_id}}/revoke agency_id={MET} key_id=<met_key>",
        ),
        Call(
            "add key HACKNEY",
            "POST",
            f"/agencies/{HACKNEY}/keys",
            f"POST /agencies/{{agency_id}}/keys agency_id={HACKNEY}",
            lambda: {"use": "signing", "public_key": _b64(_signing_key())},
        ),
        Call(
            "revoke key HACKNEY",
            "POST",
            f"/agencies/{HACKNEY}/keys/<hackney_key>/revoke",
            f"POST /agencies/{{agency_id}}/keys/{{key_id}}/revoke agency_id={HACKNEY} key_id=<hackney_key>",
        ),
        Call(
            "register contract",
            "POST",
            "/contracts/test.auth.Thing/versions",
            "POST /contracts/{name}/versions name=test.auth.Thing",
            lambda: {
                "schema": json.dumps(
                    {
                        "type": "record",
                        "name": "Thing",
                        "namespace": "test.auth",
                        "fields": [{"name": "id", "type": "string", "doc": "Id.", "sensitivity": "operational"}],
                    }
                )
            },
        ),
        Call(
            "contract mode",
            "PUT",
            f"/contracts/{REFERRAL}/mode",
            f"PUT /contracts/{{name}}/mode name={REFERRAL}",
            lambda: {"compatibility": "FULL_TRANSITIVE"},
        ),
        Call("whoami", "GET", "/auth/whoami", "GET /auth/whoami"),
    ]
}

EXPECTED_OK = {
    "register": 201,
    "suspend MET": 200,
    "reactivate MET": 200,
    "add key MET": 201,
    "revoke key MET": 200,
    "add key HACKNEY": 201,
    "revoke key HACKNEY": 200,
    "register contract": 201,
    "contract mode": 200,
    "whoami": 200,
}

# The role matrix: which calls each caller is permitted. Everything else is a 403 (or a 401 without a token).
PERMITTED: dict[str, set[str]] = {
    "hub-operator": set(EXPECTED_OK),
    "agency-admin of met-police": {"add key MET", "revoke key MET", "whoami"},
    "auditor": {"whoami"},
    "ops-viewer": {"whoami"},
    "no token": set(),
}
CALLERS: dict[str, tuple[tuple[Role, ...], AgencyId | None]] = {
    "hub-operator": ((Role.HUB_OPERATOR,), None),
    "agency-admin of met-police": ((Role.AGENCY_ADMIN,), MET),
    "auditor": ((Role.AUDITOR,), None),
    "ops-viewer": ((Role.OPS_VIEWER,), None),
}


def _fill(world: World, text: str) -> str:
    return text.replace("<met_key>", world.met_key).replace("<hackney_key>", world.hackney_key)


async def _send(world: World, call: Call, headers: dict[str, str]) -> httpx.Response:
    path = _fill(world, call.path)
    body = call.body() if call.body else None
    return await world.client.request(call.method, path, json=body, headers=headers)


@pytest.mark.parametrize("caller", list(PERMITTED))
async def test_the_role_matrix_and_its_audit(world: World, caller: str) -> None:
    for call in CALLS.values():
        if caller == "no token":
            headers: dict[str, str] = {}
        else:
            roles, agency = CALLERS[caller]
            headers = world.bearer(*roles, agency=agency, subject=f"alice-{roles[0]}")
        before = world.authz()
        response = await _send(world, call, headers)
        permitted = call.name in PERMITTED[caller]
        expected = EXPECTED_OK[call.name] if permitted else 401 if caller == "no token" else 403
        assert response.status_code == expected, (caller, call.name, response.text)
        if not permitted:
            assert response.json()["code"] == ("auth.missing_token" if caller == "no token" else "auth.forbidden")

        [row] = world.authz()[len(before) :]
        actor = None if caller == "no token" else f"alice-{CALLERS[caller][0][0]}"
        source = _fill(world, call.source)
        outcome, reason = ("permit", None) if permitted else ("deny", response.json()["code"])
        assert (row.outcome, row.actor, row.reason_code, row.source) == (outcome, actor, reason, source), call.name
        assert row.detail is not None
        assert row.detail.startswith("request_id=")


async def test_reads_stay_open_and_unaudited(world: World) -> None:
    before = world.rows()
    for path in ("/agencies", f"/agencies/{MET}", "/directory", "/contracts", f"/contracts/{REFERRAL}", "/healthz"):
        assert (await world.client.get(path)).status_code == 200, path
    assert world.rows() == before


async def test_an_agency_admin_of_a_cannot_touch_b_and_learns_nothing_about_it(world: World) -> None:
    admin = world.bearer(Role.AGENCY_ADMIN, agency=MET, subject="amy")
    key = {"use": "signing", "public_key": _b64(_signing_key())}
    existing = await world.client.post(f"/agencies/{HACKNEY}/keys", json=key, headers=admin)
    missing = await world.client.post(f"/agencies/{NOBODY}/keys", json=key, headers=admin)
    revoke = await world.client.post(f"/agencies/{HACKNEY}/keys/{world.hackney_key}/revoke", headers=admin)
    not_found = await world.client.get(f"/agencies/{NOBODY}")

    assert (existing.status_code, missing.status_code, revoke.status_code) == (403, 403, 403)
    assert not_found.status_code == 404
    bodies = [r.json() for r in (existing, missing, revoke)]
    assert all(b.keys() == not_found.json().keys() == {"code", "message", "error_id"} for b in bodies)
    assert {(b["code"], b["message"]) for b in bodies} == {("auth.forbidden", bodies[0]["message"])}, (
        "the same answer whether agency B exists or not"
    )
    assert len({b["error_id"] for b in bodies}) == 3

    # Its own agency has no such key: the answer is the service's usual 404, and B is untouched.
    sideways = await world.client.post(f"/agencies/{MET}/keys/{world.hackney_key}/revoke", headers=admin)
    assert (sideways.status_code, sideways.json()["code"]) == (404, "agency.key_not_found")
    hackney = (await world.client.get(f"/agencies/{HACKNEY}")).json()
    assert {k["status"] for k in hackney["keys"]} == {"current"}

    rows = world.authz()[-4:]
    assert [(r.outcome, r.actor, r.reason_code) for r in rows] == [
        ("deny", "amy", "auth.forbidden"),
        ("deny", "amy", "auth.forbidden"),
        ("deny", "amy", "auth.forbidden"),
        ("permit", "amy", None),
    ]
    assert [r.source for r in rows] == [
        f"POST /agencies/{{agency_id}}/keys agency_id={HACKNEY}",
        f"POST /agencies/{{agency_id}}/keys agency_id={NOBODY}",
        f"POST /agencies/{{agency_id}}/keys/{{key_id}}/revoke agency_id={HACKNEY} key_id={world.hackney_key}",
        f"POST /agencies/{{agency_id}}/keys/{{key_id}}/revoke agency_id={MET} key_id={world.hackney_key}",
    ]
    assert rows[0].detail is not None
    assert rows[0].detail.endswith("roles=agency-admin; an agency-admin of met-police acts only on its own agency")


async def test_an_agency_admin_rotates_its_own_keys(world: World) -> None:
    admin = world.bearer(Role.AGENCY_ADMIN, agency=MET, subject="amy")
    new = _signing_key()
    rotated = await world.client.post(
        f"/agencies/{MET}/keys", json={"use": "signing", "public_key": _b64(new)}, headers=admin
    )
    assert rotated.status_code == 201, rotated.text
    directory = DirectoryOut.model_validate((await world.client.get("/directory")).json()).to_directory()
    assert directory.current_signing_key(MET) == (KeyId.for_public_key(new), new)


async def test_an_agency_admin_cannot_revoke_its_own_current_signing_key_but_the_operator_can(world: World) -> None:
    admin = world.bearer(Role.AGENCY_ADMIN, agency=MET, subject="amy")
    operator = world.bearer(Role.HUB_OPERATOR, subject="olu")

    async def signing_keys() -> dict[str, str]:
        met = (await world.client.get(f"/agencies/{MET}")).json()
        return {k["key_id"]: k["status"] for k in met["keys"] if k["use"] == "signing"}

    [first] = await signing_keys()
    refused = await world.client.post(f"/agencies/{MET}/keys/{first}/revoke", headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (403, "agency.revoke_current_signing_key")
    assert await signing_keys() == {first: "current"}, "nothing changed"

    # Rotate first, then revoke the old key: allowed.
    rotated = await world.client.post(
        f"/agencies/{MET}/keys", json={"use": "signing", "public_key": _b64(_signing_key())}, headers=admin
    )
    assert rotated.status_code == 201, rotated.text
    new = KeyId(rotated.json()["key_id"])
    old = await world.client.post(f"/agencies/{MET}/keys/{first}/revoke", headers=admin)
    assert (old.status_code, old.json()["status"]) == (200, "revoked")

    # The hub operator may revoke any key, the current signing key too.
    by_operator = await world.client.post(f"/agencies/{MET}/keys/{new}/revoke", headers=operator)
    assert (by_operator.status_code, by_operator.json()["status"]) == (200, "revoked")
    assert await signing_keys() == {first: "revoked", new: "revoked"}


def _hs256(secret: bytes, claims: dict[str, Any]) -> str:
    def b64json(value: dict[str, Any]) -> str:
        return _b64(json.dumps(value).encode())

    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(claims)}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


async def test_refused_tokens_are_401_with_their_code_and_audited(world: World, settings: Settings) -> None:
    issuer = world.issuer
    past = datetime.now(UTC) - timedelta(hours=2)
    elsewhere = DevIssuer.from_settings(settings.model_copy(update={"home": settings.home.parent / "elsewhere"}))
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "mallory",
        "iat": int(datetime.now(UTC).timestamp()),
        "exp": int(datetime.now(UTC).timestamp()) + 600,
        "roles": ["hub-operator"],
    }
    pem = issuer.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    cases = [
        # (sentence, token, code, actor recorded)
        ("an expired token", issuer.mint(subject="eve", roles=[Role.HUB_OPERATOR], now=past), "auth.expired", "eve"),
        (
            "a token for another audience",
            replace(issuer, audience="another-api").mint(subject="eve", roles=[Role.HUB_OPERATOR]),
            "auth.wrong_audience",
            "eve",
        ),
        (
            "a token from another issuer name",
            replace(issuer, issuer="urn:someone-else").mint(subject="eve", roles=[Role.HUB_OPERATOR]),
            "auth.wrong_issuer",
            "eve",
        ),
        (
            "alg=none",
            f"{_b64(json.dumps({'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}.",
            "auth.algorithm_not_allowed",
            None,
        ),
        ("HS256 keyed with the issuer's public key", _hs256(pem, claims), "auth.algorithm_not_allowed", None),
        (
            "a token signed with the wrong key",
            elsewhere.mint(subject="mallory", roles=[Role.HUB_OPERATOR]),
            "auth.bad_signature",
            None,
        ),
        ("not a JWT", "operator-token-of-old", "auth.malformed_token", None),
    ]
    for sentence, token, code, actor in cases:
        before = world.rows()
        response = await world.client.post(f"/agencies/{MET}/suspend", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, sentence
        assert response.json()["code"] == code, sentence
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"', sentence
        assert world.rows() == before + 1, sentence
        [row] = world.authz()[-1:]
        assert (row.outcome, row.actor, row.reason_code) == ("deny", actor, code), sentence
        assert row.source == f"POST /agencies/{{agency_id}}/suspend agency_id={MET}", sentence
        everything = " ".join(str(getattr(row, c.key)) for c in AuditEvent.__table__.columns)
        signature = token.rsplit(".", 1)[-1]
        assert not signature or signature not in everything, "no token material in the audit row"
    assert (await world.client.get(f"/agencies/{MET}")).json()["status"] == "active", "nothing changed"


def test_the_hub_api_refuses_to_start_in_prod_without_a_verification_key(tmp_path: Path) -> None:
    prod = Settings(
        env="prod",
        home=tmp_path,
        db=DatabaseSettings(url="postgresql+psycopg://u@db.invalid/hub"),
        auth=AuthSettings(issuer="https://idp.example.test"),
    )
    with pytest.raises(ValidationFailed) as caught:
        create_app(prod)
    assert caught.value.code == "settings.auth_key_missing"
    assert not (tmp_path / "hub").exists(), "neither a development issuer key nor a hub key was made"
