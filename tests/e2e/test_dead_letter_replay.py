"""A dead letter replayed once its cause is fixed, end to end: real broker, real router, real connectors.

A referral is dead-lettered because its recipient agency is suspended. A replay before the fix
is refused with ``deadletter.cause_not_fixed`` naming the current reason, and nothing changes;
an ops viewer may not replay at all. The agency is reinstated; two replays at once give one
replay and one ``deadletter.already_replayed``, the recipient receives the referral exactly
once, a later replay is refused the same way, and a second copy pushed straight onto the replay
topic is refused by the router's own replay window (``envelope.replayed``). The same for a
refusal of the agreement engine: consent withdrawn, then given again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.synthetic import referral
from hub.audit.models import AuditEvent
from hub.auth.roles import Role
from hub.deadletters.broker import read_dead_letter
from hub.deadletters.wire import REPLAY_SENDER
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken
from onedoor.kafka.plan import replay_topic
from tests.e2e.hub import DeadLetters, RunningHub, agreement_body, hub_settings, running_hub

pytestmark = pytest.mark.e2e

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
CHILD = SubjectToken("st1_FAKEe2eReplaySubject0001")


def _as(hub: RunningHub, role: Role) -> dict[str, str]:
    token = hub.issuer.mint(subject=f"e2e-{role.value}", roles=[role])
    hub.minted.append(token)
    return {"Authorization": f"Bearer {token}"}


async def _letter(hub: RunningHub, message_id: str, *, until: Any = None, timeout_s: float = 20.0) -> dict[str, Any]:
    """The indexed dead letter of ``message_id`` (waits for the index, and for ``until`` if given)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        listed = await hub.client.get("/ops/dead-letters", headers=_as(hub, Role.OPS_VIEWER))
        assert listed.status_code == 200, listed.text
        rows = [r for r in listed.json() if r["message_id"] == message_id]
        if rows and (until is None or until(rows[0])):
            return rows[0]
        assert asyncio.get_running_loop().time() < deadline, f"dead letter of {message_id} not indexed as expected"
        await asyncio.sleep(0.1)


async def _replay(hub: RunningHub, message_id: str, role: Role = Role.HUB_OPERATOR) -> httpx.Response:
    return await hub.client.post(f"/ops/dead-letters/{message_id}/replay", headers=_as(hub, role))


def _audit(hub: RunningHub, message_id: str, kind: str) -> list[AuditEvent]:
    with Session(hub.engine) as session:
        stmt = select(AuditEvent).where(AuditEvent.message_id == message_id, AuditEvent.kind == kind)
        return list(session.scalars(stmt))


