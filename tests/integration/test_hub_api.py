"""The hub's HTTP API end to end over a real database: SQLite and a real PostgreSQL server.

The app runs with its lifespan (migrations, seeding) and is driven over ASGI with httpx.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.agencies.schemas import DirectoryOut
from hub.app import create_app
from hub.audit.models import AuditEvent
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.db import make_engine, make_session_factory
from onedoor.ids import AgencyId, KeyId
from onedoor.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration

MET = "met-police"
OPERATOR = "test-operator"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public(private: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _keys() -> tuple[bytes, bytes]:
    return _public(Ed25519PrivateKey.generate()), _public(X25519PrivateKey.generate())


def _agency(agency_id: str, kind: str = "police") -> tuple[dict[str, str], bytes, bytes]:
    signing, encryption = _keys()
    body = {
        "id": agency_id,
        "display_name": agency_id.replace("-", " ").title(),
        "kind": kind,
        "signing_public_key": _b64(signing),
        "encryption_public_key": _b64(encryption),
    }
    return body, signing, encryption


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", home=tmp_path, db=DatabaseSettings(url=database_url))


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def auth(settings: Settings) -> dict[str, str]:
    """A hub operator's bearer token, from the development issuer the app trusts."""
    token = DevIssuer.from_settings(settings).mint(subject=OPERATOR, roles=[Role.HUB_OPERATOR])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield http


@pytest.fixture
def audit(app: FastAPI, client: httpx.AsyncClient) -> sessionmaker[Session]:
    """The running app's session factory, for reading the audit log."""
    factory: sessionmaker[Session] = app.state.session_factory
    return factory


def _authz_events(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == "api.authz").order_by(AuditEvent.id)))


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["message"]
    assert len(body["error_id"]) == 32
    return body


async def test_register_list_get_and_directory(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body, signing, encryption = _agency(MET)
    created = await client.post("/agencies", json=body, headers=auth)
    assert created.status_code == 201, created.text
    agency = created.json()
    assert agency["id"] == MET
    assert agency["status"] == "active"
    assert agency["current_signing_key_id"] == KeyId.for_public_key(signing)
    assert agency["current_encryption_key_id"] == KeyId.for_public_key(encryption)
    assert {k["key_id"] for k in agency["keys"]} == {KeyId.for_public_key(signing), KeyId.for_public_key(encryption)}
    assert agency["created_at"].endswith(("Z", "+00:00"))

    second, _, _ = _agency("lb-hackney-csc", kind="children-services")
    assert (await client.post("/agencies", json=second, headers=auth)).status_code == 201

    listed = await client.get("/agencies")
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["items"]] == ["lb-hackney-csc", MET]

    one = await client.get(f"/agencies/{MET}")
    assert one.json() == agency

    directory = DirectoryOut.model_validate((await client.get("/directory")).json()).to_directory()
    assert directory.active_agencies() == {AgencyId(MET), AgencyId("lb-hackney-csc")}
    assert directory.current_encryption_key(AgencyId(MET)) == (KeyId.for_public_key(encryption), encryption)
    assert directory.signing_key(AgencyId(MET), KeyId.for_public_key(signing)) == signing


