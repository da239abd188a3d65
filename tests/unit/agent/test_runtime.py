"""The connector process's wiring, with the broker replaced: keys, records and the hub's documents in;
a status check from another agency answered, disclosed and notified; the inbox reader kept alive;
the policy fetched again. The broker path itself is the end-to-end test's."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.agent import runtime
from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import running_connector
from connectors.identity import MatchingKey, derive_tokens
from connectors.sdk import Connector, ReceivedMessage
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import PublicDirectory
from connectors.sdk.policy import SharingPolicy
from connectors.status import STATUS_CHECK, STATUS_REPLY, VICTIM_IDENTIFICATION
from connectors.status.index import write_records
from connectors.status.messages import check_body
from connectors.status.synthetic import known_victim, synthetic_records
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair, HubKey
from onedoor.errors import OneDoorError
from onedoor.topics import TopicNames
from tests.unit.agent.fakes import COUNCIL, POLICE, config
from tests.unit.status.world import VICTIM, document


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _directory(*pairs: AgencyKeyPair) -> dict[str, Any]:
    return {
        "agencies": [
            {
                "id": pair.agency,
                "signing_keys": [{"key_id": pair.signing_key_id, "public_key": _b64(pair.signing_public)}],
                "encryption_keys": [{"status": "current", "public_key": _b64(pair.encryption_public)}],
            }
            for pair in pairs
        ],
        "hub_public_key": _b64(HubKey.generate().public),
    }


@dataclass
class FakeHub:
    """``GET /directory`` and ``GET /policy`` (with ``ETag``); counts the policy fetches that asked for a change."""

    directory: dict[str, Any]
    policy: dict[str, Any] = field(default_factory=lambda: document().model_dump(mode="json"))
    rechecks: int = 0
    down: bool = False

    def client(self) -> httpx.AsyncClient:
        def handle(request: httpx.Request) -> httpx.Response:
            if self.down:
                raise httpx.ConnectError("fake hub down", request=request)
            if request.url.path == "/directory":
                return httpx.Response(200, json=self.directory)
            etag = f'"{self.policy["version"]}"'
            if request.headers.get("If-None-Match") == etag:
                self.rechecks += 1
                return httpx.Response(304)
            return httpx.Response(200, json=self.policy, headers={"ETag": etag})

        return httpx.AsyncClient(base_url="http://hub", transport=httpx.MockTransport(handle))


class FakeConnector(Connector):
    """A connector whose broker is a list: ``publish`` keeps envelopes; ``run`` fails once, then idles."""

    published: list[Header]
    runs: int = 0

    async def start(self) -> None:
        self.published = []

    async def stop(self) -> None:
        pass

    async def publish(self, header: Header, _value: bytes) -> None:
        self.published.append(header)

    async def run(self, handler: Any, *, stop_after: float | None = None) -> None:  # noqa: ARG002 - same signature
        type(self).runs += 1
        if type(self).runs == 1:
            raise ConnectionError("fake broker hiccup")
        await asyncio.Event().wait()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ConnectorConfig, FakeHub, AgencyKeyPair]:
    council, police = AgencyKeyPair.generate(COUNCIL), AgencyKeyPair.generate(POLICE)
    council.save(tmp_path / "keys")
    MatchingKey.generate().save(tmp_path / "matching.key")
    write_records(tmp_path / "records.json", [*synthetic_records(20, seed=1), known_victim()])
    monkeypatch.setattr(runtime, "Connector", FakeConnector)
    monkeypatch.setattr(runtime, "PUMP_RETRY_S", 0.01)
    FakeConnector.runs = 0
    settings = config(tmp_path, records_path=tmp_path / "records.json", policy_refresh_seconds=0.05)
    return settings, FakeHub(_directory(council, police)), police


async def _eventually(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_check_from_the_police_is_answered_disclosed_and_notified(
    world: tuple[ConnectorConfig, FakeHub, AgencyKeyPair],
) -> None:
    settings, hub, police_keys = world
    async with hub.client() as client, running_connector(settings, bootstrap="fake:9092", client=client) as process:
        police = Connector(
            keys=police_keys,
            directory=PublicDirectory.from_document(hub.directory),
            codec=ContractCodecs.bundled(),
            bootstrap_servers="unused:9092",
            topics=TopicNames("unit"),
            policy=SharingPolicy.from_document(hub.policy),
        )
        key = MatchingKey.load(settings.matching_key_path)
        now_ms = int(time.time() * 1000)
        [sealed] = police.seal(
            contract=STATUS_CHECK,
            version=1,
            recipients=[COUNCIL],
            purpose=VICTIM_IDENTIFICATION,
            body=check_body(
                derive_tokens(VICTIM, key), soft_deadline_ms=now_ms + 2000, hard_deadline_ms=now_ms + 10000
            ),
        )
        message: ReceivedMessage = process.connector.open(sealed.value)
        await process.dispatcher(message)

        connector = process.connector
        assert isinstance(connector, FakeConnector)
        [reply] = connector.published
        assert (reply.contract, reply.recipients) == (STATUS_REPLY, (POLICE,))
        assert str(reply.correlation_id) == str(sealed.header.message_id)
        [disclosed] = process.disclosures.for_record(known_victim().record_reference)
        assert (disclosed.requester, disclosed.message_id) == (POLICE, sealed.header.message_id)
        [notice] = process.notices.recent()
        assert (notice.record_ref, notice.requester) == (known_victim().record_reference, POLICE)

        # The council is asked by the police, but no agreement lets it ask anyone itself.
        answer = await process.check(VICTIM)
        assert answer.asked == ()
        assert "No agency was asked" in answer.describe()

        # The inbox reader survived the first failure, and the policy is fetched again on a timer.
        await _eventually(lambda: FakeConnector.runs >= 2 and hub.rechecks >= 1)
        assert process.healthy
    assert process.pump.done()


async def test_without_a_records_file_every_check_is_no_record(
    world: tuple[ConnectorConfig, FakeHub, AgencyKeyPair],
) -> None:
    settings, hub, _ = world
    bare = settings.model_copy(update={"records_path": None})
    async with hub.client() as client, running_connector(bare, bootstrap="fake:9092", client=client) as process:
        assert len(process.responder.index) == 0


async def test_what_stops_a_connector_from_starting(
    world: tuple[ConnectorConfig, FakeHub, AgencyKeyPair], tmp_path: Path
) -> None:
    settings, hub, _ = world

    async def start(chosen: ConnectorConfig, *, bootstrap: str | None = "fake:9092") -> str:
        async with hub.client() as client:
            try:
                async with running_connector(chosen, bootstrap=bootstrap, client=client):
                    return "started"
            except OneDoorError as exc:
                return exc.code

    assert await start(settings, bootstrap=None) == "connector.no_broker"
    assert await start(settings.model_copy(update={"keys_dir": tmp_path / "absent"})) == "connector.keys_unreadable"
    assert await start(settings.model_copy(update={"matching_key_path": tmp_path / "absent"})) == "identity.key_file"
    (tmp_path / "bad.json").write_text('[{"record_reference": "fake-rec-bad"}]')
    assert await start(settings.model_copy(update={"records_path": tmp_path / "bad.json"})) == "status.invalid_records"
    hub.down = True
    assert await start(settings) == "hub.unreachable"
