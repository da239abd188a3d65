"""``POST /outbound`` over the real API app, with a connector that really seals but does not publish.

Every bad request is a 422 with a stable code naming the field and never the value; an
``Idempotency-Key`` makes a retried POST answer the first result without sending again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.agent.api import create_app
from connectors.agent.outbound_api import LEDGER_FILE, OutboundIn, RequestLedger, checked, outbox_key
from connectors.outbox import Durability
from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from onedoor.envelope.header import Header
from onedoor.errors import Forbidden, OneDoorError, Unavailable
from onedoor.topics import TopicNames
from tests.factories import World
from tests.unit.agent.fakes import TOKEN, FakeBackend, config
from tests.unit.triage.world import referral_json

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORLD = World.make()
ALERT_BODY = {
    "alert_id": "00000000-0000-4000-8000-0000000000a1",
    "kind": "MISSING_EPISODE",
    "subject_token": "st1_" + "A" * 43,
    "occurred_at": "2026-11-20T21:15:00Z",
    "reported_at": "2026-11-20T22:00:00+00:00",
    "details": "Testy McFakeface missing from placement since 21:15.",
}


@dataclass
class SealingConnector:
    """Seals with a real ``Connector`` (so the arguments must be what it takes) and keeps the headers."""

    real: Connector = field(
        default_factory=lambda: Connector(
            keys=WORLD.council,
            directory=WORLD.directory(),
            codec=ContractCodecs.bundled(),
            bootstrap_servers="unused:9092",
            topics=TopicNames("unit"),
        )
    )
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: OneDoorError | None = None

    @property
    def directory(self) -> Any:
        return self.real.directory

    async def send(self, **message: Any) -> list[Header]:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        sealed = self.real.seal(**message)
        self.sent.append(message)
        return [s.header for s in sealed]


@dataclass
class Backend(FakeBackend):
    connector: SealingConnector = field(default_factory=SealingConnector)


@pytest.fixture
def backend() -> Backend:
    return Backend()


@pytest.fixture
async def client(tmp_path: Path, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config(tmp_path), backend)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as http:
        yield http


def alert(**changes: Any) -> dict[str, Any]:
    return {
        "contract": "onedoor.alert.Alert",
        "version": 1,
        "recipients": ["test-county-police", "fake-youth-charity"],
        "purpose": "safeguarding-referral",
        "body": ALERT_BODY,
        **changes,
    }


async def test_an_alert_is_checked_typed_and_sent(client: httpx.AsyncClient, backend: Backend) -> None:
    answer = await client.post("/outbound", headers=AUTH, json=alert())
    assert answer.status_code == 202, answer.text
    [envelope] = answer.json()["envelopes"]
    assert envelope["recipients"] == ["test-county-police", "fake-youth-charity"]
    assert answer.json()["replayed"] is False
    [sent] = backend.connector.sent
    assert sent["body"]["occurred_at"].hour == 21, "ISO text became a datetime for the contract"
    assert sent["contract"] == "onedoor.alert.Alert"


async def test_a_referral_gets_an_id_and_a_time_when_it_has_none(client: httpx.AsyncClient, backend: Backend) -> None:
    answer = await client.post(
        "/outbound", headers=AUTH, json=alert(contract="onedoor.referral.MasterReferral", body=referral_json())
    )
    assert answer.status_code == 202, answer.text
    body = backend.connector.sent[0]["body"]
    assert len(body["referral_id"]) == 36
    assert body["child"]["date_of_birth"].year == 2010


BAD = [
    ("A contract nobody registered.", {"contract": "onedoor.nothing.Here"}, "outbound.contract_unknown", "contract"),
    ("A version of a known contract that does not exist.", {"version": 7}, "outbound.version_unknown", "version"),
    ("A purpose that is not a purpose name.", {"purpose": "Because I Said So"}, "outbound.purpose_invalid", "purpose"),
    (
        "A recipient the directory does not hold.",
        {"recipients": ["test-county-police", "ghost-agency"]},
        "outbound.recipient_unknown",
        "recipients[1]",
    ),
    (
        "A body with a date that is not a date.",
        {"body": {**ALERT_BODY, "occurred_at": "last Tuesday"}},
        "outbound.body_invalid",
        "body.occurred_at",
    ),
    (
        "A body with a field the contract lacks.",
        {"body": {**ALERT_BODY, "shoe_size": "9"}},
        "outbound.body_invalid",
        "shoe_size",
    ),
    (
        "A body missing a required field.",
        {"body": {k: v for k, v in ALERT_BODY.items() if k != "kind"}},
        "outbound.body_invalid",
        "field 'body.kind'",
    ),
    (
        "A kind not among the contract's symbols.",
        {"body": {**ALERT_BODY, "kind": "ABDUCTED_BY_ALIENS"}},
        "outbound.body_invalid",
        "body.kind",
    ),
    (
        "A subject token that is not one.",
        {"subject_token": "Testy McFakeface"},
        "outbound.subject_token_invalid",
        "subject_token",
    ),
    (
        "A referral about a child with no name or number.",
        {"contract": "onedoor.referral.MasterReferral", "body": referral_json(given_name="", family_name="")},
        "referral.no_identifier",
        "child",
    ),
    (
        "A referral with a date of birth written the American way.",
        {"contract": "onedoor.referral.MasterReferral", "body": referral_json(date_of_birth="03/14/2010")},
        "outbound.body_invalid",
        "body.child.date_of_birth",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
async def test_a_bad_request_is_a_422_naming_the_field_and_nothing_is_sent(
    client: httpx.AsyncClient, backend: Backend, case: tuple[str, dict[str, Any], str, str]
) -> None:
    sentence, changes, code, named = case
    answer = await client.post("/outbound", headers=AUTH, json=alert(**changes))
    assert (answer.status_code, answer.json()["code"]) == (422, code), sentence
    assert named in answer.json()["message"], sentence
    for secret in ("McFakeface", "last Tuesday", "03/14/2010", "Because I Said So"):
        assert secret not in answer.text, f"{sentence}: the answer must not echo a value"
    assert backend.connector.sent == []


async def test_the_route_needs_the_token(client: httpx.AsyncClient, backend: Backend) -> None:
    answer = await client.post("/outbound", json=alert())
    assert (answer.status_code, answer.json()["code"]) == (401, "connector.unauthenticated")
    assert backend.connector.sent == []


async def test_a_retried_post_with_the_same_idempotency_key_sends_once(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    key = {**AUTH, "Idempotency-Key": "case-system-req-0001"}
    first = await client.post("/outbound", headers=key, json=alert())
    again = await client.post("/outbound", headers=key, json=alert())
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["envelopes"] == first.json()["envelopes"]
    assert again.json()["replayed"] is True
    assert len(backend.connector.sent) == 1

    other = await client.post("/outbound", headers=key, json=alert(recipients=["test-county-police"]))
    assert (other.status_code, other.json()["code"]) == (409, "outbound.idempotency_key_reused")
    fresh = await client.post("/outbound", headers={**AUTH, "Idempotency-Key": "req-0002"}, json=alert())
    assert fresh.status_code == 202
    assert len(backend.connector.sent) == 2


async def test_a_send_that_failed_may_be_retried_under_the_same_key(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    backend.connector.fail_next = Forbidden("sharing.denied", "no agreement permits it")  # raised while sealing
    key = {**AUTH, "Idempotency-Key": "req-0003"}
    failed = await client.post("/outbound", headers=key, json=alert())
    assert (failed.status_code, failed.json()["code"]) == (403, "sharing.denied")
    retried = await client.post("/outbound", headers=key, json=alert())
    assert (retried.status_code, retried.json()["replayed"]) == (202, False)
    assert len(backend.connector.sent) == 1


async def test_a_key_left_pending_by_a_stopped_connector_is_an_unknown_outcome(
    tmp_path: Path, client: httpx.AsyncClient, backend: Backend
) -> None:
    # What a connector killed while sending leaves behind: the key claimed, never completed.
    stopped = RequestLedger(config(tmp_path).data_directory / LEDGER_FILE)
    first = await client.post("/outbound", headers={**AUTH, "Idempotency-Key": "warm-up"}, json=alert())
    assert first.status_code == 202
    request = alert()
    fingerprint = hashlib.sha256(
        json.dumps(OutboundIn.model_validate(request).model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    assert stopped.begin("req-0004", fingerprint) is None
    stopped.close()
    answer = await client.post("/outbound", headers={**AUTH, "Idempotency-Key": "req-0004"}, json=request)
    assert (answer.status_code, answer.json()["code"]) == (409, "outbound.outcome_unknown")
    assert len(backend.connector.sent) == 1


async def test_with_an_outbox_a_key_left_pending_by_a_stopped_connector_is_sent_once(
    tmp_path: Path, client: httpx.AsyncClient, backend: Backend
) -> None:
    # The connector was killed after the outbox took the message, before the ledger recorded the answer.
    durability = Durability.open(
        f"sqlite:///{tmp_path / 'outbox.sqlite3'}", bootstrap_servers="unused:9092", topic="t", client_id="test"
    )
    backend.connector.real.outbox = durability.outbox
    backend.connector.outbox = durability.outbox  # type: ignore[attr-defined]
    backend.connector.send = backend.connector.real.send  # type: ignore[method-assign]
    request = alert()
    stopped = RequestLedger(config(tmp_path).data_directory / LEDGER_FILE)
    fingerprint = hashlib.sha256(
        json.dumps(OutboundIn.model_validate(request).model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    assert stopped.begin("req-0005", fingerprint) is None
    stopped.close()
    arguments = {
        "contract": request["contract"],
        "version": request["version"],
        "recipients": request["recipients"],
        "purpose": request["purpose"],
        "body": request["body"],
    }
    checked_request = OutboundIn.model_validate(arguments)
    first = await backend.connector.real.send(
        **checked(checked_request, backend.connector.directory, ContractCodecs.bundled()),
        idempotency_key=outbox_key("req-0005"),
    )
    answer = await client.post("/outbound", headers={**AUTH, "Idempotency-Key": "req-0005"}, json=request)
    assert answer.status_code == 202, answer.json()
    assert [e["message_id"] for e in answer.json()["envelopes"]] == [str(h.message_id) for h in first]
    assert durability.store.pending_count() == 1, "the outbox already held it: nothing added"
    replay = await client.post("/outbound", headers={**AUTH, "Idempotency-Key": "req-0005"}, json=request)
    assert (replay.status_code, replay.json()["replayed"]) == (202, True)
    assert durability.store.pending_count() == 1
    durability.store.close()


@dataclass
class PublishingConnector(SealingConnector):
    """Seals for real and "publishes" envelope by envelope, failing after ``publish_fails_after`` of them."""

    published: list[str] = field(default_factory=list)
    publish_fails_after: int | None = None
    seal_fails: bool = False

    def seal(self, **message: Any) -> list[Any]:
        if self.seal_fails:
            self.seal_fails = False
            raise Forbidden("sharing.denied", "no agreement permits it")
        return self.real.seal(**message)

    async def publish_all(self, sealed: list[Any]) -> None:
        for item in sealed:
            if self.publish_fails_after is not None and len(self.published) >= self.publish_fails_after:
                self.publish_fails_after = None
                raise Unavailable("kafka.unavailable", "the broker went away")
            self.published.append(str(item.header.message_id))


async def test_a_send_that_failed_while_publishing_is_an_unknown_outcome_not_a_second_send(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    connector = PublishingConnector(publish_fails_after=0)
    backend.connector = connector
    key = {**AUTH, "Idempotency-Key": "req-0006"}
    failed = await client.post("/outbound", headers=key, json=alert())
    assert (failed.status_code, failed.json()["code"]) == (503, "kafka.unavailable")
    retried = await client.post("/outbound", headers=key, json=alert())
    assert (retried.status_code, retried.json()["code"]) == (409, "outbound.outcome_unknown")
    assert connector.published == [], "nothing was published again under the same key"


async def test_a_send_that_failed_while_sealing_may_be_retried_and_is_published_once(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    connector = PublishingConnector(seal_fails=True)
    backend.connector = connector
    key = {**AUTH, "Idempotency-Key": "req-0007"}
    failed = await client.post("/outbound", headers=key, json=alert())
    assert (failed.status_code, failed.json()["code"]) == (403, "sharing.denied")
    retried = await client.post("/outbound", headers=key, json=alert())
    assert (retried.status_code, retried.json()["replayed"]) == (202, False)
    assert connector.published == [e["message_id"] for e in retried.json()["envelopes"]]


async def test_a_send_only_connector_failing_after_sealing_is_an_unknown_outcome(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    backend.connector.fail_next = Unavailable("kafka.unavailable", "the broker went away")
    key = {**AUTH, "Idempotency-Key": "req-0008"}
    failed = await client.post("/outbound", headers=key, json=alert())
    assert failed.status_code == 503
    retried = await client.post("/outbound", headers=key, json=alert())
    assert (retried.status_code, retried.json()["code"]) == (409, "outbound.outcome_unknown")
    assert backend.connector.sent == []
