"""``Connector.send`` with an outbox commits and returns without a broker; ``enqueue`` wakes the relay at commit."""

from __future__ import annotations

from pathlib import Path

from connectors.outbox import Durability
from connectors.synthetic import referral
from onedoor.ids import Purpose
from tests.unit.connectors.world import KINDS, REFERRAL, Agencies


def _durability(tmp_path: Path) -> Durability:
    return Durability.open(
        f"sqlite:///{tmp_path / 'connector.sqlite3'}", bootstrap_servers="unused:9092", topic="t", client_id="test"
    )


async def test_send_with_an_outbox_commits_the_envelopes_and_needs_no_broker(tmp_path: Path) -> None:
    agencies = Agencies()
    sender, recipient = list(KINDS)[:2]
    durability = _durability(tmp_path)
    connector = agencies.connector(sender, None)
    connector.outbox = durability.outbox  # never started: a direct publish would fail
    headers = await connector.send(
        contract=REFERRAL, version=1, recipients=[recipient], purpose=Purpose("safeguarding-referral"), body=referral(1)
    )
    [pending] = durability.store.pending(10)
    assert pending.message_id == str(headers[0].message_id)
    opened = agencies.connector(recipient, None).open(pending.value)
    assert opened.header.message_id == headers[0].message_id, "the outbox holds the sealed envelope itself"
    durability.store.close()


def test_enqueue_in_the_callers_transaction_wakes_the_relay_only_when_it_commits(tmp_path: Path) -> None:
    agencies = Agencies()
    sender, recipient = list(KINDS)[:2]
    durability = _durability(tmp_path)
    woken: list[bool] = []
    durability.relay.wake = lambda: woken.append(True)  # type: ignore[method-assign]
    sealed = agencies.connector(sender, None).seal(
        contract=REFERRAL, version=1, recipients=[recipient], purpose=Purpose("safeguarding-referral"), body=referral(2)
    )
    with durability.store.sessions() as session:
        durability.outbox.enqueue(session, sealed)
        session.rollback()
    assert (woken, durability.store.pending_count()) == ([], 0), "rolled back: nothing queued, nobody woken"
    with durability.store.transaction() as session:
        durability.outbox.enqueue(session, sealed)
        assert woken == []
    assert (woken, durability.store.pending_count()) == ([True], 1)
    durability.store.close()
