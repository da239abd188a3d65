"""A suspended agency loses its broker identity; reactivated, it enrols again; a broker down then is reconciled.

The hub API runs with broker provisioning on (its admin user and 0600 password file). An agency
is provisioned through ``POST /broker/credentials`` and consumes its inbox; the operator suspends
it through the API; its open consumer, a new consumer, a producer and a new login are all refused,
the broker lists no ACL for it, and a ``broker.withdrawn`` row says so. After reactivation and a
new ``POST /broker/credentials`` it works again. Second: the broker is down when the agency is
suspended: the suspension stands, the audit says the withdrawal failed, and once the broker is
back the API's reconciler withdraws the identity. That test stops a broker, so it runs its own
secured cluster in tmp_path (the API's other clients wait for it meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from hub.agencies.enums import AgencyStatus
from hub.agencies.models import Agency
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Unauthenticated
from onedoor.ids import AgencyId
from onedoor.kafka.acls import granted, presence
from onedoor.kafka.admin import authenticate, ensure_topics
from onedoor.kafka.local import BrokerSecurity, LocalKafkaCluster
from onedoor.kafka.plan import agency_acl_plan
from onedoor.kafka.security import ClientCredentials, open_secret
from onedoor.topics import TopicNames
from tests.integration.test_broker_acls import _produce
from tests.integration.test_broker_api import Hub, _hub_kafka, _running, _settings

pytestmark = pytest.mark.integration


async def _enrolled(hub: Hub, keys: AgencyKeyPair) -> ClientCredentials:
    """What ``onedoor connector enrol`` gets: ``POST /broker/credentials``, opened with the agency's own key."""
    answer = await hub.credentials(keys)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    password = open_secret(keys.encryption, body["sealed_password"], agency=str(keys.agency), username=body["username"])
    return ClientCredentials(body["username"], password, ca_file=hub.settings.kafka.ca_file)


def _consumer(bootstrap: str, topic: str, group: str, identity: ClientCredentials) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=8000,
        **identity.aiokafka_options(),
    )


async def _read_one(consumer: AIOKafkaConsumer, timeout_ms: int = 10_000) -> list[bytes]:
    batch = await consumer.getmany(timeout_ms=timeout_ms)
    return [r.value for records in batch.values() for r in records if r.value is not None]


async def _drain(consumer: AIOKafkaConsumer) -> list[bytes]:
    """Fetch and commit up to ten times; raises once the broker refuses (what it still got is returned otherwise).

    A long-poll fetch that reached the broker before the ACLs went (or while the deletion was
    reaching the broker's authorizer) may still bring one record; the next request is refused.
    """
    got: list[bytes] = []
    for _ in range(10):
        got += await _read_one(consumer, timeout_ms=2000)
        await consumer.commit()
    return got


def _withdrawn(hub: Hub) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(r.outcome == "withdrawn" for r in hub.audit("broker.withdrawn"))

    return check


@pytest.fixture
async def hub(tmp_path: Path, secured_kafka: LocalKafkaCluster, topic_prefix: str) -> AsyncIterator[Hub]:
    kafka = await _hub_kafka(tmp_path, secured_kafka, topic_prefix)
    async for running in _running(_settings(tmp_path, kafka)):
        yield running


