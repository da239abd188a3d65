"""The webhook adapter against a real HTTP server (Starlette served by uvicorn on a local port).

The server plays the agency's case system: it checks each request's signature with the public
``verify_signature`` exactly as an agency would, and answers what each test tells it to. Real
httpx, real sockets, no mocks.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.adapters.base import AdapterContext, DeliveryRefused, DeliveryRetry
from connectors.adapters.signing import MESSAGE_ID_HEADER, SIGNATURE_HEADER, create_secret_file
from connectors.adapters.webhook import BAD_URL, INSECURE_URL, REFUSED, UNAVAILABLE, WebhookAdapter, factory
from connectors.sdk.connector import ReceivedMessage
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, MessageId
from tests.integration.webhook_server import Served, serving
from tests.unit.triage.world import received

pytestmark = pytest.mark.integration

REFERRAL = "onedoor.referral.MasterReferral"
ALERT = "onedoor.alert.Alert"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as server:
        yield server


def adapter(served: Served, tmp_path: Path, **options: object) -> WebhookAdapter:
    context = AdapterContext(agency=AgencyId("lb-test-csc"), data_dir=tmp_path / "data", base_dir=tmp_path)
    return factory(
        "case-system",
        {"url": served.url, "secret_file": served.secret_file.name, "contracts": [REFERRAL, ALERT], **options},
        context,
    )


def referral() -> ReceivedMessage:
    return received(
        REFERRAL,
        {
            "referral_id": "00000000-0000-4000-8000-000000000001",
            "submitted_at": dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
            "urgency": "SAME_DAY",
            "child": {"given_name": "Testy", "family_name": "McFakeface", "date_of_birth": dt.date(2010, 3, 14)},
        },
    )


async def test_a_received_message_is_delivered_signed_with_its_id_and_iso_dates(served: Served, tmp_path: Path) -> None:
    webhook = adapter(served, tmp_path)
    message = referral()
    try:
        assert await webhook.deliver(message) is True
    finally:
        await webhook.close()
    [(message_id, body)] = served.system.got
    assert message_id == message.header.message_id
    assert body["message_id"] == message_id
    assert (body["contract"], body["version"], body["sender"]) == (REFERRAL, 1, "test-county-police")
    child = body["body"]["child"]  # type: ignore[index]
    assert child["date_of_birth"] == "2010-03-14"
    assert body["body"]["submitted_at"] == "2026-11-20T09:30:00+00:00"  # type: ignore[index]
    assert served.system.refused == []


async def test_a_500_is_retried_later_and_delivered_once_the_system_recovers(served: Served, tmp_path: Path) -> None:
    webhook = adapter(served, tmp_path)
    served.system.answers = [500, 503]
    message = referral()
    try:
        for _ in range(2):
            with pytest.raises(DeliveryRetry) as retry:
                await webhook.deliver(message)
            assert retry.value.code == UNAVAILABLE
            assert "HTTP 50" in retry.value.message
        assert await webhook.deliver(message) is True
    finally:
        await webhook.close()
    ids = {message_id for message_id, _ in served.system.got}
    assert ids == {message.header.message_id}, "every attempt carries the same id, so the agency can deduplicate"


async def test_a_400_refuses_the_message_for_good(served: Served, tmp_path: Path) -> None:
    webhook = adapter(served, tmp_path)
    served.system.answers = [400]
    try:
        with pytest.raises(DeliveryRefused) as refused:
            await webhook.deliver(referral())
    finally:
        await webhook.close()
    assert refused.value.code == REFUSED
    assert "HTTP 400" in refused.value.message
    assert "Testy" not in refused.value.message


async def test_a_signature_under_the_wrong_secret_is_refused_by_the_agency(served: Served, tmp_path: Path) -> None:
    other = tmp_path / "other.secret"
    create_secret_file(other)
    webhook = adapter(served, tmp_path, secret_file=str(other))
    try:
        with pytest.raises(DeliveryRefused, match="HTTP 401"):
            await webhook.deliver(referral())
    finally:
        await webhook.close()
    assert served.system.refused == ["webhook.signature_mismatch"]


async def test_a_replay_under_another_message_id_is_refused_by_the_agency(served: Served, tmp_path: Path) -> None:
    """Within the five minutes, a captured request sent again with a new OneDoor-Message-Id does not verify."""
    webhook = adapter(served, tmp_path)
    message = referral()
    try:
        assert await webhook.deliver(message) is True
    finally:
        await webhook.close()
    [(captured, raw)] = served.system.requests
    replay = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: captured[SIGNATURE_HEADER.lower()],
        MESSAGE_ID_HEADER: str(MessageId.new()),
    }
    async with httpx.AsyncClient() as client:
        answer = await client.post(served.url, content=raw, headers=replay)
    assert answer.status_code == 401
    assert answer.json() == {"error": "webhook.signature_mismatch"}
    assert served.system.refused == ["webhook.signature_mismatch"]
    assert [message_id for message_id, _ in served.system.got] == [message.header.message_id]


async def test_a_slow_or_absent_system_means_try_again_later(served: Served, tmp_path: Path) -> None:
    served.system.delay_s = 1.0
    slow = adapter(served, tmp_path, timeout_s=0.2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    absent = adapter(served, tmp_path, url=f"http://127.0.0.1:{closed_port}/onedoor/inbox")
    try:
        with pytest.raises(DeliveryRetry, match="ReadTimeout"):
            await slow.deliver(referral())
        with pytest.raises(DeliveryRetry, match="ConnectError"):
            await absent.deliver(referral())
    finally:
        await slow.close()
        await absent.close()


async def test_a_contract_not_listed_is_not_taken(served: Served, tmp_path: Path) -> None:
    webhook = adapter(served, tmp_path, contracts=[ALERT])
    try:
        assert await webhook.deliver(referral()) is False
    finally:
        await webhook.close()
    assert served.system.got == []


BAD = [
    (
        "Plain http to another host would send children's details unencrypted.",
        {"url": "http://case.example/in"},
        INSECURE_URL,
    ),
    ("A URL that is not http(s) at all.", {"url": "ftp://case.example/in"}, BAD_URL),
    ("An unknown option.", {"retries": 3}, "adapter.webhook.bad_options"),
    ("No contracts to deliver.", {"contracts": []}, "adapter.webhook.bad_options"),
]


@pytest.mark.parametrize(("sentence", "changes", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_options_are_refused_with_their_code(
    served: Served, tmp_path: Path, sentence: str, changes: dict[str, object], code: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        adapter(served, tmp_path, **changes)
    assert refused.value.code == code, sentence


def test_a_secret_file_others_can_read_is_refused(served: Served, tmp_path: Path) -> None:
    os.chmod(served.secret_file, 0o640)
    with pytest.raises(ValidationFailed) as refused:
        adapter(served, tmp_path)
    assert refused.value.code == "adapter.webhook.secret_file"