async def test_a_dead_letter_is_replayed_exactly_once_after_its_cause_is_fixed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    police = AgencyKeyPair.generate(AgencyId("e2e-dl-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-dl-borough-csc"))
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        await hub.agree(agreement_body("isa-e2e-deadletters", police.agency, council.agency))
        sender = await hub.connector(police, await hub.policy())
        recipient = await hub.connector(council, await hub.policy())
        async with sender, recipient, DeadLetters(kafka_bootstrap, hub.topics.dead_letter) as dead:
            send = {"contract": REFERRAL, "version": 1, "recipients": [council.agency], "purpose": PURPOSE}

            # 1. The recipient agency is suspended: the referral is dead-lettered.
            suspended = await hub.client.post(f"/agencies/{council.agency}/suspend", headers=hub.operator())
            assert suspended.status_code == 200, suspended.text
            await hub.router_holds(lambda: not hub.router.tables.agencies[council.agency].active, "the suspension")
            [sent] = await sender.send(**send, body=referral(21), subject_token=CHILD)
            message_id = str(sent.message_id)
            assert (await dead.wait_for(message_id))["od_reason"] == "recipient.unknown"
            row = await _letter(hub, message_id)
            assert row["reason_code"] == "recipient.unknown"
            assert row["sender"] == police.agency
            assert row["recipients"] == [council.agency]
            assert row["contract"] == REFERRAL
            assert row["replay_state"] == "none"
            assert "registered, active agency" in row["reason"]
            assert CHILD not in str(row), "never a subject token in the dead-letter metadata"

            # 2. Before the fix: refused, naming the current reason; nothing changed.
            early = await _replay(hub, message_id)
            assert early.status_code == 409, early.text
            assert early.json()["code"] == "deadletter.cause_not_fixed"
            assert "recipient.unknown" in early.json()["message"]
            assert (await _letter(hub, message_id))["replay_state"] == "none"
            # An ops viewer (and an auditor) may read, never replay.
            for role in (Role.OPS_VIEWER, Role.AUDITOR):
                assert (await _replay(hub, message_id, role)).status_code == 403

            # 3. The cause is fixed; the replay is routed, and the recipient gets it once.
            reinstated = await hub.client.post(f"/agencies/{council.agency}/reactivate", headers=hub.operator())
            assert reinstated.status_code == 200, reinstated.text
            await hub.router_holds(lambda: hub.router.tables.agencies[council.agency].active, "the reinstatement")
            # Two operators press Replay at once: one replay, one refusal.
            answers = await asyncio.gather(_replay(hub, message_id), _replay(hub, message_id))
            assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
            [replayed] = [a for a in answers if a.status_code == 200]
            [raced] = [a for a in answers if a.status_code == 409]
            assert raced.json()["code"] == "deadletter.already_replayed"
            assert replayed.json()["original_reason"] == "recipient.unknown"
            assert replayed.json()["requeued_at"].startswith(replay_topic(hub.topics) + ":")
            [got] = await recipient.receive(count=1, timeout_s=30)
            assert str(got.header.message_id) == message_id
            assert got.body["concern_summary"] == referral(21)["concern_summary"]
            settled = await _letter(hub, message_id, until=lambda r: r["replay_outcome"] == "delivered")
            assert settled["replay_state"] == "replayed"
            assert settled["replayed_by"] is None, "an ops viewer is not told who replayed it"
            listed = await hub.client.get("/ops/dead-letters", headers=_as(hub, Role.AUDITOR))
            [audited] = [r for r in listed.json() if r["message_id"] == message_id]
            assert audited["replayed_by"] == "e2e-hub-operator", "an auditor is"

            # 4. A second replay is refused by the hub API ...
            again = await _replay(hub, message_id)
            assert again.status_code == 409, again.text
            assert again.json()["code"] == "deadletter.already_replayed"
            # ... and a second copy on the replay topic by the router's replay window.
            original = await read_dead_letter(
                kafka_bootstrap, hub.topics, row["dead_letter_partition"], row["dead_letter_offset"]
            )
            assert original is not None
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait(
                    replay_topic(hub.topics), original.value, headers=[(REPLAY_SENDER, police.agency.encode())]
                )
            finally:
                await producer.stop()
            later = await _letter(hub, message_id, until=lambda r: r["reason_code"] == "envelope.replayed")
            assert later["replay_state"] == "refused"
            assert await recipient.receive(count=1, timeout_s=2.0) == [], "delivered exactly once"

        # 5. Every attempt is audited.
        assert len(_audit(hub, message_id, "deadletter.replayed")) == 1
        refused = sorted(e.reason_code or "" for e in _audit(hub, message_id, "deadletter.replay_refused"))
        assert refused == ["deadletter.already_replayed", "deadletter.already_replayed", "deadletter.cause_not_fixed"]
        delivered = _audit(hub, message_id, "route.delivered")
        assert len(delivered) == 1
        assert (delivered[0].source or "").startswith(replay_topic(hub.topics) + ":")
        # The sender's admin can still ask why: refused, then delivered.
        explained = await hub.client.get(f"/explain/messages/{message_id}", headers=hub.admin(police.agency))
        assert explained.status_code == 200, explained.text
        assert "recipient.unknown" in explained.text
        assert "e2e-hub-operator" not in explained.text, "the operator's login is not shown to an agency"


async def test_a_dead_letter_refused_for_withdrawn_consent_is_replayed_once_consent_is_given(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    police = AgencyKeyPair.generate(AgencyId("e2e-dlc-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-dlc-borough-csc"))
    child = SubjectToken("st1_FAKEe2eReplayConsent0002")

    async def consent(status: str) -> None:
        recorded = await hub.client.post(
            f"/consents/{child}",
            json={"status": status, "agency_id": str(council.agency), "recorded_by": "e2e-staff-0042"},
            headers=hub.admin(council.agency),
        )
        assert recorded.status_code == 201, recorded.text
        await hub.router_holds(
            lambda: (
                (held := hub.router.tables.policy) is not None
                and (state := held.consent.get(child)) is not None
                and state.status.value == status
            ),
            f"consent {status}",
        )

    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        await hub.agree(agreement_body("isa-e2e-dl-consent", police.agency, council.agency))
        sender = await hub.connector(police, await hub.policy())
        recipient = await hub.connector(council, await hub.policy())
        async with sender, recipient:
            await consent("withdrawn")
            [sent] = await sender.send(
                contract=REFERRAL,
                version=1,
                recipients=[council.agency],
                purpose=PURPOSE,
                body=referral(22),
                subject_token=child,
            )
            message_id = str(sent.message_id)
            assert (await _letter(hub, message_id))["reason_code"] == "consent.withdrawn"

            early = await _replay(hub, message_id)
            assert early.status_code == 409, early.text
            assert early.json()["code"] == "deadletter.cause_not_fixed"
            assert "consent.withdrawn" in early.json()["message"]

            await consent("given")
            replayed = await _replay(hub, message_id)
            assert replayed.status_code == 200, replayed.text
            [got] = await recipient.receive(count=1, timeout_s=30)
            assert str(got.header.message_id) == message_id
            assert await recipient.receive(count=1, timeout_s=1.5) == []