async def test_a_suspended_agency_loses_its_broker_identity_and_enrols_again_after_reactivation(
    hub: Hub, secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    agency = AgencyId("lb-withdrawn-csc")
    keys = AgencyKeyPair.generate(agency)
    await hub.register(keys)
    bootstrap = secured_kafka.bootstrap_servers
    admin = secured_kafka.admin_credentials
    assert admin is not None
    topics = TopicNames(topic_prefix)
    inbox, outbound, group = topics.inbox(agency), topics.outbound(agency), f"{topic_prefix}.connector.{agency}"
    await ensure_topics(bootstrap, [inbox, outbound], partitions=1, credentials=admin)
    identity = await _enrolled(hub, keys)
    assert await granted(bootstrap, admin, identity.username) == agency_acl_plan(agency, topics)

    # Provisioned: it consumes its inbox (group offsets committed) and writes its outbound topic.
    await _produce(bootstrap, admin, inbox, b"delivered-before-suspension")
    consumer = _consumer(bootstrap, inbox, group, identity)
    await consumer.start()
    try:
        assert await _read_one(consumer) == [b"delivered-before-suspension"]
        await consumer.commit()
        await _produce(bootstrap, identity, outbound, b"sealed-envelope-bytes")

        suspended = await hub.http.post(f"/agencies/{agency}/suspend", headers=hub.operator)
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["status"] == "suspended"

        # The connection already open is refused from its next requests on (the authorizer checks each one).
        await _produce(bootstrap, admin, inbox, b"delivered-after-suspension")
        with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
            await _drain(consumer)  # within ten fetch-and-commit rounds
    finally:
        await consumer.stop()

    # Nothing left at the broker, and every new connection is refused at login.
    assert await granted(bootstrap, admin, identity.username) == []
    [left] = (await presence(bootstrap, admin, [identity.username])).values()
    assert left.empty
    assert not left.scram
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(bootstrap, identity)
    assert refused.value.code == "kafka.credentials_refused"
    with pytest.raises(KafkaConnectionError):
        await _produce(bootstrap, identity, outbound, b"after-suspension")
    fresh = _consumer(bootstrap, inbox, group, identity)
    with pytest.raises(KafkaConnectionError):
        await fresh.start()
    await fresh.stop()

    [row] = hub.audit("broker.withdrawn")
    assert (row.outcome, row.actor, row.reason_code) == ("withdrawn", str(agency), None)
    assert row.source == f"POST /agencies/{agency}/suspend"
    assert f"user agency-{agency}; {len(agency_acl_plan(agency, topics))} ACLs deleted" in (row.detail or "")
    assert "SCRAM_SHA_512" in (row.detail or "")
    assert identity.password.get_secret_value() not in (row.detail or "")

    # Suspended, it cannot enrol; reactivated, it gets nothing back by itself ...
    assert (await hub.credentials(keys)).status_code == 401
    reactivated = await hub.http.post(f"/agencies/{agency}/reactivate", headers=hub.operator)
    assert reactivated.status_code == 200, reactivated.text
    assert await granted(bootstrap, admin, identity.username) == []
    # ... until its connector enrols again: a fresh password and its ACLs, and it reads on where it left off.
    again = await _enrolled(hub, keys)
    assert again.password.get_secret_value() != identity.password.get_secret_value()
    assert await granted(bootstrap, admin, again.username) == agency_acl_plan(agency, topics)
    await _produce(bootstrap, admin, inbox, b"delivered-after-reactivation")
    back = _consumer(bootstrap, inbox, group, again)
    await back.start()
    try:
        read = await _read_one(back)
        while b"delivered-after-reactivation" not in read:
            more = await _read_one(back)
            assert more, f"the reactivated agency did not get its inbox: {read}"
            read += more
        assert b"delivered-before-suspension" not in read  # its committed offset survived the withdrawal
    finally:
        await back.stop()
    await _produce(bootstrap, again, outbound, b"sealed-again")
    with pytest.raises(Unauthenticated):
        await authenticate(bootstrap, identity)  # the old password stays dead
    assert [r.outcome for r in hub.audit("broker.credentials")] == ["permit", "permit"]


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the reconciler did not withdraw the identity"
        await asyncio.sleep(0.5)


async def test_a_broker_down_at_suspension_is_reconciled_when_it_is_back(tmp_path: Path, topic_prefix: str) -> None:
    own = LocalKafkaCluster(tmp_path / "kafka", nodes=1, security=BrokerSecurity()).start()
    try:
        own_admin = own.admin_credentials
        assert own_admin is not None
        settings = _settings(tmp_path, await _hub_kafka(tmp_path, own, topic_prefix))
        fast = settings.api.model_copy(update={"broker_reconcile_seconds": 0.5})
        settings = settings.model_copy(update={"api": fast})
        agency = AgencyId("lb-reconciled-csc")
        keys = AgencyKeyPair.generate(agency)
        async for hub in _running(settings):
            await hub.register(keys)
            identity = await _enrolled(hub, keys)
            await authenticate(own.bootstrap_servers, identity)  # provisioned on our own broker
            assert await granted(own.bootstrap_servers, own_admin, identity.username) != []

            own.stop_node(0)
            suspended = await hub.http.post(f"/agencies/{agency}/suspend", headers=hub.operator)
            assert suspended.status_code == 200, suspended.text  # the suspension stands
            with hub.factory() as session:
                row = session.get(Agency, str(agency))
                assert row is not None
                assert row.status is AgencyStatus.SUSPENDED
            [failed] = hub.audit("broker.withdrawn")
            assert (failed.outcome, failed.reason_code) == ("failed", "broker.unavailable")
            assert "the reconciler withdraws" in (failed.detail or "")

            own.start_node(0)

            await _until(_withdrawn(hub))
            rows = hub.audit("broker.withdrawn")
            assert [(r.outcome, r.source) for r in rows] == [
                ("failed", f"POST /agencies/{agency}/suspend"),
                ("withdrawn", "broker reconciler"),
            ]
            assert await granted(own.bootstrap_servers, own_admin, identity.username) == []
            with pytest.raises(Unauthenticated):
                await authenticate(own.bootstrap_servers, identity)
            reconciler = hub.app.state.broker_reconciler
            calls = reconciler.broker_calls
            await asyncio.sleep(1.5)  # three more ticks: confirmed bare, the broker is not asked again
            assert reconciler.broker_calls == calls
    finally:
        own.stop()
