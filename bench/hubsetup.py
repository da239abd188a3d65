"""A real hub for benchmarks, minus HTTP: settings, a migrated SQLite database, the registry, agreements.

The same service functions the API calls register agencies and propose and approve
agreements; ``directory_document`` and ``policy_document`` are what ``GET /directory`` and
``GET /policy`` would serve, so connectors built from them see what they would see from the
API. ``start_announcer`` announces each commit on the policy topic, as the API's lifespan does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from contracts.registry.service import seed_bundled
from hub import db
from hub.agencies import service as agencies_service
from hub.agencies.schemas import AgencyCreate, DirectoryOut, b64url
from hub.agreements import service as agreements_service
from hub.agreements.schemas import AgreementBody, AgreementPropose
from hub.policy.api import snapshot
from hub.policy.bus import PolicyAnnouncer
from hub.policy.changes import announce_commits
from hub.router import runtime
from onedoor.envelope.keys import AgencyKeyPair, HubKey
from onedoor.ids import AgencyId
from onedoor.settings import Settings
from onedoor.topics import TopicNames


def hub_settings(
    home: Path, prefix: str, *, partitions: int | None = None, router: Mapping[str, Any] | None = None
) -> Settings:
    """Settings of a bench hub under ``home`` (SQLite there) with its own topic prefix."""
    kafka: dict[str, Any] = {"topic_prefix": prefix}
    if partitions is not None:
        kafka["partitions"] = partitions
    return Settings.model_validate({"home": str(home), "kafka": kafka, "router": dict(router or {})})


@dataclass
class HubDb:
    """A migrated hub database with the bundled contracts registered."""

    settings: Settings
    factory: sessionmaker[Session]
    dispose: Callable[[], None]

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.settings.kafka.topic_prefix)

    @property
    def hub_key(self) -> HubKey:
        return HubKey.load_or_create(self.settings.hub_key_path)


def create_hub_db(settings: Settings) -> HubDb:
    """Migrate the settings' database and register the bundled contracts."""
    db.migrate(settings.database_url)
    engine = db.engine_from_settings(settings)
    factory = db.session_factory(engine)
    with factory() as session, session.begin():
        seed_bundled(session)
    return HubDb(settings, factory, engine.dispose)


def register(session: Session, keys: AgencyKeyPair, kind: str) -> None:
    """Register an agency with its public keys, as the operator would through ``POST /agencies``."""
    agencies_service.register(
        session,
        AgencyCreate.model_validate(
            {
                "id": str(keys.agency),
                "display_name": f"Bench {keys.agency}",
                "kind": kind,
                "signing_public_key": b64url(keys.signing_public),
                "encryption_public_key": b64url(keys.encryption_public),
            }
        ),
    )


def agree(factory: sessionmaker[Session], body: Mapping[str, Any], parties: Iterable[AgencyId]) -> None:
    """Propose ``body`` and approve it as each party's admin: it is in force when this returns."""
    agreement = AgreementBody.model_validate(body)
    with factory() as session, session.begin():
        row = agreements_service.propose(session, AgreementPropose(agreement=agreement), by="bench-admin")
        for agency in parties:
            agreements_service.approve(
                session, agreement.id, row.version, agency=agency, approver=f"admin@{agency}", digest=row.digest
            )


def directory_document(hub: HubDb) -> dict[str, Any]:
    """What ``GET /directory`` would serve now."""
    with hub.factory() as session:
        directory = agencies_service.directory_snapshot(session)
    return DirectoryOut.from_directory(directory, hub_public_key=hub.hub_key.public).model_dump(mode="json")


def policy_document(hub: HubDb) -> dict[str, Any]:
    """What ``GET /policy`` would serve now."""
    with hub.factory() as session:
        return snapshot(session).model_dump(mode="json")


async def start_announcer(bootstrap: str, hub: HubDb) -> PolicyAnnouncer:
    """Create the hub's topics and announce every commit on the policy topic (as the API's lifespan does)."""
    await runtime.ensure_hub_topics(bootstrap, hub.settings)
    announcer = PolicyAnnouncer(bootstrap, hub.topics)
    await announcer.start()
    announce_commits(hub.factory, announcer.publish)
    return announcer
