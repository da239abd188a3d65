"""The connector process wires its desk and workbench: what its inbox receives lands in the store.

Referrals, alerts, case-transfer messages, and messages of contracts nothing routes.
"""

from __future__ import annotations

import datetime as dt

from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import running_connector
from connectors.casework.transfers import HANDOVER_PACK, TRANSFER_COMPLETED, TRANSFER_OFFER
from connectors.triage.referral import ALERT, REFERRAL, parse_referral
from connectors.triage.transfers import HANDOVER_KIND, TRANSFER_DONE_KIND, TRANSFER_OFFER_KIND, UNROUTED
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import MessageId
from tests.unit.agent.fakes import COUNCIL
from tests.unit.agent.test_runtime import FakeHub, world  # noqa: F401 - the fixture
from tests.unit.triage.transfer_bodies import CHILD_TOKEN, completed_body, handover_body, offer_body
from tests.unit.triage.world import received, referral_json


async def test_referrals_and_alerts_from_the_inbox_reach_the_workbench_store(
    world: tuple[ConnectorConfig, FakeHub, AgencyKeyPair],  # noqa: F811 - the imported fixture
) -> None:
    settings, hub, _ = world
    async with hub.client() as client, running_connector(settings, bootstrap="fake:9092", client=client) as process:
        await process.dispatcher(received(str(REFERRAL), parse_referral(referral_json()), recipient=COUNCIL))
        at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        alert = {
            "alert_id": str(MessageId.new()),
            "kind": "ARREST",
            "subject_token": "st1_" + "Q" * 43,
            "occurred_at": at,
            "reported_at": at,
        }
        await process.dispatcher(received(str(ALERT), alert, recipient=COUNCIL))
        assert sorted(i.kind for i in process.desk.store.items()) == ["alert", "referral"]
        assert process.workbench is not None
        assert process.intake is None, "no intake key: not reading public referrals"
        assert not process.desk.is_triage
    assert (settings.data_directory / "workbench.sqlite3").exists()
    assert (settings.data_directory / "workbench.secret").stat().st_mode & 0o777 == 0o600


async def test_transfer_messages_and_unrouted_contracts_reach_the_workbench_store_not_the_floor(
    world: tuple[ConnectorConfig, FakeHub, AgencyKeyPair],  # noqa: F811 - the imported fixture
) -> None:
    settings, hub, _ = world
    async with hub.client() as client, running_connector(settings, bootstrap="fake:9092", client=client) as process:
        offer = received(str(TRANSFER_OFFER), offer_body(), recipient=COUNCIL)
        await process.dispatcher(offer)
        await process.dispatcher(offer)
        await process.dispatcher(received(str(HANDOVER_PACK), handover_body(), recipient=COUNCIL))
        await process.dispatcher(received(str(TRANSFER_COMPLETED), completed_body("CANDIDATE"), recipient=COUNCIL))
        await process.dispatcher(received("onedoor.test.SomethingNew", {"note": "not kept"}, recipient=COUNCIL))
        items = {i.kind: i for i in process.desk.store.items()}
        assert sorted(items) == sorted([TRANSFER_OFFER_KIND, HANDOVER_KIND, TRANSFER_DONE_KIND, UNROUTED])
        assert items[UNROUTED].body == {"contract": "onedoor.test.SomethingNew", "contract_version": 1}
        assert items[HANDOVER_KIND].subject_token == CHILD_TOKEN
