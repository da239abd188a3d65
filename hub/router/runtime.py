"""Wiring the router to the hub's database and broker: tables, audit sink, topics, replay window."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consent.agreement import Agreement
from consent.catalog import Catalog
from consent.index import AgreementIndex
from contracts.registry.service import registered_versions, seed_bundled
from hub.agencies.service import directory_snapshot
from hub.agreements import service as agreements_service
from hub.audit import service as audit_service
from hub.audit.models import AuditEvent
from hub.consents.service import consent_states
from hub.ops.telemetry import trace_router
from hub.router.decide import Limits
from hub.router.policy import RoutingPolicy
from hub.router.service import AuditSink, Router, RouterConfig, TablesLoader
from hub.router.status import StatusLimits
from hub.router.tables import AgencyEntry, RoutingTables
from onedoor.envelope.keys import HubKey
from onedoor.envelope.window import MessageWindow
from onedoor.ids import AgencyId
from onedoor.kafka.admin import ensure_topics
from onedoor.kafka.plan import replay_topic
from onedoor.logging import get_logger
from onedoor.settings import Settings
from onedoor.topics import TopicNames

log = get_logger(__name__)

DEAD_LETTER_CONFIG = {"max.message.bytes": str(8 * 1024 * 1024), "retention.ms": str(30 * 86_400_000)}
"""Dead letters wait 30 days for an operator, and hold even an oversized envelope whole."""


def _policy_fingerprint(agreements: Sequence[Agreement], catalog: Catalog) -> str:
    # What the compiled index depends on: agreement versions and states, agencies, contracts.
    digest = hashlib.sha256()
    for agreement in sorted(agreements, key=lambda a: a.id):
        digest.update(f"a|{agreement.id}|{agreement.version}|{agreement.state}\n".encode())
    for agency, member in sorted(catalog.members.items()):
        digest.update(f"m|{agency}|{member.kind}|{','.join(sorted(member.groups))}\n".encode())
    for (name, version), contract in sorted(catalog.contracts.items()):
        digest.update(f"c|{name}|{version}|{contract.digest}\n".encode())
    return digest.hexdigest()


def load_policy(session: Session, previous: RoutingPolicy | None = None) -> RoutingPolicy:
    """Agreements (compiled into an index) and consent states, as the router enforces them.

    The index is rebuilt only when an agreement, an agency or a contract changed: otherwise the
    previous one is kept with its warm decision memo. Consent states are read every time (they
    are applied after the memo, so they need no rebuild).
    """
    agreements = agreements_service.active_agreements(session)
    catalog = agreements_service.catalog_for(session, agreements)
    fingerprint = _policy_fingerprint(agreements, catalog)
    if previous is not None and previous.fingerprint == fingerprint:
        index = previous.index
    else:
        version = 0 if previous is None else previous.index.version + 1
        index = AgreementIndex.build(agreements, catalog, version=version, skip_invalid=True)
        for agreement_id, problem in index.rejected:
            log.warning("router.agreement_not_loaded", agreement_id=agreement_id, code=problem.code)
    return RoutingPolicy(index=index, consent=consent_states(session), fingerprint=fingerprint)


def tables_loader(factory: sessionmaker[Session], hub_key: HubKey) -> TablesLoader:
    """Build routing tables from the registry (agencies, keys, contract versions), agreements and consent."""
    previous: RoutingPolicy | None = None

    def load() -> RoutingTables:
        nonlocal previous
        with factory() as session:
            directory = directory_snapshot(session)
            contracts = registered_versions(session)
            policy = previous = load_policy(session, previous)
        now = datetime.now(UTC)
        agencies = {
            str(entry.agency_id): AgencyEntry(
                active=entry.active,
                signing_key_ids=frozenset(str(k) for k, key in entry.signing_keys.items() if key.valid_at(now)),
                encryption_keys={
                    str(k): key.public_key for k, key in entry.encryption_keys.items() if key.valid_at(now)
                },
            )
            for entry in directory.agencies.values()
        }
        return RoutingTables(agencies=agencies, contracts=contracts, hub_key=hub_key, policy=policy)

    return load


def audit_sink(factory: sessionmaker[Session]) -> AuditSink:
    """Append the router's audit rows in one transaction per batch."""
    return partial(audit_service.append_now_rows, factory)


