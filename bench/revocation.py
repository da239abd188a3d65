"""How long after an agreement is revoked (or consent withdrawn) until the hub refuses new messages.

The real path, minus HTTP: an admin's change commits in the hub database (the same service
functions the API calls), the commit is announced on the policy topic, a router started by
``hub.router.runtime.build_router`` (its periodic refresh set to a minute, so only the push can
explain a fast effect) reloads, and the next envelope is dead-lettered. A sender publishes a
steady stream of sealed envelopes throughout. Each trial uses a fresh agreement (a revoked one
is revoked for good) or a fresh young person.

Measured per trial: from the commit returning to the first dead letter for that agreement or
subject arriving at a consumer of the dead-letter topic; and how many envelopes sealed after the
commit were still delivered (they were in flight, or routed before the reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.orm import Session, sessionmaker

from bench import hubsetup
from hub.agreements import service as agreements_service
from hub.consents import service as consents_service
from hub.consents.schemas import ConsentIn
from hub.policy.bus import PolicyAnnouncer
from hub.router import runtime
from onedoor.envelope import hubmac
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair, HubKey, RecipientKey
from onedoor.envelope.seal import seal
from onedoor.ids import AgencyId, AgreementId, ContractName, CorrelationId, MessageId, Purpose, SubjectToken
from onedoor.settings import Settings
from onedoor.topics import TopicNames

POLICE = AgencyId("bench-rev-police")
COUNCIL = AgencyId("bench-rev-council")
REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
SEND_EVERY_S = 0.005
"""200 envelopes/s: a busy federation's referrals and alerts, far above today's rates."""


def _agree(factory: sessionmaker[Session], agreement_id: str) -> None:
    body = {
        "id": agreement_id,
        "parties": [f"agency:{POLICE}", f"agency:{COUNCIL}"],
        "contracts": [str(REFERRAL)],
        "purposes": [str(PURPOSE)],
        "provisions": [{"effect": "permit", "access_level": "limited"}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": (date.today() + timedelta(days=365)).isoformat(),
    }
    hubsetup.agree(factory, body, (POLICE, COUNCIL))


def _revoke(factory: sessionmaker[Session], agreement_id: str) -> None:
    with factory() as session, session.begin():
        agreements_service.revoke(session, agreement_id, by="bench-admin")


def _withdraw(factory: sessionmaker[Session], token: str) -> None:
    with factory() as session, session.begin():
        new = ConsentIn.model_validate(
            {"status": "withdrawn", "agency_id": str(COUNCIL), "recorded_by": "bench-staff-1"}
        )
        consents_service.record(session, token, new)


class _Stream:
    """Seals and publishes one envelope every ``SEND_EVERY_S`` under the current agreement and subject."""

    def __init__(self, police: AgencyKeyPair, council: AgencyKeyPair, hub: HubKey, topics: TopicNames) -> None:
        self.police = police
        self.council = RecipientKey.from_raw(COUNCIL, council.encryption_public)
        self.mac_key = hubmac.sender_mac_key(police.encryption, police.encryption_public, hub.public)
        self.topic = topics.outbound(POLICE)
        self.agreement = AgreementId("isa-bench-rev-0")
        self.subject = SubjectToken("st1_BENCHrevocationSubject000")
        self.sent: dict[str, tuple[float, str, str]] = {}
        """message id -> (perf_counter when sealed, agreement, subject)."""

    def envelope(self) -> tuple[str, bytes]:
        now = int(time.time() * 1000)
        header = Header(
            message_id=MessageId.new(),
            contract=REFERRAL,
            contract_version=1,
            sender=POLICE,
            sender_signing_key=self.police.signing_key_id,
            sender_encryption_key=self.police.encryption_key_id,
            recipients=(COUNCIL,),
            purpose=PURPOSE,
            subject_token=self.subject,
            created_at_ms=now,
            expires_at_ms=now + 600_000,
            correlation_id=CorrelationId.new(),
            agreement=self.agreement,
        )
        value = seal(
            header=header, body=b"\x00" * 256, sender=self.police, recipients=[self.council], hub_mac_key=self.mac_key
        )
        self.sent[str(header.message_id)] = (time.perf_counter(), str(self.agreement), str(self.subject))
        return str(header.message_id), value

    async def run(self, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            message_id, value = self.envelope()
            await producer.send(self.topic, value, key=message_id.encode())
            await asyncio.sleep(SEND_EVERY_S)


async def _switch(stream: _Stream, factory: sessionmaker[Session], agreement: str, subject: str) -> None:
    """Approve a fresh agreement and send under it about ``subject`` from now on."""
    await asyncio.to_thread(_agree, factory, agreement)
    stream.agreement = AgreementId(agreement)
    stream.subject = SubjectToken(subject)
    await asyncio.sleep(1.0)  # the router has reloaded (push) and messages are flowing


async def _watch(consumer: AIOKafkaConsumer, seen: dict[str, tuple[float, str]], stop: asyncio.Event) -> None:
    """Record when each message id arrives, and with which dead-letter reason ('' when delivered)."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=50)
        now = time.perf_counter()
        for records in batches.values():
            for record in records:
                headers = dict(record.headers or ())
                message_id = (headers.get("ce_id") or b"").decode()
                seen.setdefault(message_id, (now, (headers.get("od_reason") or b"").decode()))


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


