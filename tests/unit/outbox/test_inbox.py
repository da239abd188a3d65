"""The durable inbox over a SQLite file: once per id across restarts, bounded retries, parking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.adapters.base import DeliveryRefused, DeliveryRetry
from connectors.outbox import HANDLER_FAILED, Backoff, DurableInbox, OutboxStore, record_received
from connectors.sdk.connector import ReceivedMessage
from onedoor.envelope.reasons import EnvelopeRejected, Reason
from onedoor.errors import NotFound
from tests.factories import World

WORLD = World.make()


def _message() -> ReceivedMessage:
    return ReceivedMessage(WORLD.header(WORLD.police, [WORLD.council]), {"note": "Synthia Example"})


def _inbox(store: OutboxStore, **kwargs: float) -> DurableInbox:
    return DurableInbox(store, backoff=lambda: Backoff(first_s=0.001, cap_s=0.002), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OutboxStore]:
    made = OutboxStore(f"sqlite:///{tmp_path / 'connector.sqlite3'}").create()
    yield made
    made.close()


class App:
    """The agency's application: what it got, and what it raises the first ``failures`` times."""

    def __init__(self, *errors: Exception) -> None:
        self.got: list[str] = []
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, message: ReceivedMessage) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.got.append(str(message.header.message_id))


async def test_a_restarted_connector_never_hands_the_same_id_over_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'connector.sqlite3'}"
    message, app = _message(), App()
    first = OutboxStore(url).create()
    assert await _inbox(first).deliver(message, b"sealed", app)
    first.close()
    restarted = OutboxStore(url).create()  # a new process over the same database
    inbox = _inbox(restarted)
    assert not await inbox.deliver(message, b"sealed", app)
    assert app.got == [str(message.header.message_id)]
    assert inbox.duplicates == 1
    restarted.close()


async def test_a_handler_can_record_the_id_in_its_own_transaction(store: OutboxStore) -> None:
    message, app = _message(), App()
    with store.transaction() as session:  # the agency-side change and the id commit together
        record_received(session, message.header)
    assert not await _inbox(store).deliver(message, b"sealed", app)
    assert app.calls == 0


async def test_a_refusal_is_parked_at_once_and_listed_with_its_code(store: OutboxStore) -> None:
    message = _message()
    app = App(DeliveryRefused("adapter.unmapped", "the status column has no mapping"))
    inbox = _inbox(store)
    assert not await inbox.deliver(message, b"sealed-bytes", app)
    assert app.calls == 1
    [parked] = store.parked()
    assert (parked.message_id, parked.reason, parked.attempts) == (
        str(message.header.message_id),
        "adapter.unmapped",
        1,
    )
    assert parked.detail == "the status column has no mapping"
    assert store.counts().parked == 1
    assert not await inbox.deliver(message, b"sealed-bytes", app), "a parked id is not handed over again"
    assert app.calls == 1


async def test_a_transient_failure_is_retried_in_place_until_it_works(store: OutboxStore) -> None:
    message = _message()
    app = App(DeliveryRetry("adapter.unavailable", "503"), DeliveryRetry("adapter.unavailable", "503"))
    assert await _inbox(store).deliver(message, b"sealed", app)
    assert app.calls == 3
    assert app.got == [str(message.header.message_id)]
    assert store.parked() == []


async def test_a_system_down_too_long_raises_so_the_batch_is_read_again(store: OutboxStore) -> None:
    app = App(*[DeliveryRetry("adapter.unavailable", "503")] * 100)
    with pytest.raises(DeliveryRetry):
        await _inbox(store, retry_in_place_s=0.05).deliver(_message(), b"sealed", app)
    assert store.parked() == [], "a transient failure is never parked"
    assert not store.was_received(str(_message().header.message_id))


async def test_any_other_error_is_tried_three_times_then_parked_with_its_type_only(store: OutboxStore) -> None:
    message = _message()
    app = App(*[ValueError("Synthia Example's record")] * 10)
    assert not await _inbox(store).deliver(message, b"sealed", app)
    assert app.calls == 3, "bounded: not retried forever"
    [parked] = store.parked()
    assert (parked.reason, parked.detail, parked.attempts) == (HANDLER_FAILED, "ValueError", 3)


async def test_a_parked_message_put_back_is_delivered_and_unparked(store: OutboxStore) -> None:
    message = _message()
    inbox = _inbox(store)
    await inbox.deliver(message, b"sealed", App(DeliveryRefused("adapter.unmapped", "no mapping")))
    [parked] = store.parked()
    assert await inbox.retry_parked(lambda _value: message, App()) == 0, "not put back yet"
    store.retry(parked.id)
    app = App()
    assert await inbox.retry_parked(lambda _value: message, app) == 1
    assert app.got == [str(message.header.message_id)]
    assert store.parked() == []


async def test_a_parked_message_that_no_longer_opens_stays_parked_with_why(store: OutboxStore) -> None:
    message = _message()
    inbox = _inbox(store)
    await inbox.deliver(message, b"sealed", App(DeliveryRefused("adapter.unmapped", "no mapping")))
    [parked] = store.parked()
    store.retry(parked.id)

    def expired(_value: bytes) -> ReceivedMessage:
        raise EnvelopeRejected(Reason.EXPIRED, "expired")

    assert await inbox.retry_parked(expired, App()) == 0
    [again] = store.parked()
    assert (again.status, again.reason) == ("parked", Reason.EXPIRED.value)


def test_retrying_an_unknown_parked_id_is_a_clear_error(store: OutboxStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.retry(999)
    assert caught.value.code == "connector.parked_not_found"


def test_expired_ids_are_pruned_and_live_ones_kept(store: OutboxStore) -> None:
    live = WORLD.header(WORLD.police, [WORLD.council], ttl_ms=86_400_000)
    old = WORLD.header(WORLD.police, [WORLD.council], created_ms=1_000, ttl_ms=1_000)
    store.record_received(live)
    store.record_received(old)
    assert store.prune_received() == 1
    assert store.was_received(str(live.message_id))
    assert not store.was_received(str(old.message_id))