def topic_provisioner(bootstrap: str, topics: TopicNames, settings: Settings) -> Any:
    """Create each newly registered agency's outbound topic and inbox."""

    async def provision(agencies: Sequence[str]) -> None:
        names = [t for a in agencies for t in (topics.outbound(AgencyId(a)), topics.inbox(AgencyId(a)))]
        await ensure_topics(
            bootstrap,
            names,
            partitions=settings.kafka.partitions,
            replication_factor=settings.kafka.replication_factor,
            credentials=settings.kafka.credentials(),
        )

    return provision


def replay_window_from_audit(factory: sessionmaker[Session], now: datetime | None = None) -> MessageWindow:
    """Rebuild the replay window after a restart from what the audit log says was delivered."""
    now = now or datetime.now(UTC)
    window = MessageWindow()
    stmt = select(AuditEvent.message_id, AuditEvent.source, AuditEvent.expires_at).where(
        AuditEvent.kind == "route.delivered", AuditEvent.expires_at > now
    )
    with factory() as session:
        for message_id, source, expires_at in session.execute(stmt):
            if message_id and source and expires_at:
                moment = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
                window.admit(message_id, source, int(moment.timestamp() * 1000))
    return window


def status_limits(settings: Settings) -> StatusLimits:
    """The status-check limits the settings ask for (``ONEDOOR_ROUTER__STATUS_*``)."""
    router = settings.router
    return StatusLimits(
        hard_deadline_ms=round(router.status_hard_deadline_seconds * 1000),
        soft_deadline_ms=round(router.status_soft_deadline_seconds * 1000),
        rate_per_s=router.status_rate_per_second,
        burst=router.status_rate_burst,
        enumeration_threshold=router.status_enumeration_threshold,
        enumeration_window_ms=router.status_enumeration_window_seconds * 1000,
        max_outstanding=router.status_max_outstanding,
    )


def router_limits(settings: Settings) -> Limits:
    """The size and time limits the settings ask the router to enforce."""
    return Limits(
        max_envelope_bytes=settings.router.max_envelope_bytes,
        max_ttl_ms=settings.router.max_ttl_seconds * 1000,
        clock_skew_ms=settings.router.clock_skew_seconds * 1000,
    )


def build_router(
    settings: Settings, bootstrap: str, factory: sessionmaker[Session], *, refresh_interval_s: float = 2.0
) -> Router:
    """A router for this hub: its registry, its audit log, its topics."""
    topics = TopicNames(settings.kafka.topic_prefix)
    config = RouterConfig(
        bootstrap_servers=bootstrap,
        topics=topics,
        limits=router_limits(settings),
        batch_max_records=settings.router.batch_max_records,
        refresh_interval_s=refresh_interval_s,
        replication_factor=settings.kafka.replication_factor,
        status=status_limits(settings),
        credentials=settings.kafka.credentials(),
    )
    return Router(
        config,
        load_tables=tables_loader(factory, HubKey.load_or_create(settings.hub_key_path)),
        audit=audit_sink(factory),
        provision=topic_provisioner(bootstrap, topics, settings),
        replay=replay_window_from_audit(factory),
    )


async def ensure_hub_topics(bootstrap: str, settings: Settings) -> None:
    """The hub's own topics: the dead-letter topic, and the replay topic of operators' replays."""
    topics = TopicNames(settings.kafka.topic_prefix)
    await ensure_topics(
        bootstrap,
        [topics.dead_letter, replay_topic(topics)],
        partitions=settings.kafka.partitions,
        configs=DEAD_LETTER_CONFIG,
        credentials=settings.kafka.credentials(),
    )


def seed_contracts(factory: sessionmaker[Session]) -> None:
    """Register the bundled contracts (idempotent), so a router started before the API can route."""
    with factory() as session, session.begin():
        seed_bundled(session)


async def serve(settings: Settings, bootstrap: str, factory: sessionmaker[Session]) -> None:
    """Run one router until SIGINT or SIGTERM."""
    provider = trace_router(settings.telemetry)  # ONEDOOR_TELEMETRY__ENABLED: a span per routed batch
    await asyncio.to_thread(seed_contracts, factory)
    await ensure_hub_topics(bootstrap, settings)
    router = build_router(settings, bootstrap, factory)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, router.request_stop)
    async with router:
        await router.run()
    if provider is not None:
        provider.shutdown()  # flush the last spans
