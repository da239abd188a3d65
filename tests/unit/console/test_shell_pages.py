"""The shell's contract with other console pages: errors become pages, templates plug in, JSON stays JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from hub.auth.roles import Role
from hub.console import shell
from hub.console.shell import ConsoleUser, add_templates, render
from onedoor.errors import Conflict
from onedoor.settings import Settings
from onedoor.web import install_error_handlers

USER = ConsoleUser(subject="synthia-example", roles=frozenset({Role.AUDITOR}), agency=None, csrf="c" * 43)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    folder = tmp_path / "templates"
    (folder / "console" / "demo").mkdir(parents=True)
    (folder / "console" / "demo" / "page.html").write_text(
        '{% extends "console/layout.html" %}{% block title %}Demo page{% endblock %}'
        '{% block content %}<h1 class="govuk-heading-l">Hello {{ who }}</h1>{% endblock %}'
    )
    add_templates(folder)
    router = APIRouter()

    @router.get("/console/demo")
    async def demo(request: Request) -> HTMLResponse:
        return render(request, USER, "console/demo/page.html", who="auditor")

    @router.get("/console/demo/stale")
    async def stale() -> None:
        raise Conflict("demo.stale", "Someone changed this agreement after you opened it.")

    @router.get("/console/demo/crash")
    async def crash() -> None:
        raise RuntimeError("a secret detail that must not reach the page")

    @router.get("/ops/demo/stale")
    async def json_stale() -> None:
        raise Conflict("demo.stale", "stale")

    app = FastAPI()
    install_error_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> HTMLResponse:
        return HTMLResponse('{"code": "hub.internal_error", "message": "unexpected failure"}', status_code=500)

    shell.install(app, Settings(env="test", home=tmp_path), b"s" * 32, routers=(router,))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as opened:
        yield opened


async def test_a_page_renders_in_the_layout_with_the_menu_and_strict_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/demo")
    assert page.status_code == 200
    assert "Hello auditor" in page.text
    assert "<title>Demo page \N{EN DASH} OneDoor console</title>" in page.text
    assert "synthia-example" in page.text
    assert 'name="csrf_token" value="' + "c" * 43 in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp
    assert "style-src 'self';" in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


async def test_a_onedoor_error_in_a_console_route_is_a_page_with_its_code(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/demo/stale")
    assert page.status_code == 409
    assert page.headers["content-type"].startswith("text/html")
    assert "Someone else changed this" in page.text
    assert "Someone changed this agreement after you opened it." in page.text
    assert '<code class="console-code" data-testid="problem-code">demo.stale</code>' in page.text


async def test_a_crash_is_a_plain_page_without_its_details(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/demo/crash")
    assert page.status_code == 500
    assert "Sorry, there is a problem with the service" in page.text
    assert "secret detail" not in page.text
    assert "Traceback" not in page.text


async def test_json_routes_keep_json_errors(client: httpx.AsyncClient) -> None:
    answer = await client.get("/ops/demo/stale")
    assert answer.status_code == 409
    assert answer.json()["code"] == "demo.stale"
