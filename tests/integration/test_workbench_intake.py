"""The triage connector and the hub's intake key, over a real hub (API and router) and the real broker:

1. At start-up the desk registers its own intake key with its agency assertion (no operator token);
   ``GET /intake/key`` then shows its key id, and its intake topic has the shared configuration.
2. Public referrals sealed to its previous key (after a rotation) still open; one sealed to a key it
   does not hold becomes an "unreadable" inbox item with its reference: nothing is skipped.
3. When the hub shows another key, the desk logs ``intake.key_mismatch`` and ``/healthz`` says 503
   with that code, until the hub shows its key again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from structlog.testing import capture_logs

from connectors.agent.api import create_app
from connectors.agent.runtime import running_connector
from connectors.sdk.hubauth import HubClient
from onedoor.envelope.intake import IntakeKeyPair, PublicSubmission, b64url, seal_form
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from onedoor.intake_topic import INTAKE_RETENTION_MS
from tests.e2e.hub import connector_config, eventually, hub_settings, running_hub
from tests.unit.triage.world import FakeProgress

pytestmark = pytest.mark.integration

DESK = AgencyId("it-intake-desk")
TOKEN = "integration-token-" + "k" * 32
FORM = {
    "v": 1,
    "referrer": {"relationship": "neighbour"},
    "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 14},
    "concern_categories": ["COUNTY_LINES"],
    "concern_summary": "Synthetic: seen with older men and new phones.",
    "urgency": "SAME_DAY",
    "parent_carer_knows": "not-sure",
}


async def _retention(bootstrap: str, topic: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "retention.ms":
                    return str(entry[1])
    return None


async def test_the_desk_registers_and_watches_its_intake_key_and_loses_no_referral(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    keys = AgencyKeyPair.generate(DESK)
    old, current, stranger = IntakeKeyPair.generate(), IntakeKeyPair.generate(), IntakeKeyPair.generate()
    old.save(tmp_path / "intake-old.pem")
    current.save(tmp_path / "intake.pem")
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(keys, "triage")
        assert (await hub.client.get("/intake/key")).status_code == 409, "no key yet"
        config = connector_config(
            tmp_path / "connectors",
            keys,
            hub,
            token=TOKEN,
            intake_key_path=tmp_path / "intake.pem",
            intake_previous_key_paths=[tmp_path / "intake-old.pem"],
        )
        transport = hub.client._transport
        async with running_connector(
            config, bootstrap=kafka_bootstrap, client=hub.client, hub_transport=transport, progress=FakeProgress()
        ) as process:
            # 1. Registered by the desk itself; the topic made with the shared settings.
            shown = (await hub.client.get("/intake/key")).json()
            assert (shown["agency"], shown["key_id"]) == (DESK, current.key_id)
            assert process.intake_key is not None
            assert process.intake_key.ok is True
            assert process.healthy
            topic = hub.topics.intake(DESK)
            assert await _retention(kafka_bootstrap, topic) == str(INTAKE_RETENTION_MS)

            # 2. A backlog sealed to the previous key opens; one sealed to an unknown key is kept as unreadable.
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            try:
                for key, reference in ((old, "OD-ITOLDKEY"), (stranger, "OD-ITLOSTKY"), (current, "OD-ITNEWKEY")):
                    sealed = seal_form(key.public_raw, json.dumps(FORM).encode())
                    record = PublicSubmission(reference, datetime.now(UTC), key.key_id, sealed)
                    await producer.send_and_wait(topic, record.encode(), key=reference.encode())
            finally:
                await producer.stop()
            store = process.desk.store
            await eventually(lambda: len(store.items()) == 3, "three items in the inbox")
            by_reference = {i.reference: i for i in store.items()}
            assert by_reference["OD-ITOLDKEY"].title == "Synthia Example"
            assert by_reference["OD-ITNEWKEY"].kind == "referral"
            lost = by_reference["OD-ITLOSTKY"]
            assert (lost.kind, lost.status, lost.body["reason"]) == ("unreadable", "unreadable", "intake.key_unknown")
            assert "Synthia" not in json.dumps(lost.body)

            # 3. Another key at the hub (a second instance with its own key): an error, and unhealthy.
            async with HubClient("http://hub", keys, transport=transport) as as_desk:
                await as_desk.call("PUT", "/intake/key", json={"public_key": b64url(stranger.public_raw)})
            with capture_logs() as logs:
                assert not await process.intake_key.check()
            assert any(e["event"] == "intake.key_mismatch" and e["log_level"] == "error" for e in logs)
            assert b64url(stranger.public_raw) not in json.dumps(logs, default=str)
            api = create_app(process.config, process)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://c") as local:
                health = await local.get("/healthz")
                assert health.status_code == 503
                assert health.json()["problems"] == ["intake.key_mismatch"]
                async with HubClient("http://hub", keys, transport=transport) as as_desk:
                    await as_desk.call("PUT", "/intake/key", json={"public_key": b64url(current.public_raw)})
                assert await process.intake_key.check()
                assert (await local.get("/healthz")).status_code == 200
