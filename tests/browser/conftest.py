"""The browser tier: real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, against a real hub.

Fixtures and helpers for every page test (the public form, the connector workbench...):

    browser (session): a launched Chromium. Missing /usr/bin/chromium FAILS the test, with the reason.
    page (function): a fresh context and page (1280x900, en-GB); console errors, including CSP
        violations, are collected in ``page_errors`` and fail the test at teardown.
    page_errors (function): the list ``page`` fills.
    artifacts_dir (session): ``tests/artifacts/`` (gitignored), for screenshots.
    axe_violations(page) / assert_accessible(page, what): run axe-core (``node_modules/axe-core``,
        ``make assets``) and fail on serious or critical violations, printing them.
    hub_settings(tmp_path, bootstrap, **intake): settings for a hub on SQLite under ``tmp_path``.
    serving_hub(settings): a context manager running the whole hub API (``create_app``) under
        uvicorn on a free 127.0.0.1 port in a thread; yields a ``ServedHub`` with ``base_url``,
        ``operator()``/``admin(agency)`` headers and ``register(keys, kind)``.
    run_async(coroutine): run a coroutine (e.g. a Kafka consumer) to completion in a thread of its
        own; Playwright's sync API keeps an event loop in the test's thread, so ``asyncio.run`` fails there.

Never run ``playwright install``: the tests use the system Chromium only.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from hub.agencies.schemas import b64url
from hub.app import create_app
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.settings import DatabaseSettings, IntakeSettings, KafkaSettings, Settings

CHROMIUM = Path(os.environ.get("ONEDOOR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "tests" / "artifacts"
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
T = TypeVar("T")


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    """Playwright's driver (no browser download: ``browser`` launches the system Chromium)."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Headless Chromium from /usr/bin/chromium; fails (never skips) when it is not installed."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium); "
            "they do not download one and do not skip",
            pytrace=False,
        )
    launched = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Console errors and uncaught exceptions of ``page`` (CSP violations show up here)."""
    return []


@pytest.fixture
def page(browser: Browser, page_errors: list[str]) -> Iterator[Page]:
    """A fresh desktop-sized page; the test fails if the page logged an error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened = context.new_page()
    opened.on("console", lambda message: page_errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert page_errors == [], f"the page logged errors: {page_errors}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``tests/artifacts/``, made if need be (gitignored): screenshots go here."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; every violation it finds."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `make assets`", pytrace=False)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's CSP (no inline script) does not block it.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def assert_accessible(page: Page, what: str) -> None:
    """No serious or critical axe-core violation on ``page``; prints every violation found."""
    violations = axe_violations(page)
    for violation in violations:
        targets = [node["target"] for node in violation["nodes"]]
        print(f"axe on {what}: {violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    blocking = [v["id"] for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], f"serious or critical accessibility problems on {what}: {json.dumps(blocking)}"


def hub_settings(tmp_path: Path, bootstrap: str | None, **intake: Any) -> Settings:
    """A hub on SQLite under ``tmp_path`` with its own topic prefix; ``intake`` overrides IntakeSettings."""
    return Settings(
        env="test",
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:8]}", partitions=1),
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
        intake=IntakeSettings(**intake),
    )


@dataclass
class ServedHub:
    """A hub API served over real HTTP, and helpers to act as its operator and agency admins."""

    base_url: str
    settings: Settings
    issuer: DevIssuer

    def operator(self) -> dict[str, str]:
        token = self.issuer.mint(subject="browser-operator", roles=[Role.HUB_OPERATOR])
        return {"Authorization": f"Bearer {token}"}

    def admin(self, agency: AgencyId) -> dict[str, str]:
        token = self.issuer.mint(subject=f"admin@{agency}", roles=[Role.AGENCY_ADMIN], agency=agency)
        return {"Authorization": f"Bearer {token}"}

    def register(self, keys: AgencyKeyPair, kind: str) -> None:
        """Register ``keys.agency`` as an agency of ``kind`` with its public keys."""
        response = httpx.post(
            f"{self.base_url}/agencies",
            headers=self.operator(),
            json={
                "id": keys.agency,
                "display_name": f"{keys.agency} (synthetic)",
                "kind": kind,
                "signing_public_key": b64url(keys.signing_public),
                "encryption_public_key": b64url(keys.encryption_public),
            },
        )
        assert response.status_code == 201, response.text


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a fresh event loop in a worker thread; its result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="browser-async") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving_hub(settings: Settings, *, start_timeout_s: float = 60.0) -> Iterator[ServedHub]:
    """Run ``create_app(settings)`` under uvicorn in a thread on a free port until the block ends."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"hub-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the hub did not start on port {port} within {start_timeout_s} s", pytrace=False)
        time.sleep(0.05)
    try:
        yield ServedHub(f"http://127.0.0.1:{port}", settings, DevIssuer.from_settings(settings))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
