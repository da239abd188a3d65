"""The broker really enforces each agency's identity and ACLs (SCRAM-SHA-512, StandardAuthorizer, no allow-all).

Agencies ``met`` and ``met-police`` (a name that starts with the other's, on purpose) are
provisioned on a secured 1-node broker of their own. ``met`` writes its outbound topic and reads
its inbox; the broker refuses it ``met-police``'s inbox, ``met-police``'s outbound topic and
writing any inbox. A wrong password and a client with no credentials get nothing. Then the whole
hub (API and router with its own least-privilege identity) routes a sealed referral from a
police force to a council that each fetched their identity from ``POST /broker/credentials``.
"""

from __future__ import annotations

import asyncio
import os
import stat
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import SecretStr

from connectors.agent.api import create_app
from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import running_connector
from connectors.identity import MatchingKey
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import fetch_directory
from connectors.sdk.hubauth import agency_assertion
from connectors.synthetic import referral
from hub.ops.lag import LagReader
from hub.router.service import Router
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Forbidden, Unauthenticated
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.intake_topic import ensure_intake_topic
from onedoor.kafka.acls import granted, provision_agency, provision_hub, secure_hub
from onedoor.kafka.admin import authenticate, can_read, ensure_topics
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.kafka.plan import agency_acl_plan
from onedoor.kafka.security import ClientCredentials, open_secret, write_password_file
from onedoor.settings import Settings
from onedoor.topics import TopicNames
from tests.e2e.hub import RunningHub, agreement_body, hub_settings, running_hub
from tests.fixtures.kafka import assert_consume_refused
from tests.unit.triage.world import FakeProgress, referral_json

pytestmark = pytest.mark.integration

MET = AgencyId("met")
MET_POLICE = AgencyId("met-police")


def _admin(cluster: LocalKafkaCluster) -> ClientCredentials:
    admin = cluster.admin_credentials
    assert admin is not None
    return admin


async def _agencies(cluster: LocalKafkaCluster, topics: TopicNames) -> tuple[ClientCredentials, ClientCredentials]:
    admin = _admin(cluster)
    names = [t for a in (MET, MET_POLICE) for t in (topics.outbound(a), topics.inbox(a))]
    await ensure_topics(cluster.bootstrap_servers, names, partitions=1, credentials=admin)
    met = await provision_agency(cluster.bootstrap_servers, admin, MET, topics)
    police = await provision_agency(cluster.bootstrap_servers, admin, MET_POLICE, topics)
    return met, police