@dataclass
class _Hub:
    """A hub database with two agencies and the bundled contracts, announcing its commits."""

    settings: Settings
    factory: sessionmaker[Session]
    dispose: Callable[[], None]
    stream: _Stream
    announcer: PolicyAnnouncer


async def _hub(bootstrap: str) -> _Hub:
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-rev-"))
    hub = hubsetup.create_hub_db(hubsetup.hub_settings(work, f"rev{int(time.time())}"))
    police, council = AgencyKeyPair.generate(POLICE), AgencyKeyPair.generate(COUNCIL)
    with hub.factory() as session, session.begin():
        hubsetup.register(session, police, "police")
        hubsetup.register(session, council, "children-services")
    stream = _Stream(police, council, hub.hub_key, hub.topics)
    announcer = await hubsetup.start_announcer(bootstrap, hub)
    return _Hub(hub.settings, hub.factory, hub.dispose, stream, announcer)


async def measure(bootstrap: str, trials: int = 15) -> dict[str, dict[str, Any]]:
    """Revoke ``trials`` agreements and withdraw ``trials`` consents; effect times in ms."""
    hub = await _hub(bootstrap)
    settings, factory, stream = hub.settings, hub.factory, hub.stream
    topics = TopicNames(settings.kafka.topic_prefix)
    router = runtime.build_router(settings, bootstrap, factory, refresh_interval_s=60.0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        topics.inbox(COUNCIL),
        topics.dead_letter,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    seen: dict[str, tuple[float, str]] = {}
    revocations: list[float] = []
    withdrawals: list[float] = []
    leaked = 0
    stop = asyncio.Event()
    async with router:
        tasks = [asyncio.create_task(router.run())]
        await producer.start()
        await consumer.start()
        try:
            tasks.append(asyncio.create_task(_watch(consumer, seen, stop)))
            for trial in range(trials):
                agreement = f"isa-bench-rev-{trial}"
                await _switch(stream, factory, agreement, f"st1_BENCHrevocationSubject{trial:03d}")
                if trial == 0:
                    tasks.append(asyncio.create_task(stream.run(producer, stop)))
                    await asyncio.sleep(1.0)
                effect, late = await _effect(
                    partial(_revoke, factory, agreement),
                    stream,
                    seen,
                    lambda m, a=agreement: m[1] == a,
                    "agreement.revoked",
                )
                revocations.append(effect)
                leaked += late
                # The same young person under a fresh agreement; then their consent is withdrawn.
                subject = str(stream.subject)
                await _switch(stream, factory, f"{agreement}-b", subject)
                effect, late = await _effect(
                    partial(_withdraw, factory, subject),
                    stream,
                    seen,
                    lambda m, s=subject: m[2] == s,
                    "consent.withdrawn",
                )
                withdrawals.append(effect)
                leaked += late
        finally:
            stop.set()
            router.request_stop()
            for task in tasks:
                with contextlib.suppress(Exception):
                    await task
            await consumer.stop()
            await producer.stop()
            await hub.announcer.stop()
            hub.dispose()
    return _figures(trials, revocations, withdrawals, leaked)


def _figures(trials: int, revocations: list[float], withdrawals: list[float], leaked: int) -> dict[str, dict[str, Any]]:
    cond = (
        f"{trials} trials each, 200 envelopes/s streaming, 1 router (refresh every 60 s, so only the push counts), "
        "SQLite hub DB, 1 broker; commit -> first dead letter with that reason"
    )
    return {
        "consent.revocation_effect_ms": {
            "value": round(_p99(revocations), 1),
            "unit": "ms",
            "conditions": "p99; " + cond,
        },
        "consent.revocation_effect_max_ms": {
            "value": round(max(revocations), 1),
            "unit": "ms",
            "conditions": "max; " + cond,
        },
        "consent.withdrawal_effect_ms": {
            "value": round(_p99(withdrawals), 1),
            "unit": "ms",
            "conditions": "p99; " + cond,
        },
        "consent.sealed_after_change_delivered": {
            "value": leaked,
            "unit": "envelopes",
            "conditions": "sealed after the commit yet delivered (in flight or routed before the reload), all trials",
        },
    }


async def _effect(
    change: Callable[[], None],
    stream: _Stream,
    seen: dict[str, tuple[float, str]],
    concerns: Callable[[tuple[float, str, str]], bool],
    reason: str,
) -> tuple[float, int]:
    await asyncio.to_thread(change)
    committed = time.perf_counter()
    deadline = committed + 10
    while time.perf_counter() < deadline:
        refused = [
            seen[m][0] for m, sent in list(stream.sent.items()) if concerns(sent) and m in seen and seen[m][1] == reason
        ]
        if refused:
            late = sum(
                1
                for m, sent in list(stream.sent.items())
                if concerns(sent) and sent[0] > committed and m in seen and not seen[m][1]
            )
            return (min(refused) - committed) * 1000, late
        await asyncio.sleep(0.005)
    raise RuntimeError(f"no envelope was refused with {reason} within 10 s of the change")
