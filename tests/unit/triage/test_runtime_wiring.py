"""The connector process wires its desk and workbench: referrals and alerts from the inbox land in the store."""

from __future__ import annotations

import datetime as dt

from connectors.agent.config import ConnectorConfig
from connectors.agent.runtime import running_connector
from connectors.triage.referral import ALERT, REFERRAL, parse_referral
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import MessageId
from tests.unit.agent.fakes import COUNCIL
from tests.unit.agent.test_runtime import FakeHub, world  # noqa: F401 - the fixture
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