async def _produce(bootstrap: str, credentials: ClientCredentials, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **credentials.aiokafka_options()
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def test_an_agency_uses_its_own_topics_and_the_broker_refuses_it_the_others(
    secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    topics = TopicNames(topic_prefix)
    met, _police = await _agencies(secured_kafka, topics)
    assert met.username == "agency-met"
    assert await granted(bootstrap, _admin(secured_kafka), "agency-met") == agency_acl_plan(MET, topics)

    # Its own outbound topic: written.
    await _produce(bootstrap, met, topics.outbound(MET), b"sealed-envelope-bytes")
    # Its own inbox, with its own group, offsets committed: read.
    await _produce(bootstrap, _admin(secured_kafka), topics.inbox(MET), b"delivered-by-the-hub")
    consumer = AIOKafkaConsumer(
        topics.inbox(MET),
        bootstrap_servers=bootstrap,
        group_id=f"{topic_prefix}.connector.met",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **met.aiokafka_options(),
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
        assert [r.value for records in batch.values() for r in records] == [b"delivered-by-the-hub"]
        await consumer.commit()
    finally:
        await consumer.stop()

    # met-police's inbox: the broker refuses (a throwaway consumer, no group).
    await assert_consume_refused(bootstrap, topics.inbox(MET_POLICE), met)
    assert await can_read(bootstrap, topics.inbox(MET_POLICE), met) is False
    assert await can_read(bootstrap, topics.inbox(MET), met) is True  # positive control

    # met-police's outbound topic, and any inbox (only the hub delivers): refused.
    for topic in (topics.outbound(MET_POLICE), topics.inbox(MET_POLICE), topics.inbox(MET)):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(bootstrap, met, topic, b"forged")


async def test_a_wrong_password_or_no_credentials_get_nothing(
    secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    topics = TopicNames(topic_prefix)
    met, _police = await _agencies(secured_kafka, topics)
    wrong = replace(met, password=SecretStr("not-the-password-" + "x" * 20))  # same CA: only the password is wrong

    await authenticate(bootstrap, met)  # positive control
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(bootstrap, wrong)
    assert refused.value.code == "kafka.credentials_refused"
    with pytest.raises(Unauthenticated) as anonymous:
        await authenticate(bootstrap, None)
    assert anonymous.value.code == "kafka.credentials_required"

    for options in (wrong.aiokafka_options(), {}):
        consumer = AIOKafkaConsumer(
            topics.inbox(MET), bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=5000, **options
        )
        with pytest.raises(KafkaConnectionError):
            await consumer.start()
        await consumer.stop()

    # Rotation: provisioning again replaces the password; the old one stops working.
    rotated = await provision_agency(bootstrap, _admin(secured_kafka), MET, topics)
    assert rotated.password.get_secret_value() != met.password.get_secret_value()
    await authenticate(bootstrap, rotated)
    with pytest.raises(Unauthenticated):
        await authenticate(bootstrap, met)

    # An admin with a wrong password is told so, not "unreachable".
    with pytest.raises(Forbidden) as admin_refused:
        await provision_agency(bootstrap, replace(_admin(secured_kafka), password=wrong.password), MET, topics)
    assert admin_refused.value.code == "kafka.admin_refused"


def test_no_password_is_in_the_broker_logs_and_its_config_is_0600(secured_kafka: LocalKafkaCluster) -> None:
    security = secured_kafka.security
    assert security is not None
    node = secured_kafka.nodes[0]
    assert stat.S_IMODE(os.stat(node.properties).st_mode) == 0o600
    logs = node.server_log.read_text(encoding="utf-8", errors="replace")
    logs += node.jvm_out.read_text(encoding="utf-8", errors="replace") if node.jvm_out.exists() else ""
    assert security.listener in logs  # positive control: the log is the secured broker's (SASL_SSL)
    for secret in (security.admin_password, security.broker_password):
        assert secret.get_secret_value() not in logs


async def _secured_hub_settings(cluster: LocalKafkaCluster, tmp_path: Path) -> tuple[Settings, ClientCredentials]:
    """Hub settings with its own least-privilege broker identity and the admin it provisions agencies with."""
    bootstrap = cluster.bootstrap_servers
    settings = hub_settings(tmp_path, bootstrap)
    fields = await secure_hub(bootstrap, _admin(cluster), TopicNames(settings.kafka.topic_prefix), tmp_path)
    kafka = settings.kafka.model_copy(update=fields)
    assert stat.S_IMODE(os.stat(fields["password_file"]).st_mode) == 0o600
    hub_identity = kafka.credentials()
    assert hub_identity is not None
    return settings.model_copy(update={"kafka": kafka}), hub_identity


async def _identity(hub: RunningHub, keys: AgencyKeyPair) -> ClientCredentials:
    """What ``onedoor connector enrol`` gets: the agency's broker identity, opened with its own key."""
    answer = await hub.client.post(
        "/broker/credentials",
        json={"encryption_key_id": str(keys.encryption_key_id)},
        headers={"Authorization": f"Bearer {agency_assertion(keys)}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    password = open_secret(keys.encryption, body["sealed_password"], agency=str(keys.agency), username=body["username"])
    ca_file = hub.settings.kafka.ca_file
    assert ca_file is not None  # the secured test broker speaks TLS
    assert body["ca_certificate_pem"] == ca_file.read_text(encoding="ascii")  # the hub hands out its broker's CA
    return ClientCredentials(body["username"], password, ca_file=ca_file)


REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")


async def _reloaded(router: Router, before: int, timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while router.stats.policy_reloads <= before:
        assert asyncio.get_running_loop().time() < deadline, "the router was not told of the change"
        await asyncio.sleep(0.01)


async def test_the_hub_routes_a_sealed_referral_on_the_secured_broker(
    secured_kafka: LocalKafkaCluster, tmp_path: Path
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    settings, hub_identity = await _secured_hub_settings(secured_kafka, tmp_path)
    topics = TopicNames(settings.kafka.topic_prefix)
    police = AgencyKeyPair.generate(AgencyId("e2e-sec-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-sec-borough-csc"))

    async with running_hub(settings) as hub:
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        before = hub.router.stats.policy_reloads
        await hub.agree(agreement_body("sec-e2e-first", police.agency, council.agency))
        await _reloaded(hub.router, before)

        identities = {keys.agency: await _identity(hub, keys) for keys in (police, council)}

        directory = await fetch_directory("http://hub", client=hub.client)
        policy = await hub.policy()

        def connector(keys: AgencyKeyPair) -> Connector:
            return Connector(
                keys=keys,
                directory=directory,
                codec=ContractCodecs.bundled(),
                bootstrap_servers=bootstrap,
                topics=topics,
                policy=policy,
                credentials=identities[keys.agency],
            )

        async with connector(police) as sender, connector(council) as recipient:
            [sent] = await sender.send(
                contract=REFERRAL, version=1, recipients=[council.agency], purpose=PURPOSE, body=referral(21)
            )
            [got] = await recipient.receive(count=1, timeout_s=30)
            assert got.header.message_id == sent.message_id
            assert got.header.sender == police.agency
            assert got.header.agreement == "sec-e2e-first"
        assert hub.router.stats.delivered >= 1

        # The hub's identity routes, but may not read the inbox it writes.
        assert await can_read(bootstrap, topics.inbox(council.agency), hub_identity) is False
        assert await can_read(bootstrap, topics.outbound(police.agency), hub_identity) is True
        # It may describe the connectors' groups: the ops dashboard's lag per inbox is known.
        lag = LagReader(bootstrap, topics.prefix, hub_identity)
        try:
            inboxes = {row.agency: row for row in await lag.read()}
        finally:
            await lag.close()
        assert inboxes[str(council.agency)].status == "ok", inboxes[str(council.agency)]
        assert inboxes[str(council.agency)].lag is not None


async def test_running_connectors_enrolled_on_the_secured_broker_exchange_a_referral(
    secured_kafka: LocalKafkaCluster, tmp_path: Path
) -> None:
    """The whole connector process (outbox relay, durable inbox, registry watch) with its broker identity."""
    bootstrap = secured_kafka.bootstrap_servers
    settings, _hub_identity = await _secured_hub_settings(secured_kafka, tmp_path)
    police = AgencyKeyPair.generate(AgencyId("it-sec-county-police"))
    borough = AgencyKeyPair.generate(AgencyId("lb-it-sec-borough-csc"))
    async with running_hub(settings) as hub:
        await hub.register(police, "police")
        await hub.register(borough, "children-services")
        before = hub.router.stats.policy_reloads
        await hub.agree(agreement_body("isa-it-sec", police.agency, borough.agency, level="full"))
        await _reloaded(hub.router, before)

        def config(keys: AgencyKeyPair, identity: ClientCredentials) -> ConnectorConfig:
            home = tmp_path / "connectors" / str(keys.agency)
            keys.save(home / "keys")
            MatchingKey.generate().save(home / "matching.key")
            write_password_file(home / "broker.password", identity.password)
            return ConnectorConfig(
                agency=str(keys.agency),
                keys_dir=home / "keys",
                matching_key_path=home / "matching.key",
                disclosure_log_path=home / "disclosures.sqlite3",
                kafka={  # type: ignore[arg-type]
                    "topic_prefix": settings.kafka.topic_prefix,
                    "username": identity.username,
                    "password_file": home / "broker.password",
                    "ca_file": identity.ca_file,
                },
                api={"token": "secured-token-" + "q" * 32},  # type: ignore[arg-type]
            )

        configs = {keys.agency: config(keys, await _identity(hub, keys)) for keys in (police, borough)}
        async with AsyncExitStack() as stack:
            processes = {
                agency: await stack.enter_async_context(
                    running_connector(cfg, bootstrap=bootstrap, client=hub.client, progress=FakeProgress())
                )
                for agency, cfg in configs.items()
            }
            api = create_app(configs[police.agency], processes[police.agency])
            headers = {"Authorization": "Bearer secured-token-" + "q" * 32}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://police") as http:
                sent = await http.post(
                    "/outbound",
                    headers=headers,
                    json={
                        "contract": "onedoor.referral.MasterReferral",
                        "version": 1,
                        "recipients": [str(borough.agency)],
                        "purpose": "safeguarding-referral",
                        "body": referral_json(),
                    },
                )
                assert sent.status_code == 202, sent.text
            [envelope] = sent.json()["envelopes"]
            store = processes[borough.agency].desk.store
            deadline = asyncio.get_running_loop().time() + 30
            while not store.items():
                assert asyncio.get_running_loop().time() < deadline, "the referral never reached the borough"
                await asyncio.sleep(0.05)
            [item] = store.items()
            assert (item.sender, item.message_id) == (police.agency, envelope["message_id"])


async def test_a_triage_desk_makes_and_reads_its_intake_topic_and_nobody_else_does(
    secured_kafka: LocalKafkaCluster, topic_prefix: str
) -> None:
    bootstrap = secured_kafka.bootstrap_servers
    admin = _admin(secured_kafka)
    topics = TopicNames(topic_prefix)
    desk = AgencyId("sec-triage-desk")
    desk_identity = await provision_agency(bootstrap, admin, desk, topics, triage=True)
    met = await provision_agency(bootstrap, admin, MET, topics)
    hub_identity = await provision_hub(bootstrap, admin, topics)

    # The desk often starts first and makes the topic (configs included), as the hub would.
    assert await ensure_intake_topic(bootstrap, topics, desk, credentials=desk_identity) == topics.intake(desk)
    await ensure_intake_topic(bootstrap, topics, desk, credentials=hub_identity)  # the hub's turn: exists, aligned
    with pytest.raises(Forbidden) as refused:
        await ensure_intake_topic(bootstrap, topics, AgencyId("sec-other-desk"), credentials=met)
    assert refused.value.code == "kafka.forbidden"

    await _produce(bootstrap, hub_identity, topics.intake(desk), b"sealed-public-referral")
    reader = AIOKafkaConsumer(
        topics.intake(desk),
        bootstrap_servers=bootstrap,
        group_id=f"{topic_prefix}.intake-reader.{desk}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **desk_identity.aiokafka_options(),
    )
    await reader.start()
    try:
        batch = await reader.getmany(timeout_ms=10_000)
        assert [r.value for records in batch.values() for r in records] == [b"sealed-public-referral"]
        await reader.commit()
    finally:
        await reader.stop()
    assert await can_read(bootstrap, topics.intake(desk), met) is False
    assert await can_read(bootstrap, topics.intake(desk), hub_identity) is False  # the hub writes, never reads
