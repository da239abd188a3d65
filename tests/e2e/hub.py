"""A whole hub for end-to-end tests: HTTP API (migrations, announcer), router, real broker, SQLite.

``running_hub`` starts the API's lifespan (so committed changes are announced on the policy
topic) and a router built by ``hub.router.runtime`` exactly as ``onedoor hub router`` builds it,
with its periodic refresh set to a minute: a change that takes effect sooner was pushed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaConsumer

from connectors.agent.config import ConnectorConfig
from connectors.identity import MatchingKey
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import fetch_directory
from connectors.sdk.policy import SharingPolicy, fetch_policy
from consent.agreement import AgreementState
from hub import db
from hub.agencies.schemas import b64url
from hub.app import create_app
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.router import runtime
from hub.router.service import Router
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, AgreementId
from onedoor.settings import DatabaseSettings, KafkaSettings, Settings
from onedoor.topics import TopicNames

REFERRAL = "onedoor.referral.MasterReferral"
PURPOSE = "safeguarding-referral"


STATUS_CONTRACTS = ("onedoor.status.StatusCheck", "onedoor.status.StatusReply")
STATUS_REPLY_CLASSES = ("operational", "safeguarding", "contact")


def status_agreement_body(
    ident: str, requester: AgencyId, responder: AgencyId, reply_classes: Sequence[str] = STATUS_REPLY_CLASSES
) -> dict[str, Any]:
    """``requester`` may send ``responder`` status checks, and ``responder`` may answer with ``reply_classes``."""
    return {
        "id": ident,
        "title": "Synthetic status-check agreement",
        "parties": [f"agency:{requester}", f"agency:{responder}"],
        "contracts": list(STATUS_CONTRACTS),
        "purposes": ["victim-identification"],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{requester}"],
                "recipients": [f"agency:{responder}"],
                "actions": ["send"],
                "classes": ["identity", "operational"],
            },
            {
                "effect": "permit",
                "senders": [f"agency:{responder}"],
                "recipients": [f"agency:{requester}"],
                "actions": ["query"],
                "classes": list(reply_classes),
            },
        ],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2099-01-01",
    }


def agreement_body(ident: str, sender: AgencyId, recipient: AgencyId, level: str = "limited") -> dict[str, Any]:
    """``sender`` may send ``recipient`` referrals at ``level``; public task (Children Act 2004 s.11)."""
    return {
        "id": ident,
        "title": "Synthetic end-to-end agreement",
        "parties": [f"agency:{sender}", f"agency:{recipient}"],
        "contracts": [REFERRAL],
        "purposes": [PURPOSE],
        "provisions": [
            {
                "effect": "permit",
                "senders": [f"agency:{sender}"],
                "recipients": [f"agency:{recipient}"],
                "access_level": level,
            }
        ],
        "lawful_basis": {
            "article6": "UK GDPR Art. 6(1)(e)",
            "statutes": ["Children Act 2004 s.11"],
            # Health and criminal intelligence (in "full") need a special category condition.
            **(
                {"article9": "UK GDPR Art. 9(2)(g)", "conditions": ["DPA 2018 Sch. 1 para 18"]}
                if level == "full"
                else {}
            ),
        },
        "retention_days": 365,
        "review_date": (datetime.now(UTC) + timedelta(days=365)).date().isoformat(),
    }


@dataclass
class RunningHub:
    """The API client, the router, and helpers to act as each role."""

    settings: Settings
    client: httpx.AsyncClient
    issuer: DevIssuer
    router: Router
    bootstrap: str
    engine: Any
    minted: list[str] = field(default_factory=list)
    """Every bearer token handed out, so a test can look for them where they must not be."""

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.settings.kafka.topic_prefix)

    def operator(self) -> dict[str, str]:
        token = self.issuer.mint(subject="e2e-operator", roles=[Role.HUB_OPERATOR])
        self.minted.append(token)
        return {"Authorization": f"Bearer {token}"}

    def admin(self, agency: AgencyId) -> dict[str, str]:
        token = self.issuer.mint(subject=f"admin@{agency}", roles=[Role.AGENCY_ADMIN], agency=agency)
        self.minted.append(token)
        return {"Authorization": f"Bearer {token}"}

    async def register(self, keys: AgencyKeyPair, kind: str) -> None:
        response = await self.client.post(
            "/agencies",
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

    async def agree(self, body: dict[str, Any]) -> int:
        """Propose as the first party's admin, approve as every party's admin; returns the version."""
        parties = [AgencyId(p.removeprefix("agency:")) for p in body["parties"]]
        proposed = await self.client.post("/agreements", json={"agreement": body}, headers=self.admin(parties[0]))
        assert proposed.status_code == 201, proposed.text
        latest = proposed.json()["versions"][-1]
        for agency in parties:
            approved = await self.client.post(
                f"/agreements/{body['id']}/versions/{latest['version']}/approve",
                json={"digest": latest["digest"]},
                headers=self.admin(agency),
            )
            assert approved.status_code == 200, approved.text
        shown = await self.client.get(f"/agreements/{body['id']}", headers=self.admin(parties[0]))
        assert shown.json()["in_force"] is not None, shown.text
        await self.router_holds(
            lambda: self.router_agreement(body["id"]) is AgreementState.ACTIVE, f"agreement {body['id']}"
        )
        return int(latest["version"])

    def router_agreement(self, agreement_id: str) -> AgreementState | None:
        """The state of the agreement as the router enforces it now, or ``None`` if it holds none by that id."""
        policy = self.router.tables.policy
        held = None if policy is None else policy.index.get(AgreementId(agreement_id))
        return None if held is None else held.state

    async def router_holds(self, condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
        """Wait until the router's tables satisfy ``condition``.

        Counting reloads is not enough: one change (an agreement's proposal and each approval)
        makes several announcements, and a late reload may be mistaken for the next change's.
        """
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, f"the router did not take in {what}"
            await asyncio.sleep(0.01)

    async def policy(self) -> SharingPolicy:
        return await fetch_policy("http://hub", client=self.client)

    async def connector(
        self, keys: AgencyKeyPair, policy: SharingPolicy | None = None, *, refresh_on_miss: bool = False
    ) -> Connector:
        directory = await fetch_directory("http://hub", client=self.client)
        return Connector(
            keys=keys,
            directory=directory,
            codec=ContractCodecs.bundled(),
            bootstrap_servers=self.bootstrap,
            topics=self.topics,
            policy=policy,
            policy_refresh=policy.refresher("http://hub", client=self.client) if policy and refresh_on_miss else None,
        )


def connector_config(
    root: Path,
    keys: AgencyKeyPair,
    hub: RunningHub,
    adapters: dict[str, Any] | None = None,
    *,
    matching: MatchingKey | None = None,
    token: str = "t" * 40,
    **overrides: Any,
) -> ConnectorConfig:
    """A connector for ``keys.agency`` under ``root/<agency>``: its keys, ``matching`` (else a new matching key),
    ``adapters`` as its adapters file (if any), the hub's topic prefix, ``token`` for its API, and ``overrides``."""
    home = root / str(keys.agency)
    keys.save(home / "keys")
    (matching or MatchingKey.generate()).save(home / "matching.key")
    if adapters is not None:
        (home / "adapters.yaml").write_text(yaml.safe_dump(adapters))
        overrides["adapters_file"] = home / "adapters.yaml"
    return ConnectorConfig(
        agency=str(keys.agency),
        keys_dir=home / "keys",
        matching_key_path=home / "matching.key",
        disclosure_log_path=home / "disclosures.sqlite3",
        kafka={"topic_prefix": hub.settings.kafka.topic_prefix},
        api={"token": token},
        **overrides,
    )


async def eventually(check: Callable[[], Any], what: str, timeout_s: float = 40.0) -> Any:
    """Poll ``check`` every 0.1 s until it returns something truthy, and return that; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return found


def hub_settings(tmp_path: Path, bootstrap: str) -> Settings:
    return Settings(
        env="test",
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"e{os.urandom(4).hex()}", partitions=1),
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
    )


@asynccontextmanager
async def running_hub(settings: Settings, *, refresh_interval_s: float = 60.0) -> AsyncIterator[RunningHub]:
    """API lifespan, then a router (started and running) for the duration."""
    bootstrap = settings.kafka.bootstrap_servers
    assert bootstrap is not None
    app = create_app(settings)
    engine = db.engine_from_settings(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            await runtime.ensure_hub_topics(bootstrap, settings)
            router = runtime.build_router(
                settings, bootstrap, db.session_factory(engine), refresh_interval_s=refresh_interval_s
            )
            async with router:
                task = asyncio.create_task(router.run())
                try:
                    yield RunningHub(settings, client, DevIssuer.from_settings(settings), router, bootstrap, engine)
                finally:
                    router.request_stop()
                    await task
    engine.dispose()


class DeadLetters:
    """Reads the dead-letter topic from its start; ``next`` waits for one matching record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.seen: list[dict[str, str]] = []

    async def __aenter__(self) -> DeadLetters:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._consumer.stop()

    async def wait_for(self, message_id: str, timeout_s: float = 20.0) -> dict[str, str]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for headers in self.seen:
                if headers.get("ce_id") == message_id:
                    return headers
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                self.seen.extend({k: v.decode() for k, v in r.headers} for r in records)
        raise AssertionError(f"no dead letter for {message_id} within {timeout_s} s")
