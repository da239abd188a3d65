"""Registry events on their own topic: connectors read agency keys, never a child's consent (threat model S7).

On the real broker: the hub API announces a consent withdrawal on ``<prefix>.policy`` only and a
key revocation (and each registration) on ``<prefix>.registry`` only, and the router still
reloads on both and writes its ``policy.applied`` row for each. On the secured broker, an
agency's own identity (``agency_acl_plan``) may read the registry topic and is refused the
policy topic; one enrolled before the change (READ on the policy topic) loses it when it is
provisioned again; the hub's identity makes both topics, writes both and hears both.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from connectors.agent.check import policy_closed_result
from hub.policy.bus import PolicyAnnouncer, PolicyEvent, PolicyListener, topic_for
from hub.policy.changes import ChangeKind
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, SubjectToken
from onedoor.kafka.acls import granted, provision_agency, provision_hub, provision_user
from onedoor.kafka.admin import can_read
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.kafka.plan import AclBinding, Operation, Pattern, Resource, agency_acl_plan, agency_username
from onedoor.kafka.security import ClientCredentials
from onedoor.topics import TopicNames
from tests.e2e.hub import RunningHub, agreement_body, hub_settings, running_hub
from tests.fixtures.kafka import assert_consume_refused

pytestmark = pytest.mark.integration

CHILD = SubjectToken("st1_FAKEregistryTopicChild01")
MET = AgencyId("met")


async def _records(
    bootstrap: str, topic: str, *, until: int, credentials: ClientCredentials | None = None, timeout_s: float = 15.0
) -> list[bytes]:
    """Every record on ``topic``'s one partition from its start, once there are at least ``until`` (or the timeout)."""
    options = {} if credentials is None else credentials.aiokafka_options()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", **options
    )
    values: list[bytes] = []
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(values) < until and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            values += [r.value or b"" for records in batch.values() for r in records]
        await asyncio.sleep(0.3)  # anything announced just after is read too
        batch = await consumer.getmany(timeout_ms=200)
        values += [r.value or b"" for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return values


def _events(values: list[bytes]) -> list[PolicyEvent]:
    events = [PolicyEvent.decode(v) for v in values]
    assert None not in events, values
    return [e for e in events if e is not None]


def _applied_changes(hub: RunningHub) -> list[str]:
    with hub.engine.connect() as connection:
        rows = connection.execute(text("SELECT detail FROM audit_event WHERE kind = 'policy.applied'"))
        return [str(row[0]) for row in rows]


def test_each_kind_has_its_topic() -> None:
    topics = TopicNames("onedoor")
    assert topics.registry == "onedoor.registry"
    assert topic_for(ChangeKind.REGISTRY, topics) == "onedoor.registry"
    assert topic_for(ChangeKind.CONSENT, topics) == "onedoor.policy"
    assert topic_for(ChangeKind.AGREEMENT, topics) == "onedoor.policy"


async def test_a_consent_change_is_not_on_the_registry_topic_and_a_key_change_is(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    police = AgencyKeyPair.generate(AgencyId("it-regtopic-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-it-regtopic-borough-csc"))
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        topics = hub.topics
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        await hub.agree(agreement_body("isa-it-regtopic", police.agency, council.agency))

        withdrawn = await hub.client.post(
            f"/consents/{CHILD}",
            json={"status": "withdrawn", "agency_id": str(council.agency), "recorded_by": "it-staff-0042"},
            headers=hub.admin(council.agency),
        )
        assert withdrawn.status_code == 201, withdrawn.text
        reloads = hub.router.stats.policy_reloads
        revoked = await hub.client.post(
            f"/agencies/{police.agency}/keys/{police.signing_key_id}/revoke", headers=hub.operator()
        )
        assert revoked.status_code == 200, revoked.text
        # The router hears the registry topic too: it reloads on the revocation and says how long it took.
        await hub.router_holds(lambda: hub.router.stats.policy_reloads > reloads, "the reload on the revocation")

        registry = _events(await _records(kafka_bootstrap, topics.registry, until=3))
        policy_values = await _records(kafka_bootstrap, topics.policy, until=2)
        policy = _events(policy_values)

    assert {e.kind for e in registry} == {ChangeKind.REGISTRY}, registry
    assert [e.key for e in registry].count(str(police.agency)) >= 2, "the registration and the revocation"
    assert str(council.agency) in {e.key for e in registry}
    assert ChangeKind.REGISTRY not in {e.kind for e in policy}, policy
    assert (ChangeKind.CONSENT, str(CHILD)) in {(e.kind, e.key) for e in policy}, "the withdrawal is announced"
    assert (ChangeKind.AGREEMENT, "isa-it-regtopic") in {(e.kind, e.key) for e in policy}
    assert str(CHILD) not in {e.key for e in registry}
    assert any("change=registry" in d for d in _applied_changes(hub))
    assert any("change=consent" in d for d in _applied_changes(hub))


def _admin(cluster: LocalKafkaCluster) -> ClientCredentials:
    admin = cluster.admin_credentials
    assert admin is not None
    return admin


async def test_an_agency_reads_the_registry_topic_and_the_broker_refuses_it_the_policy_topic(
    secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    admin = _admin(secured_kafka)
    topics = TopicNames(topic_prefix)
    hub_identity = await provision_hub(bootstrap, admin, topics)

    # The hub's identity makes both topics (its plan grants CREATE on each) and hears both.
    heard: list[PolicyEvent] = []

    async def on_event(event: PolicyEvent) -> None:
        heard.append(event)

    listener = PolicyListener(bootstrap, topics, on_event, credentials=hub_identity)
    announcer = PolicyAnnouncer(bootstrap, topics, credentials=hub_identity)
    await listener.start()
    await announcer.start()
    try:
        announcer.publish([(ChangeKind.CONSENT, str(CHILD)), (ChangeKind.REGISTRY, str(MET))])
        deadline = asyncio.get_running_loop().time() + 15
        while len(heard) < 2:
            assert asyncio.get_running_loop().time() < deadline, heard
            await asyncio.sleep(0.01)
    finally:
        await announcer.stop()
        await listener.stop()
    assert {(e.kind, e.key) for e in heard} == {(ChangeKind.CONSENT, str(CHILD)), (ChangeKind.REGISTRY, str(MET))}

    met = await provision_agency(bootstrap, admin, MET, topics)
    assert await granted(bootstrap, admin, agency_username(MET)) == agency_acl_plan(MET, topics)
    assert await can_read(bootstrap, topics.registry, met) is True
    assert await can_read(bootstrap, topics.policy, met) is False
    [event] = _events(await _records(bootstrap, topics.registry, until=1, credentials=met))
    assert (event.kind, event.key) == (ChangeKind.REGISTRY, str(MET))
    await assert_consume_refused(bootstrap, topics.policy, met)

    # Enrolled before the registry topic: READ on the policy topic. Provisioned again: gone.
    old = [
        AclBinding(f"User:{agency_username(MET)}", Resource.TOPIC, topics.policy, Pattern.LITERAL, op)
        for op in (Operation.READ, Operation.DESCRIBE)
    ]
    stale = await provision_user(bootstrap, admin, agency_username(MET), [*agency_acl_plan(MET, topics), *old])
    assert await can_read(bootstrap, topics.policy, stale) is True  # positive control: the old plan reads it
    told = await policy_closed_result(bootstrap, topics, stale)  # what onedoor connector check says
    assert (told.ok, told.code) == (False, "check.acl_stale")
    assert "run onedoor connector enrol again" in told.message
    again = await provision_agency(bootstrap, admin, MET, topics)
    assert await can_read(bootstrap, topics.policy, again) is False
    assert (await policy_closed_result(bootstrap, topics, again)).ok
    assert await can_read(bootstrap, topics.registry, again) is True
    assert not [b for b in await granted(bootstrap, admin, agency_username(MET)) if b.name == topics.policy]