async def test_duplicate_agency_is_a_conflict(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body, _, _ = _agency(MET)
    assert (await client.post("/agencies", json=body, headers=auth)).status_code == 201
    again, _, _ = _agency(MET)
    _assert_error(await client.post("/agencies", json=again, headers=auth), 409, "agency.exists")


async def test_bad_public_key_is_refused_without_echoing_it(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body, _, _ = _agency(MET)
    body["encryption_public_key"] = _b64(b"\x00" * 32)  # a low-order X25519 point
    body["signing_public_key"] = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtZWNobw"
    response = await client.post("/agencies", json=body, headers=auth)
    problem = _assert_error(response, 422, "agency.bad_public_key")
    assert {f["location"] for f in problem["fields"]} == {"body.signing_public_key", "body.encryption_public_key"}
    assert body["signing_public_key"] not in response.text
    assert (await client.get(f"/agencies/{MET}")).status_code == 404


async def test_malformed_request_is_request_invalid(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body, _, _ = _agency(MET)
    del body["display_name"]
    body["kind"] = "astrologer"
    problem = _assert_error(await client.post("/agencies", json=body, headers=auth), 422, "request.invalid")
    assert {f["location"] for f in problem["fields"]} == {"body.display_name", "body.kind"}
    _assert_error(await client.get("/agencies/Not_A_Slug"), 422, "agency_id.invalid")


async def test_unknown_agency_is_not_found(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    _assert_error(await client.get("/agencies/nobody-here"), 404, "agency.not_found")
    _assert_error(await client.post("/agencies/nobody-here/suspend", headers=auth), 404, "agency.not_found")


async def test_write_without_token_is_401_and_audited(client: httpx.AsyncClient, audit: sessionmaker[Session]) -> None:
    body, _, _ = _agency(MET)
    response = await client.post("/agencies", json=body)
    _assert_error(response, 401, "auth.missing_token")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    [event] = _authz_events(audit)
    assert (event.outcome, event.actor, event.reason_code) == ("deny", None, "auth.missing_token")
    assert event.source == f"POST /agencies agency_id={MET}", "the agency it would have registered"
    assert (await client.get(f"/agencies/{MET}")).status_code == 404


async def test_a_token_from_another_key_is_401_and_audited_without_token_material(
    client: httpx.AsyncClient, audit: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    body, _, _ = _agency(MET)
    elsewhere = settings.model_copy(update={"home": tmp_path / "another-home"})
    forged = DevIssuer.from_settings(elsewhere).mint(subject="mallory", roles=[Role.HUB_OPERATOR])
    response = await client.post("/agencies", json=body, headers={"Authorization": f"Bearer {forged}"})
    _assert_error(response, 401, "auth.bad_signature")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    [event] = _authz_events(audit)
    assert (event.outcome, event.actor, event.reason_code) == ("deny", None, "auth.bad_signature")
    columns = [str(getattr(event, c.key)) for c in AuditEvent.__table__.columns]
    signature = forged.rsplit(".", 1)[1]
    assert not [c for c in columns if signature in c or "mallory" in c], "an unverified subject is not recorded"


async def test_write_with_token_is_permitted_and_audited(
    client: httpx.AsyncClient, audit: sessionmaker[Session], auth: dict[str, str]
) -> None:
    body, _, _ = _agency(MET)
    response = await client.post("/agencies", json=body, headers={**auth, "X-Request-ID": "req-123"})
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-123"
    await client.post(f"/agencies/{MET}/suspend", headers=auth)
    events = _authz_events(audit)
    assert [(e.outcome, e.actor, e.source) for e in events] == [
        ("permit", OPERATOR, f"POST /agencies agency_id={MET}"),
        ("permit", OPERATOR, f"POST /agencies/{{agency_id}}/suspend agency_id={MET}"),
    ]
    assert events[0].detail is not None
    assert events[0].detail.startswith("request_id=req-123; token_id=")
    assert events[0].detail.endswith("; roles=hub-operator; permitted as hub-operator")
    token = auth["Authorization"].removeprefix("Bearer ")
    assert not [e for e in events if token in str(e.detail) or token.rsplit(".", 1)[1] in str(e.detail)]
    await client.get("/agencies")
    assert len(_authz_events(audit)) == 2, "open reads make no authorization decision"


async def test_suspension_takes_an_agency_out_of_the_directory(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body, _, _ = _agency(MET)
    await client.post("/agencies", json=body, headers=auth)
    suspended = await client.post(f"/agencies/{MET}/suspend", headers=auth)
    assert suspended.json()["status"] == "suspended"
    assert (await client.get("/directory")).json()["agencies"] == []
    reactivated = await client.post(f"/agencies/{MET}/reactivate", headers=auth)
    assert reactivated.json()["status"] == "active"
    assert [a["id"] for a in (await client.get("/directory")).json()["agencies"]] == [MET]


async def test_rotation_and_revocation_show_in_the_directory(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body, old_signing, encryption = _agency(MET)
    await client.post("/agencies", json=body, headers=auth)
    new_signing, new_encryption = _keys()

    rotated = await client.post(
        f"/agencies/{MET}/keys", json={"use": "signing", "public_key": _b64(new_signing)}, headers=auth
    )
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["status"] == "current"
    directory = DirectoryOut.model_validate((await client.get("/directory")).json()).to_directory()
    met = AgencyId(MET)
    assert directory.current_signing_key(met) == (KeyId.for_public_key(new_signing), new_signing)
    assert directory.signing_key(met, KeyId.for_public_key(old_signing)) == old_signing, "retired keys still verify"
    old_entry = directory.agencies[met].signing_keys[KeyId.for_public_key(old_signing)]
    assert not old_entry.current
    assert old_entry.not_after is not None

    revoked = await client.post(f"/agencies/{MET}/keys/{KeyId.for_public_key(old_signing)}/revoke", headers=auth)
    assert revoked.json()["status"] == "revoked"
    directory = DirectoryOut.model_validate((await client.get("/directory")).json()).to_directory()
    assert directory.signing_key(met, KeyId.for_public_key(old_signing)) is None

    await client.post(
        f"/agencies/{MET}/keys", json={"use": "encryption", "public_key": _b64(new_encryption)}, headers=auth
    )
    directory = DirectoryOut.model_validate((await client.get("/directory")).json()).to_directory()
    assert directory.current_encryption_key(met)[1] == new_encryption
    assert directory.encryption_key(met, KeyId.for_public_key(encryption)) == encryption

    bad = await client.post(
        f"/agencies/{MET}/keys", json={"use": "encryption", "public_key": _b64(b"\x00" * 32)}, headers=auth
    )
    _assert_error(bad, 422, "agency.bad_public_key")
    unknown = KeyId.for_public_key(b"\x01" * 32)
    _assert_error(
        await client.post(f"/agencies/{MET}/keys/{unknown}/revoke", headers=auth), 404, "agency.key_not_found"
    )


async def test_health_and_readiness(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.json() == {"status": "ok", "database": "ok"}
    assert ready.headers["X-Request-ID"]

    # A database that cannot be opened: the directory's parent does not exist.
    unreachable = make_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.sqlite3'}")
    working = app.state.session_factory
    app.state.session_factory = make_session_factory(unreachable)
    try:
        _assert_error(await client.get("/readyz"), 503, "health.database_unavailable")
        assert (await client.get("/healthz")).status_code == 200, "liveness does not depend on the database"
    finally:
        app.state.session_factory = working
        unreachable.dispose()


async def test_openapi_documents_every_route_with_response_models(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "OneDoor hub"
    assert document["info"]["version"]
    assert {t["name"] for t in document["tags"]} >= {"agencies", "directory", "contracts", "health", "auth"}
    assert all(t["description"] for t in document["tags"])
    expected = {
        ("post", "/agencies"),
        ("get", "/agencies"),
        ("get", "/agencies/{agency_id}"),
        ("post", "/agencies/{agency_id}/suspend"),
        ("post", "/agencies/{agency_id}/reactivate"),
        ("post", "/agencies/{agency_id}/keys"),
        ("post", "/agencies/{agency_id}/keys/{key_id}/revoke"),
        ("get", "/directory"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/auth/whoami"),
    }
    operations = {(m, p): op for p, item in document["paths"].items() for m, op in item.items()}
    assert expected <= operations.keys()
    assert any(p.startswith("/contracts") for _, p in operations), "the contracts router is mounted"
    for (method, path), operation in operations.items():
        responses = operation["responses"]
        success = next(s for s in responses if s.startswith("2"))
        if success == "204":  # no body to describe (closing a case: DELETE /network/{token}/members/me)
            assert "content" not in responses[success], (method, path)
        else:
            assert "$ref" in str(responses[success]["content"]["application/json"]["schema"]), (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in {"ErrorBody", "RequestInvalidBody"}, (method, path, status)
        if (method, path) in expected and method == "post":
            assert {"401", "403"} <= responses.keys(), (method, path)
            assert operation["security"] == [{"BearerJWT": []}]
        if path.startswith("/contracts") and method in {"post", "put"}:
            assert operation["security"] == [{"BearerJWT": []}], (method, path)
    whoami = operations[("get", "/auth/whoami")]
    assert whoami["security"] == [{"BearerJWT": []}]
    assert "401" in whoami["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_an_unexpected_failure_is_a_500_with_an_error_id(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_session: Session) -> list[object]:
        raise RuntimeError("boom: some internal detail")

    monkeypatch.setattr("hub.agencies.service.list_all", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        response = await http.get("/agencies", headers={"X-Request-ID": "req-500"})
    _assert_error(response, 500, "hub.internal_error")
    assert "boom" not in response.text
    assert response.headers["X-Request-ID"] == "req-500"
