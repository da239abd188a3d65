"""Key rotation and revocation end to end: the real hub (API, announcer, router), the real broker.

1. **Rotation with overlap.** A council made by ``onedoor connector init`` and approved by the
   operator rotates its keys (``rotate-keys``) while its connector runs. A referral sealed to the
   council's old encryption key before the rotation, and sent after it, still opens; so does one
   sealed to the new key. The running connector picked the new keys up from the registry
   announcement (its periodic refresh is a minute long here).
2. **Revocation within a second.** The operator revokes the police's signing key at T. Both the
   router and the council's connector have stopped trusting it in under a second (measured);
   at T+1 s an envelope signed with it is dead-lettered by the router (``sender.key_unknown``),
   and, put straight into the council's inbox (a path around the router), refused by the
   council's connector with the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.agent.config import load_config_file
from connectors.agent.init import CONFIG_FILE, REQUEST_FILE, initialise
from connectors.agent.keyfiles import load_decryption_keys
from connectors.agent.registry_watch import RegistryWatch, WatchStats, directory_refresher, old_keys_of
from connectors.agent.rotate import rotate_keys
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import ReceivedMessage
from connectors.sdk.directory import fetch_directory
from connectors.synthetic import referral
from hub.agencies.enums import AgencyKind
from hub.audit.models import AuditEvent
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken
from tests.e2e.hub import DeadLetters, RunningHub, agreement_body, hub_settings, running_hub

pytestmark = pytest.mark.e2e

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
CHILD = SubjectToken("st1_FAKEe2eRotationSubject01")
POLICE = AgencyId("e2e-rot-county-police")
COUNCIL = AgencyId("lb-e2e-rot-borough-csc")
PASSPHRASE = "correct horse battery staple"
REVOCATION_BUDGET_S = 1.0


async def _until(condition: object, what: str, timeout_s: float = 10.0) -> float:
    """Poll ``condition()`` until true; the seconds it took."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def _onboard_council(hub: RunningHub, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEDOOR_CONNECTOR_KEYS_PASSPHRASE", PASSPHRASE)
    initialise(
        home,
        agency=COUNCIL,
        kind=AgencyKind.CHILDREN_SERVICES,
        display_name="London Borough of E2E Rotation CSC (synthetic)",
        passphrase=PASSPHRASE.encode(),
        hub_url="http://hub",
        bootstrap=hub.bootstrap,
        topic_prefix=hub.topics.prefix,
    )
    request = json.loads((home / REQUEST_FILE).read_text())
    approved = await hub.client.post("/agencies/registrations", json=request, headers=hub.operator())
    assert approved.status_code == 201, approved.text


async def _set_up(hub: RunningHub, home: Path, monkeypatch: pytest.MonkeyPatch) -> AgencyKeyPair:
    police = AgencyKeyPair.generate(POLICE)
    await _onboard_council(hub, home, monkeypatch)
    await hub.register(police, "police")
    before = hub.router.stats.policy_reloads
    await hub.agree(agreement_body("isa-e2e-rotation", POLICE, COUNCIL, level="limited"))
    await _until(lambda: hub.router.stats.policy_reloads > before, "the router to load the agreement")
    return police


