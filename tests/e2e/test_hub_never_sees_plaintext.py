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
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from connectors.synthetic import referral
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.logging import configure_logging
from tests.e2e.hub import agreement_body, hub_settings, running_hub

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
    settings = hub_settings(tmp_path, kafka_bootstrap)
    prefix = settings.kafka.topic_prefix
    police = AgencyKeyPair.generate(AgencyId("e2e-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-borough-csc"))
    body = referral(4, concern_summary=f"Synthetic concern mentioning {SENTINEL} twice: {SENTINEL}")
    body["child"]["given_name"] = SENTINEL
    async with running_hub(settings, refresh_interval_s=0.5) as hub:
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        # Full access, so the sentinel (in the child's name and the summary) travels to the council.
        await hub.agree(agreement_body("isa-e2e-sentinel", police.agency, council.agency, level="full"))
        await asyncio.sleep(1.0)  # the router has the agreement (pushed, or at its 0.5 s refresh)
        sender = await hub.connector(police, await hub.policy())
        recipient = await hub.connector(council, await hub.policy())
        async with sender, recipient:
            [delivered] = await sender.send(
                contract=REFERRAL, version=1, recipients=[council.agency], purpose=PURPOSE, body=body
            )
            # And one the hub dead-letters (it expired in transit): dead letters must be blind too.
            [expired] = sender.seal(
                contract=REFERRAL,
                version=1,
                recipients=[council.agency],
                purpose=PURPOSE,
                body=body,
                ttl=timedelta(milliseconds=1),
            )
            await asyncio.sleep(0.01)
            await sender.publish(expired.header, expired.value)
            received = await recipient.receive(count=1, timeout_s=30)
            assert [m.header.message_id for m in received] == [delivered.message_id]
            assert SENTINEL in received[0].body["concern_summary"]  # the agencies do see it
            assert received[0].body["child"]["given_name"] == SENTINEL
            dead = await _dead_letters(kafka_bootstrap, hub.topics.dead_letter, count=1)
        tokens = list(hub.minted)

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
    assert str(expired.header.message_id) in logs
    assert SENTINEL not in logs

    # Nor any bearer token: no signature is in a log line or a database byte.
    assert "api.authz" in logs, "positive control: the authorization decisions were logged"
    assert len(tokens) >= 4, "positive control: operator and admin tokens were used"
    for token in tokens:
        signature = token.rsplit(".", 1)[1]
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
