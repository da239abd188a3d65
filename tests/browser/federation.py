"""Connector processes for page tests: the hub's router and agencies' connectors, each with its REST API
and workbench served by uvicorn on a free port, all on one asyncio loop in a background thread.

The page tests drive Playwright's sync API from the test thread; everything asynchronous (the
router, ``running_connector``, uvicorn) lives on this thread's own loop, exactly as
``onedoor hub router`` and ``onedoor connector serve`` run them.
"""

from __future__ import annotations

import asyncio
import threading
import traceback
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from connectors.agent.api import create_app
from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import ConnectorProcess, running_connector
from connectors.identity import MatchingKey
from connectors.workbench.store import WorkbenchStore
from connectors.workbench.users import Staff
from hub import db
from hub.router import runtime
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.settings import Settings
from tests.browser.conftest import ServedHub, free_port

REFERRAL = "onedoor.referral.MasterReferral"


def referral_agreement(ident: str, sender: AgencyId, recipient: AgencyId, purpose: str) -> dict[str, Any]:
    """``sender`` may send ``recipient`` full referrals for ``purpose`` (public task, DPA 2018 Sch. 1 para 18)."""
    return {
        "id": ident,
        "title": "Synthetic triage agreement",
        "parties": [f"agency:{sender}", f"agency:{recipient}"],
        "contracts": [REFERRAL],
        "purposes": [purpose],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{sender}"],
                "recipients": [f"agency:{recipient}"],
                "access_level": "full",
            }
        ],
        "lawful_basis": {
            "article6": "UK GDPR Art. 6(1)(e)",
            "statutes": ["Children Act 2004 s.11"],
            "article9": "UK GDPR Art. 9(2)(g)",
            "conditions": ["DPA 2018 Sch. 1 para 18"],
        },
        "retention_days": 365,
        "review_date": (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
    }


def agree(hub: ServedHub, body: dict[str, Any]) -> None:
    """Propose as the first party's admin, approve as every party's admin."""
    parties = [AgencyId(p.removeprefix("agency:")) for p in body["parties"]]
    with httpx.Client(base_url=hub.base_url, timeout=30) as client:
        proposed = client.post("/agreements", json={"agreement": body}, headers=hub.admin(parties[0]))
        assert proposed.status_code == 201, proposed.text
        latest = proposed.json()["versions"][-1]
        for agency in parties:
            approved = client.post(
                f"/agreements/{body['id']}/versions/{latest['version']}/approve",
                json={"digest": latest["digest"]},
                headers=hub.admin(agency),
            )
            assert approved.status_code == 200, approved.text


def connector_config(
    root: Path, keys: AgencyKeyPair, hub: ServedHub, bootstrap: str, **overrides: Any
) -> ConnectorConfig:
    """A connector for ``keys.agency`` with its files under ``root/<agency>`` and a free API port."""
    home = root / str(keys.agency)
    keys.save(home / "keys")
    MatchingKey.generate().save(home / "matching.key")
    values: dict[str, Any] = {
        "agency": str(keys.agency),
        "keys_dir": home / "keys",
        "matching_key_path": home / "matching.key",
        "disclosure_log_path": home / "disclosures.sqlite3",
        "hub_url": hub.base_url,
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": hub.settings.kafka.topic_prefix},
        "api": {"port": free_port(), "token": "browser-test-token-" + "x" * 32},
        "policy_refresh_seconds": 2.0,
        "workbench": {"secure_cookies": False},
        **overrides,
    }
    return ConnectorConfig(**values)


def add_staff(config: ConnectorConfig, username: str, role: str, password: str) -> None:
    """Create a workbench account, as ``onedoor connector user add`` does."""
    store = WorkbenchStore(config.workbench_database_url()).create()
    try:
        Staff(store).add(username, role, password)
    finally:
        store.close()


@dataclass
class Federation:
    """Running connectors by agency, and their base URLs."""

    processes: dict[AgencyId, ConnectorProcess] = field(default_factory=dict)
    urls: dict[AgencyId, str] = field(default_factory=dict)


class ConnectorsThread:
    """``with ConnectorsThread(settings, configs) as federation:`` runs the router and the connectors."""

    def __init__(self, settings: Settings, configs: list[ConnectorConfig], *, start_timeout_s: float = 120.0) -> None:
        self._settings = settings
        self._configs = configs
        self._timeout = start_timeout_s
        self._ready = threading.Event()
        self._failure: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="connectors", daemon=True)
        self.federation = Federation()

    def __enter__(self) -> Federation:
        self._thread.start()
        if not self._ready.wait(self._timeout) or self._failure:
            self._halt()
            raise AssertionError(f"the connectors did not start: {self._failure or 'timed out'}")
        return self.federation

    def __exit__(self, *_exc: object) -> None:
        self._halt()

    def _halt(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._failure = "".join(traceback.format_exception(exc))[-4000:]
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        settings = self._settings
        bootstrap = settings.kafka.bootstrap_servers
        assert bootstrap is not None
        engine = db.engine_from_settings(settings)
        await runtime.ensure_hub_topics(bootstrap, settings)
        router = runtime.build_router(settings, bootstrap, db.session_factory(engine), refresh_interval_s=2.0)
        try:
            async with router, AsyncExitStack() as stack:
                routing = asyncio.create_task(router.run())
                servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
                for config in self._configs:
                    process = await stack.enter_async_context(running_connector(config))
                    server = uvicorn.Server(
                        uvicorn.Config(
                            create_app(config, process),
                            host="127.0.0.1",
                            port=config.api.port,
                            log_config=None,
                            access_log=False,
                            lifespan="off",
                        )
                    )
                    servers.append((server, asyncio.create_task(server.serve())))
                    while not server.started:  # noqa: ASYNC110 - uvicorn has no event to await
                        await asyncio.sleep(0.02)
                    self.federation.processes[config.agency_id] = process
                    self.federation.urls[config.agency_id] = f"http://127.0.0.1:{config.api.port}"
                self._ready.set()
                await self._stop.wait()
                for server, _ in servers:
                    server.should_exit = True
                await asyncio.gather(*(task for _, task in servers), return_exceptions=True)
                router.request_stop()
                await routing
        finally:
            engine.dispose()