async def _dead_letter(dead: DeadLetters, reason: str, timeout_s: float = 20.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [h for h in dead.seen if h.get("od_reason") == reason]
        if found:
            return found[0]
        with contextlib.suppress(AssertionError):
            await dead.wait_for("none-such", timeout_s=0.2)  # reads what arrived into dead.seen
    raise AssertionError(f"no dead letter {reason} within {timeout_s} s")


def _rejections(hub: RunningHub, actor: AgencyId) -> list[AuditEvent]:
    with Session(hub.engine) as session:
        stmt = select(AuditEvent).where(AuditEvent.kind == "route.rejected", AuditEvent.actor == actor)
        return list(session.scalars(stmt))


def _council_connector(hub: RunningHub, home: Path, directory: object, policy: object) -> Connector:
    config = load_config_file(home / CONFIG_FILE)
    keys, old = load_decryption_keys(COUNCIL, config.keys_dir, PASSPHRASE.encode())
    return Connector(
        keys=keys,
        directory=directory,  # type: ignore[arg-type]
        codec=ContractCodecs.bundled(),
        bootstrap_servers=hub.bootstrap,
        topics=hub.topics,
        old_keys=old,
        policy=policy,  # type: ignore[arg-type]
    )


def _watch(hub: RunningHub, connector: Connector, home: Path) -> RegistryWatch:
    config = load_config_file(home / CONFIG_FILE)
    stats = WatchStats()
    refresh = directory_refresher(
        connector,
        "http://hub",
        client=hub.client,
        keys_dir=config.keys_dir,
        load_keys=lambda: load_decryption_keys(COUNCIL, config.keys_dir, PASSPHRASE.encode()),
        stats=stats,
    )
    return RegistryWatch(bootstrap=hub.bootstrap, topic=hub.topics.registry, refresh=refresh, every_s=60.0, stats=stats)


async def test_a_message_sealed_to_the_old_key_before_rotation_still_opens_after(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "council"
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        police = await _set_up(hub, home, monkeypatch)
        directory = await fetch_directory("http://hub", client=hub.client)
        council = _council_connector(hub, home, directory, await hub.policy())
        sender = await hub.connector(police, await hub.policy())
        watch = _watch(hub, council, home)
        send = {"contract": REFERRAL, "version": 1, "recipients": [COUNCIL], "purpose": PURPOSE}
        async with council, sender, watch:
            assert watch.listening
            old_sealed = sender.seal(**send, body=referral(21), subject_token=CHILD)  # to the old key

            config = load_config_file(home / CONFIG_FILE)
            transport = hub.client._transport
            done = await rotate_keys(config, hub_transport=transport)
            old_key, new_key = done[0].old, done[0].new
            assert old_key != new_key
            await _until(lambda: watch.stats.key_reloads >= 1, "the council's connector to reload its keys")

            await sender.publish_all(old_sealed)
            sender.use_directory(await fetch_directory("http://hub", client=hub.client))
            [new_header] = await sender.send(**send, body=referral(22), subject_token=CHILD)
            got = await council.receive(count=2, timeout_s=30)

        assert {m.header.message_id for m in got} == {old_sealed[0].header.message_id, new_header.message_id}
        assert all(m.body["concern_summary"] for m in got)
        assert watch.stats.events >= 1, "the reload followed an announcement"

        # A connector started after the rotation loads the old key from previous/ (runtime's path) ...
        fresh_keys, fresh_old = load_decryption_keys(COUNCIL, config.keys_dir, PASSPHRASE.encode())
        assert fresh_keys.encryption_key_id == new_key
        assert set(old_keys_of(config)) == set(fresh_old) == {old_key}
        fresh = Connector(
            keys=fresh_keys,
            directory=await fetch_directory("http://hub", client=hub.client),
            codec=ContractCodecs.bundled(),
            bootstrap_servers=hub.bootstrap,
            topics=hub.topics,
            old_keys=fresh_old,
        )
        assert fresh.open(old_sealed[0].value).header.message_id == old_sealed[0].header.message_id
        # ... and without it the message would be lost (the control).
        bare = Connector(
            keys=fresh_keys,
            directory=fresh.directory,
            codec=ContractCodecs.bundled(),
            bootstrap_servers=hub.bootstrap,
            topics=hub.topics,
        )
        with pytest.raises(EnvelopeRejected):
            bare.open(old_sealed[0].value)


async def test_a_revoked_signing_key_is_refused_by_router_and_recipient_within_a_second(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "council"
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        police = await _set_up(hub, home, monkeypatch)
        council = _council_connector(
            hub, home, await fetch_directory("http://hub", client=hub.client), await hub.policy()
        )
        sender = await hub.connector(police, await hub.policy())
        watch = _watch(hub, council, home)
        send = {"contract": REFERRAL, "version": 1, "recipients": [COUNCIL], "purpose": PURPOSE}
        producer = AIOKafkaProducer(bootstrap_servers=hub.bootstrap)
        async with council, sender, watch, DeadLetters(kafka_bootstrap, hub.topics.dead_letter) as dead:
            await producer.start()
            try:
                # Control: before the revocation the key is trusted end to end.
                [first] = await sender.send(**send, body=referral(31), subject_token=CHILD)
                [got] = await council.receive(count=1, timeout_s=30)
                assert got.header.message_id == first.message_id

                router_reloads = hub.router.stats.policy_reloads
                revoked_at = time.monotonic()
                response = await hub.client.post(
                    f"/agencies/{POLICE}/keys/{police.signing_key_id}/revoke", headers=hub.operator()
                )
                assert response.status_code == 200, response.text
                await _until(
                    lambda: council.directory.signing_key(POLICE, police.signing_key_id) is None,
                    "the council's connector to drop the revoked key",
                )
                recipient_s = time.monotonic() - revoked_at
                await _until(lambda: hub.router.stats.policy_reloads > router_reloads, "the router to reload")
                router_s = time.monotonic() - revoked_at
                print(f"\nrevocation effective: router {router_s * 1000:.0f} ms, recipient {recipient_s * 1000:.0f} ms")
                assert router_s < REVOCATION_BUDGET_S
                assert recipient_s < REVOCATION_BUDGET_S

                await asyncio.sleep(max(0.0, revoked_at + 1.0 - time.monotonic()))  # T + 1 s
                [stale] = sender.seal(**send, body=referral(32), subject_token=CHILD)  # signed with the revoked key
                await sender.publish_all([stale])
                # Refused before the hub MAC is checked, so nothing of the header is trusted or recorded:
                # the dead letter and the audit row name the owner of the topic and the reason.
                letter = await _dead_letter(dead, "sender.key_unknown")
                assert "ce_id" not in letter
                [row] = _rejections(hub, POLICE)
                assert row.reason_code == "sender.key_unknown"

                # Around the router, straight into the inbox: the recipient refuses it itself.
                await producer.send_and_wait(hub.topics.inbox(COUNCIL), stale.value, key=b"bypass")
                handled: list[ReceivedMessage] = []

                async def keep(message: ReceivedMessage) -> None:
                    handled.append(message)

                deadline = time.monotonic() + 20
                while council.stats.refused.get("sender.key_unknown", 0) == 0:
                    assert time.monotonic() < deadline, "the council's connector never read the envelope"
                    await council.poll(keep, timeout_ms=200)
                assert handled == [], "a message signed with a revoked key never reaches the agency"
            finally:
                await producer.stop()
