"""The dead-letter index and its API on the real broker, with a real router: who may do what,
what can never be replayed, filters and the dashboard's summary.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent
from hub.auth.roles import Role
from hub.deadletters import service
from hub.deadletters.broker import publish_replay, read_dead_letter
from onedoor.ids import AgencyId, MessageId
from onedoor.kafka.acls import provision_agency, secure_hub
from onedoor.kafka.admin import can_read
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.kafka.plan import replay_topic
from onedoor.kafka.security import ClientCredentials, aiokafka_options
from onedoor.topics import TopicNames
from tests.e2e.hub import RunningHub, hub_settings, running_hub
from tests.factories import World

pytestmark = pytest.mark.integration


def _as(hub: RunningHub, role: Role, agency: AgencyId | None = None) -> dict[str, str]:
    token = hub.issuer.mint(subject=f"it-{role.value}", roles=[role], agency=agency)
    return {"Authorization": f"Bearer {token}"}


async def _produce(hub: RunningHub, topic: str, value: bytes, credentials: ClientCredentials | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=hub.bootstrap, **aiokafka_options(credentials))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _rows(hub: RunningHub, count: int, timeout_s: float = 20.0, **query: str) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        listed = await hub.client.get("/ops/dead-letters", params=query, headers=_as(hub, Role.AUDITOR))
        assert listed.status_code == 200, listed.text
        rows: list[dict[str, Any]] = listed.json()
        if len(rows) >= count:
            return rows
        assert asyncio.get_running_loop().time() < deadline, f"only {len(rows)} of {count} dead letters indexed"
        await asyncio.sleep(0.1)


async def test_unfixable_dead_letters_are_indexed_filtered_summarised_and_never_replayed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    world = World.make()  # its hub key is not this hub's: every envelope it seals fails the hub MAC
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(world.police, "police")
        await hub.register(world.council, "children-services")
        police, council = str(world.police.agency), str(world.council.agency)
        header = world.header(world.police, [world.council])
        tampered_id = str(header.message_id)
        await _produce(
            hub, hub.topics.outbound(world.police.agency), world.seal(world.police, [world.council], header=header)
        )
        await _rows(hub, 1)  # in order, so "newest first" has one answer
        await _produce(hub, hub.topics.outbound(world.council.agency), b"not an envelope at all")

        rows = await _rows(hub, 2)
        assert [r["reason_code"] for r in rows] == ["envelope.malformed", "envelope.tampered"], "newest first"
        tampered = rows[1]
        assert tampered["message_id"] == tampered_id
        assert tampered["sender"] == police
        assert tampered["replay_state"] == "refused"
        assert "cannot be fixed" in tampered["refused_reason"]
        assert rows[0]["message_id"] is None

        # Filters.
        assert [r["reason_code"] for r in await _rows(hub, 1, reason="envelope.tampered")] == ["envelope.tampered"]
        assert [r["sender"] for r in await _rows(hub, 1, sender=council)] == [council]
        empty = await hub.client.get(
            "/ops/dead-letters", params={"sender": "nobody"}, headers=_as(hub, Role.OPS_VIEWER)
        )
        assert empty.json() == []

        # The dashboard's summary.
        with Session(hub.engine) as session:
            summary = service.summary(session)
        assert summary.total == 2
        assert summary.by_reason == {"envelope.tampered": 1, "envelope.malformed": 1}
        assert summary.awaiting_replay == 0
        assert summary.oldest_unreplayed_at is None
        assert summary.as_dict()["total"] == 2

        # A tampered envelope can never be replayed; an unknown id is not found; a bad id is refused.
        refused = await hub.client.post(f"/ops/dead-letters/{tampered_id}/replay", headers=hub.operator())
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "deadletter.not_replayable"
        missing = await hub.client.post(f"/ops/dead-letters/{MessageId.new()}/replay", headers=hub.operator())
        assert missing.status_code == 404
        assert missing.json()["code"] == "deadletter.not_found"
        malformed = await hub.client.post("/ops/dead-letters/not-an-id/replay", headers=hub.operator())
        assert malformed.status_code == 422

        with Session(hub.engine) as session:
            audited = session.query(AuditEvent).filter(AuditEvent.kind == "deadletter.replay_refused").all()
        assert [(e.message_id, e.reason_code, e.outcome) for e in audited] == [
            (tampered_id, "deadletter.not_replayable", "deny")
        ]


async def test_who_may_read_and_who_may_replay(kafka_bootstrap: str, tmp_path: Path) -> None:
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        some_id = str(MessageId.new())
        agency = AgencyId("it-dl-some-agency")
        for role in (Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR):
            assert (await hub.client.get("/ops/dead-letters", headers=_as(hub, role))).status_code == 200
        admin = _as(hub, Role.AGENCY_ADMIN, agency)
        assert (await hub.client.get("/ops/dead-letters", headers=admin)).status_code == 403
        assert (await hub.client.get("/ops/dead-letters")).status_code == 401
        replay = f"/ops/dead-letters/{some_id}/replay"
        for role in (Role.OPS_VIEWER, Role.AUDITOR):
            forbidden = await hub.client.post(replay, headers=_as(hub, role))
            assert forbidden.status_code == 403
            assert forbidden.json()["code"] == "auth.forbidden"
        assert (await hub.client.post(replay, headers=admin)).status_code == 403
        assert (await hub.client.post(replay)).status_code == 401
        assert (await hub.client.post(replay, headers=hub.operator())).status_code == 404, "an operator gets through"


async def test_on_the_secured_broker_the_hub_identity_indexes_and_replays_and_agencies_cannot(
    secured_kafka: LocalKafkaCluster, tmp_path: Path
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    admin = secured_kafka.admin_credentials
    assert admin is not None
    settings = hub_settings(tmp_path, bootstrap)
    topics = TopicNames(settings.kafka.topic_prefix)
    fields = await secure_hub(bootstrap, admin, topics, tmp_path)
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update=fields)})
    hub_identity = settings.kafka.credentials()
    assert hub_identity is not None
    world = World.make()
    async with running_hub(settings) as hub:
        await hub.register(world.police, "police")
        await hub.router_holds(lambda: str(world.police.agency) in hub.router.tables.agencies, "the registration")
        police = await provision_agency(bootstrap, admin, world.police.agency, topics)
        await _produce(hub, topics.outbound(world.police.agency), b"not an envelope", credentials=police)

        # The API's index reads the dead-letter topic with the hub's own identity.
        [row] = await _rows(hub, 1)
        assert row["reason_code"] == "envelope.malformed"
        stored = await read_dead_letter(
            bootstrap, topics, row["dead_letter_partition"], row["dead_letter_offset"], credentials=hub_identity
        )
        assert stored is not None
        assert stored.value == b"not an envelope"
        # The hub's identity writes the replay topic, and the router reads it.
        requeued = await publish_replay(
            bootstrap,
            topics,
            stored,
            sender=str(world.police.agency),
            dead_letter_position="0:0",
            credentials=hub_identity,
        )
        assert requeued.startswith(replay_topic(topics) + ":")
        again = await _rows(hub, 2)
        assert again[0]["source"].startswith(replay_topic(topics) + ":")
        assert again[0]["sender"] == str(world.police.agency)

        # An agency may neither write the replay topic nor read the dead-letter topic.
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(hub, replay_topic(topics), b"forged replay", credentials=police)
        assert await can_read(bootstrap, topics.dead_letter, police) is False
