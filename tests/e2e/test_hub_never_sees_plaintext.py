"""The hub never sees plaintext: a sentinel in referral bodies appears in none of the bytes it can see.

The whole hub runs for real (HTTP API with migrations, router, SQLite database, a real broker);
two connectors exchange referrals carrying a sentinel, some of which are dead-lettered. Then
every byte the hub could read is searched: the broker's log segments of hub-readable topics,
the hub database files, the hub's own log output and the dead letters. Each search also has a
positive control (something that must be there) so an empty or wrong search cannot pass.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import fetch_directory
from connectors.synthetic import referral
from hub import db
from hub.agencies.schemas import b64url
from hub.app import create_app
from hub.auth.issuer import DevIssuer
from hub.auth.roles import Role
from hub.router import runtime
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.logging import configure_logging
from onedoor.settings import DatabaseSettings, KafkaSettings, Settings
from onedoor.topics import TopicNames

pytestmark = pytest.mark.e2e

SENTINEL = "ZQXSENTINEL-Plaintextonly-Testchildname-93"
REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")


@pytest.fixture
async def hub_logs() -> AsyncIterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buffer)
    yield buffer
    configure_logging("WARNING")
    logging.getLogger().setLevel(logging.WARNING)


async def test_sentinel_is_in_no_byte_the_hub_can_see(
    kafka_cluster: LocalKafkaCluster | None, kafka_bootstrap: str, tmp_path: Path, hub_logs: io.StringIO
) -> None:
    assert kafka_cluster is not None, "this test reads the broker's raw log segments: it needs the local broker"
    prefix = f"e{os.urandom(4).hex()}"
    settings = Settings(
        env="test",
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=1),
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
    )
    topics = TopicNames(prefix)
    police = AgencyKeyPair.generate(AgencyId("e2e-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-borough-csc"))
    app = create_app(settings)
    token = DevIssuer.from_settings(settings).mint(subject="e2e-operator", roles=[Role.HUB_OPERATOR])
    engine = db.engine_from_settings(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            for keys, kind in ((police, "police"), (council, "children-services")):
                response = await client.post(
                    "/agencies",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "id": keys.agency,
                        "display_name": f"{keys.agency} (synthetic)",
                        "kind": kind,
                        "signing_public_key": b64url(keys.signing_public),
                        "encryption_public_key": b64url(keys.encryption_public),
                    },
                )
                assert response.status_code == 201, response.text
            directory = await fetch_directory("http://hub", client=client)

        await runtime.ensure_hub_topics(kafka_bootstrap, settings)
        router = runtime.build_router(settings, kafka_bootstrap, db.session_factory(engine), refresh_interval_s=0.5)
        codecs = ContractCodecs.bundled()

        def connector(keys: AgencyKeyPair) -> Connector:
            return Connector(
                keys=keys, directory=directory, codec=codecs, bootstrap_servers=kafka_bootstrap, topics=topics
            )

        body = referral(4, concern_summary=f"Synthetic concern mentioning {SENTINEL} twice: {SENTINEL}")
        body["child"]["given_name"] = SENTINEL
        async with router, connector(police) as sender, connector(council) as recipient:
            task = asyncio.create_task(router.run())
            delivered = await sender.send(
                contract=REFERRAL, version=1, recipients=[council.agency], purpose=PURPOSE, body=body
            )
            # And one the hub dead-letters (it expired in transit): dead letters must be blind too.
            expired_header, expired = sender.seal(
                contract=REFERRAL,
                version=1,
                recipients=[council.agency],
                purpose=PURPOSE,
                body=body,
                ttl=timedelta(milliseconds=1),
            )
            await asyncio.sleep(0.01)
            await sender.publish(expired_header, expired)
            received = await recipient.receive(count=1, timeout_s=30)
            assert [m.header.message_id for m in received] == [delivered.message_id]
            assert SENTINEL in received[0].body["concern_summary"]  # the agencies do see it
            dead = await _dead_letters(kafka_bootstrap, topics.dead_letter, count=1)
            router.request_stop()
            await task
    engine.dispose()

    # Dead letters: present, about the expired envelope, and without the sentinel.
    assert [headers["od_reason"] for headers, _ in dead] == ["envelope.expired"]
    for headers, value in dead:
        assert SENTINEL.encode() not in value
        assert all(SENTINEL not in v for v in headers.values())

    # Broker log segments of every topic the hub reads or writes.
    segments = [p for log_dir in kafka_cluster.log_dirs for p in log_dir.glob(f"{prefix}.*/*.log")]
    segment_bytes = b"".join(p.read_bytes() for p in segments)
    assert str(delivered.message_id).encode() in segment_bytes, "positive control: headers travel in clear"
    assert SENTINEL.encode() not in segment_bytes

    # The hub database, including the write-ahead log.
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("hub.sqlite3*"))
    assert str(delivered.message_id).encode() in db_bytes, "positive control: the audit row is there"
    assert SENTINEL.encode() not in db_bytes

    # The hub's own logs (DEBUG, JSON).
    logs = hub_logs.getvalue()
    assert "route.rejected" in logs, "positive control: the hub logged its decision"
    assert str(expired_header.message_id) in logs
    assert SENTINEL not in logs

    # Nor the operator's bearer token: its signature is in no log line and no database byte.
    signature = token.rsplit(".", 1)[1]
    assert "api.authz" in logs, "positive control: the authorization decision was logged"
    assert signature not in logs
    assert signature.encode() not in db_bytes


async def _dead_letters(bootstrap: str, topic: str, count: int) -> list[tuple[dict[str, str], bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[tuple[dict[str, str], bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(({k: v.decode() for k, v in r.headers}, r.value or b"") for r in records)
    finally:
        await consumer.stop()
    return found
