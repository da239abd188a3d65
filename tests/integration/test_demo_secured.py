"""`onedoor demo` on a broker with SCRAM users and enforced ACLs, as `make run` runs it.

One run, serving the front door, on the secured test broker (the demo is given its admin, as
`make run` is given the local broker's):

1. Every demo agency is enrolled through the hub's ``POST /broker/credentials``: its password
   file is 0600 and its connector config names its identity; the hub connects as its own user.
2. The broker refuses the police reading the council's inbox or writing the council's outbound
   topic, and the hub reading any inbox, while the police may read their own inbox.
3. A public referral still travels hub -> intake topic -> the triage desk's connector, whose
   workbench lists it.
4. No password is printed.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from onedoor.demo import COUNCIL, POLICE, run_demo
from onedoor.demo_broker import CONFIG_FILE
from onedoor.demo_front_door import DESK, FrontDoor, Workbench
from onedoor.kafka.admin import can_read
from onedoor.kafka.local import LocalKafkaCluster
from onedoor.kafka.security import ClientCredentials, aiokafka_options, write_password_file
from onedoor.settings import DatabaseSettings, IntakeSettings, KafkaSettings, Settings
from onedoor.topics import TopicNames

pytestmark = pytest.mark.integration

CHILD = "Synthia Examplesecure"


def _settings(tmp_path: Path, secured: LocalKafkaCluster) -> Settings:
    admin = secured.admin_credentials
    assert admin is not None
    write_password_file(tmp_path / "given-admin.password", admin.password)
    return Settings(
        env="test",
        home=tmp_path / "home",
        kafka=KafkaSettings(
            bootstrap_servers=secured.bootstrap_servers,
            topic_prefix=f"s{uuid.uuid4().hex[:8]}",
            partitions=1,
            admin_username=admin.username,
            admin_password_file=tmp_path / "given-admin.password",
            ca_file=secured.ca_file,  # the broker speaks TLS (SASL_SSL), as `make run`'s does
        ),
        db=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.sqlite3'}"),
        intake=IntakeSettings(min_fill_seconds=0, rate_per_minute=1000),
    )


def _identity(settings: Settings, agency_id: str) -> ClientCredentials:
    folder = settings.home / "demo" / agency_id
    password_file = folder / "broker.password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    config = (folder / CONFIG_FILE).read_text(encoding="utf-8")
    assert f"ONEDOOR_CONNECTOR_KAFKA__USERNAME=agency-{agency_id}\n" in config
    assert f"ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE={password_file.resolve()}\n" in config
    # Enrolment wrote the broker's CA (handed out by the hub) next to it and named it in the config.
    ca_file = (folder / "broker-ca.pem").resolve()
    assert f"ONEDOOR_CONNECTOR_KAFKA__CA_FILE={ca_file}\n" in config
    assert ca_file.read_text(encoding="ascii") == settings.kafka.ca_file.read_text(encoding="ascii")  # type: ignore[union-attr]
    return ClientCredentials.from_file(f"agency-{agency_id}", password_file, ca_file=ca_file)


async def _may_write(bootstrap: str, topic: str, who: ClientCredentials) -> bool:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **aiokafka_options(who))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"not an envelope")
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()
    return True


async def _signed_in(client: httpx.AsyncClient, bench: Workbench) -> None:
    page = await client.get(f"{bench.url}/workbench/sign-in")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = await client.post(
        f"{bench.url}/workbench/sign-in",
        data={"username": bench.username, "password": bench.password, "csrf_token": csrf},
    )
    assert signed.status_code == 303, signed.text


async def _refer(form_url: str) -> None:
    """A neighbour's referral through the public form, without JavaScript (the hub seals it)."""
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(form_url)
        token = re.search(r'name="form-token" value="([^"]+)"', page.text)
        assert token
        given, family = CHILD.split()
        sent = await client.post(
            form_url,
            data={
                "relationship": "neighbour",
                "child-given-name": given,
                "child-family-name": family,
                "estimated-age": "14",
                "area": "Exampleton",
                "concerns": ["COUNTY_LINES"],
                "summary": "Synthetic: seen getting into cars late at night.",
                "urgency": "SAME_DAY",
                "parent-knows": "not-sure",
                "form-token": token.group(1),
            },
        )
        assert sent.status_code == 200
        assert "Referral sent" in sent.text


async def _listed(bench: Workbench, text: str, timeout_s: float = 30) -> bool:
    async with httpx.AsyncClient(timeout=10) as client:
        await _signed_in(client, bench)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            inbox = await client.get(f"{bench.url}/workbench/inbox")
            if text in inbox.text:
                return True
            await asyncio.sleep(0.5)
    return False


async def test_make_run_is_least_privilege_at_the_broker(
    secured_kafka: LocalKafkaCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path, secured_kafka)
    bootstrap = secured_kafka.bootstrap_servers
    topics = TopicNames(settings.kafka.topic_prefix)
    stop = asyncio.Event()
    served: asyncio.Future[FrontDoor] = asyncio.get_running_loop().create_future()
    demo = asyncio.create_task(run_demo(settings, serve=True, stop=stop, on_serving=served.set_result))
    try:
        door = await asyncio.wait_for(asyncio.shield(served), timeout=120)
        police, council = _identity(settings, POLICE.id), _identity(settings, COUNCIL.id)
        for front in (DESK.id, "demo-outreach-charity"):
            _identity(settings, front)
        hub_file = settings.home / "demo" / "hub" / "hub.password"
        assert hub_file.stat().st_mode & 0o777 == 0o600
        hub = ClientCredentials.from_file("hub", hub_file, ca_file=secured_kafka.ca_file)

        assert not await can_read(bootstrap, topics.inbox(COUNCIL.id), police), "police read the council's inbox"
        assert not await _may_write(bootstrap, topics.outbound(COUNCIL.id), police)
        assert not await can_read(bootstrap, topics.inbox(POLICE.id), hub), "the hub read an inbox"
        # The same identities are not simply locked out: each reads its own inbox.
        assert await can_read(bootstrap, topics.inbox(POLICE.id), police)
        assert await can_read(bootstrap, topics.inbox(COUNCIL.id), council)

        await _refer(door.form_url)
        assert await _listed(door.desk, "Synthia"), "the public referral did not reach the triage desk's workbench"
    finally:
        stop.set()
        await asyncio.wait_for(demo, timeout=30)

    printed = capsys.readouterr().out
    assert "the broker enforces SCRAM users and ACLs" in printed
    assert f"tries to read {COUNCIL.id}'s inbox: the broker refuses it" in printed
    secrets = [police, council, hub, secured_kafka.admin_credentials]
    for secret in secrets:
        assert secret is not None
        assert secret.password.get_secret_value() not in printed
