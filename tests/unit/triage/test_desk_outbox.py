"""A triage decision and its onward message commit together through the connector's transactional outbox.

Real SQLite file shared by the workbench store and the outbox (as in the running connector); the
sealer is a fake that makes real headers. Nothing reaches a broker: the relay is never started.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from connectors.outbox import Durability, Enqueued, Outbox
from connectors.sdk.connector import Sealed
from connectors.sdk.policy import SharingDenied
from connectors.triage.decision import NO_AGREEMENT, TriageDecision, TriageInvalid
from connectors.triage.desk import TriageDesk
from connectors.workbench.store import WorkbenchStore
from onedoor.envelope.intake_form import PublicReferralForm
from onedoor.errors import Conflict
from onedoor.ids import ContractName, Purpose
from tests.unit.triage.world import AGENCIES, CHARITY, DESK, FakeSender, may_send_from, received


@dataclass
class FakeSealer(FakeSender):
    """Seals (fake bytes, real headers) and never sends: the desk must not call ``send`` with an outbox."""

    refuse: bool = False
    sealed: list[Sealed] = field(default_factory=list)

    def seal(self, **message: Any) -> list[Sealed]:
        if self.refuse:
            raise SharingDenied(
                {}, contract=ContractName(str(message["contract"])), version=1, purpose=Purpose("safeguarding-referral")
            )
        header = received(str(message["contract"]), {}, sender=self.me, recipient=message["recipients"][0]).header
        found = [Sealed(header, b"sealed:" + str(header.message_id).encode(), frozenset())]
        self.sealed += found
        return found

    async def send(self, **_message: Any) -> list[Any]:
        raise AssertionError("with an outbox the desk seals and enqueues; it never sends directly")


class FailingOutbox:
    """Enqueues for real, then fails: a crash after recording but before the commit."""

    def __init__(self, real: Outbox) -> None:
        self.real = real

    def enqueue(self, session: Session, sealed: Sequence[Sealed], idempotency_key: str | None = None) -> Enqueued:
        self.real.enqueue(session, sealed, idempotency_key)
        raise RuntimeError("the connector died before the commit")

    def same_database(self, engine: Any) -> bool:
        return self.real.same_database(engine)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[WorkbenchStore, Durability]]:
    url = f"sqlite:///{tmp_path / 'workbench.sqlite3'}"
    store = WorkbenchStore(url).create()
    durability = Durability.open(url, bootstrap_servers="unused:9092", topic="t", client_id="test")
    yield store, durability
    durability.store.close()
    store.close()


def _desk(store: WorkbenchStore, sealer: FakeSealer, outbox: Any) -> TriageDesk:
    return TriageDesk(
        me=DESK, store=store, sender=sealer, agencies=AGENCIES, may_send=may_send_from(DESK), outbox=outbox
    )


def _item(desk: TriageDesk, reference: str) -> str:
    form = PublicReferralForm.model_validate(
        {
            "referrer": {"relationship": "friend"},
            "child": {"given_name": "Synthia", "family_name": "Example", "estimated_age": 15},
            "concern_categories": ["CRIMINAL_EXPLOITATION"],
            "concern_summary": "Being paid to carry packages.",
            "urgency": "ROUTINE",
            "parent_carer_knows": "not-sure",
        }
    )
    return desk.receive_public(form, reference=reference, received_at=dt.datetime.now(dt.UTC)).item_id


INTERVENTION = TriageDecision.parse("intervention", str(CHARITY))


async def test_the_decision_and_its_onward_message_commit_together(world: tuple[WorkbenchStore, Durability]) -> None:
    store, durability = world
    woken: list[bool] = []
    durability.relay.wake = lambda: woken.append(True)  # type: ignore[method-assign]
    desk = _desk(store, FakeSealer(DESK), durability.outbox)
    item_id = _item(desk, "OD-TESTDURABLE")
    decided = await desk.decide(item_id, INTERVENTION, by="officer.one")
    [pending] = durability.store.pending(10)
    assert decided.status == "triaged"
    assert store.item(item_id).onward_message_id == pending.message_id
    assert store.item(item_id).decision_target == str(CHARITY)
    assert woken == [True], "the relay is woken once the transaction commits"


async def test_a_failure_before_the_commit_leaves_neither_the_decision_nor_the_message(
    world: tuple[WorkbenchStore, Durability],
) -> None:
    store, durability = world
    sealer = FakeSealer(DESK)
    failing = _desk(store, sealer, FailingOutbox(durability.outbox))
    item_id = _item(failing, "OD-TESTCRASH")
    with pytest.raises(RuntimeError):
        await failing.decide(item_id, INTERVENTION, by="officer.one")
    after = store.item(item_id)
    assert (after.status, after.decided_at_ms, after.onward_message_id) == ("received", None, None)
    assert durability.store.pending_count() == 0, "rolled back with the decision"
    assert [e.outcome for e in store.audit_trail(item_id=item_id)] == ["refused"]

    decided = await _desk(store, sealer, durability.outbox).decide(item_id, INTERVENTION, by="officer.one")
    assert decided.status == "triaged"
    assert [p.message_id for p in durability.store.pending(10)] == [decided.onward_message_id]


async def test_no_agreement_seals_nothing_records_nothing(world: tuple[WorkbenchStore, Durability]) -> None:
    store, durability = world
    desk = _desk(store, FakeSealer(DESK, refuse=True), durability.outbox)
    item_id = _item(desk, "OD-TESTNOAGREE")
    with pytest.raises(TriageInvalid) as refused:
        await desk.decide(item_id, INTERVENTION, by="officer.one")
    assert refused.value.code == NO_AGREEMENT
    assert (store.item(item_id).decided_at_ms, durability.store.pending_count()) == (None, 0)


async def test_no_further_action_records_the_decision_and_enqueues_nothing(
    world: tuple[WorkbenchStore, Durability],
) -> None:
    store, durability = world
    sealer = FakeSealer(DESK)
    desk = _desk(store, sealer, durability.outbox)
    item_id = _item(desk, "OD-TESTNFA")
    decided = await desk.decide(
        item_id, TriageDecision.parse("no-further-action", None, "Known to services already."), by="o.one"
    )
    assert (decided.status, decided.onward_message_id) == ("triaged", None)
    assert (sealer.sealed, durability.store.pending_count()) == ([], 0)


async def test_concurrent_decisions_give_exactly_one_onward_message(world: tuple[WorkbenchStore, Durability]) -> None:
    store, durability = world
    desk = _desk(store, FakeSealer(DESK), durability.outbox)
    item_id = _item(desk, "OD-TESTRACE2")
    outcomes = await asyncio.gather(
        *(desk.decide(item_id, INTERVENTION, by=f"officer.n{i}") for i in range(4)), return_exceptions=True
    )
    decided = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(decided) == 1
    assert all(isinstance(e, Conflict) and e.code == "triage.already_decided" for e in refused), refused
    assert [p.message_id for p in durability.store.pending(10)] == [decided[0].onward_message_id]


def test_the_running_connectors_outbox_is_found_when_it_shares_the_database(
    world: tuple[WorkbenchStore, Durability], tmp_path: Path
) -> None:
    store, durability = world
    sealer = FakeSealer(DESK)
    sealer.outbox = durability.outbox  # type: ignore[attr-defined]  # as Connector(outbox=...) in the runtime
    found = TriageDesk(me=DESK, store=store, sender=sealer, agencies=AGENCIES, may_send=may_send_from(DESK))
    assert found.outbox is durability.outbox
    elsewhere = WorkbenchStore(f"sqlite:///{tmp_path / 'other.sqlite3'}").create()
    try:
        plain = TriageDesk(me=DESK, store=elsewhere, sender=sealer, agencies=AGENCIES, may_send=may_send_from(DESK))
        assert plain.outbox is None, "another database cannot share a transaction: claim, send, record"
        with pytest.raises(ValueError, match="share its transactions"):
            _desk(elsewhere, sealer, durability.outbox)
    finally:
        elsewhere.close()
