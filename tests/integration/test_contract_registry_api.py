"""The contract registry's HTTP API on a tiny app, over a SQLite file and a real PostgreSQL server.

Driven over ASGI with httpx: Starlette's ``TestClient`` now warns when used with httpx (it wants
``httpx2``), and warnings are errors here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import contracts.registry.models  # noqa: F401 - registers the contract tables in the metadata
from contracts.catalog import bundled_contract
from contracts.registry.api import router
from onedoor.db import Base, make_engine, make_session_factory
from onedoor.web import install_error_handlers

pytestmark = pytest.mark.integration

NAME = "test.contracts.Thing"
REFERRAL = "onedoor.referral.MasterReferral"


def schema(*extra: dict[str, Any]) -> dict[str, Any]:
    fields = [{"name": "id", "type": "string", "doc": "Its id.", "sensitivity": "operational"}, *extra]
    return {"type": "record", "name": "Thing", "namespace": "test.contracts", "fields": fields}


OPTIONAL_NOTE = {
    "name": "note",
    "type": ["null", "string"],
    "default": None,
    "doc": "A note.",
    "sensitivity": "safeguarding",
}
REQUIRED_PRIORITY = {"name": "priority", "type": "int", "doc": "Priority.", "sensitivity": "operational"}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    engine = make_engine(database_url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in ("contract", "contract_version")])
    app = FastAPI()
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)
    app.include_router(router)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield http
    finally:
        engine.dispose()


async def register(client: httpx.AsyncClient, body: dict[str, Any], name: str = NAME) -> httpx.Response:
    return await client.post(f"/contracts/{name}/versions", json={"schema": json.dumps(body)})


async def test_register_then_read_back(client: httpx.AsyncClient) -> None:
    created = await register(client, schema())

    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.json()["created"] is True
    assert created.json()["tags"] == {"id": "operational"}
    assert (await client.get(f"/contracts/{NAME}")).json()["versions"] == [1]
    version = (await client.get(f"/contracts/{NAME}/versions/1")).json()
    assert json.loads(version["schema"]) == schema()
    assert (await client.get(f"/contracts/{NAME}/versions/latest")).json()["version"] == 1
    assert [c["name"] for c in (await client.get("/contracts")).json()] == [NAME]


async def test_re_registering_the_same_schema_is_idempotent(client: httpx.AsyncClient) -> None:
    first = await register(client, schema())

    again = await register(client, schema())

    assert again.status_code == 200
    assert again.json()["version"] == first.json()["version"] == 1
    assert again.json()["created"] is False
    assert (await client.get(f"/contracts/{NAME}")).json()["versions"] == [1]


async def test_a_schema_object_is_accepted_as_well_as_text(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/contracts/{NAME}/versions", json={"schema": schema()})

    assert response.status_code == 201


async def test_a_compatible_version_is_registered_next(client: httpx.AsyncClient) -> None:
    await register(client, schema())

    response = await register(client, schema(OPTIONAL_NOTE))

    assert response.status_code == 201
    assert response.json()["version"] == 2


async def test_an_incompatible_version_is_a_409_with_reasons(client: httpx.AsyncClient) -> None:
    await register(client, schema())

    response = await register(client, schema(REQUIRED_PRIORITY))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "contract.incompatible"
    assert "field 'priority'" in body["message"]
    assert "version 1" in body["message"]
    assert body["error_id"]
    assert (await client.get(f"/contracts/{NAME}")).json()["versions"] == [1]


async def test_the_dry_run_lists_problems_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await register(client, schema())

    response = await client.post(
        f"/contracts/{NAME}/compatibility", json={"schema": json.dumps(schema(REQUIRED_PRIORITY))}
    )

    assert response.status_code == 200
    report = response.json()
    assert report["compatible"] is False
    assert report["compatibility"] == "FULL_TRANSITIVE"
    assert [(p["version"], p["direction"], p["path"]) for p in report["problems"]] == [(1, "backward", "priority")]
    assert (await client.get(f"/contracts/{NAME}")).json()["versions"] == [1]


async def test_changing_the_mode_lets_a_forward_only_change_through(client: httpx.AsyncClient) -> None:
    await register(client, schema())

    changed = await client.put(f"/contracts/{NAME}/mode", json={"compatibility": "FORWARD"})
    response = await register(client, schema(REQUIRED_PRIORITY))

    assert changed.status_code == 200
    assert changed.json()["compatibility"] == "FORWARD"
    assert response.status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/contracts/test.contracts.Nothing",
        "/contracts/test.contracts.Nothing/versions/1",
        "/contracts/test.contracts.Nothing/versions/latest",
    ],
)
async def test_an_unknown_contract_is_a_404_with_a_stable_code(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "contract.unknown"


async def test_an_unknown_version_is_a_404_with_its_own_code(client: httpx.AsyncClient) -> None:
    await register(client, schema())

    response = await client.get(f"/contracts/{NAME}/versions/9")

    assert response.status_code == 404
    assert response.json()["code"] == "contract.version_unknown"


async def test_setting_the_mode_of_an_unknown_contract_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/contracts/test.contracts.Nothing/mode", json={"compatibility": "NONE"})

    assert response.status_code == 404
    assert response.json()["code"] == "contract.unknown"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "id", "type": "string"}, "contract.untagged_field"),
        ({"name": "id", "type": "string", "sensitivity": "secret"}, "contract.unknown_tag"),
    ],
)
async def test_an_untagged_schema_is_a_422(client: httpx.AsyncClient, body: dict[str, Any], code: str) -> None:
    bad = {"type": "record", "name": "Thing", "namespace": "test.contracts", "fields": [body]}

    response = await register(client, bad)

    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_a_schema_for_another_contract_is_a_422(client: httpx.AsyncClient) -> None:
    response = await register(client, schema(), name="test.contracts.Other")

    assert response.status_code == 422
    assert response.json()["code"] == "contract.name_mismatch"


async def test_a_bundled_contract_registers_as_is(client: httpx.AsyncClient) -> None:
    raw = bundled_contract(REFERRAL).raw

    response = await client.post(f"/contracts/{REFERRAL}/versions", json={"schema": raw})

    assert response.status_code == 201
    assert response.json()["tags"]["child.date_of_birth"] == "identity"
    assert response.json()["fingerprint"] == bundled_contract(REFERRAL).fingerprint
