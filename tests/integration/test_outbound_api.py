"""``POST /outbound`` on a running connector, over the real broker and a real hub (API and router).

A police force's case system posts a MasterReferral to its connector's ``/outbound`` twice with
the same ``Idempotency-Key`` (a retry after a lost answer): the council's connector receives it,
decrypted, exactly once. A recipient with no agreement is refused (``sharing.denied``) and one
the hub does not know is a 422 naming ``recipients[0]``; nothing reaches anyone.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.agent.api import create_app
from connectors.agent.runtime import ConnectorProcess, running_connector
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.e2e.hub import agreement_body, connector_config, eventually, hub_settings, running_hub
from tests.unit.triage.world import FakeProgress, referral_json

pytestmark = pytest.mark.integration

POLICE = AgencyId("it-out-county-police")
BOROUGH = AgencyId("lb-it-out-borough-csc")
CHARITY = AgencyId("it-out-youth-charity")
KINDS = {POLICE: "police", BOROUGH: "children-services", CHARITY: "charity"}
TOKEN = "outbound-token-" + "z" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _request(recipients: list[str]) -> dict[str, Any]:
    return {
        "contract": "onedoor.referral.MasterReferral",
        "version": 1,
        "recipients": recipients,
        "purpose": "safeguarding-referral",
        "body": referral_json(),
    }


async def test_an_agency_system_sends_through_post_outbound_once_despite_a_retry(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        for agency, kind in KINDS.items():
            await hub.register(keys[agency], kind)
        await hub.agree(agreement_body("isa-it-out-police-borough", POLICE, BOROUGH, level="full"))
        await asyncio.sleep(0.5)  # the router's reload after the last approval

        processes: dict[AgencyId, ConnectorProcess] = {}
        async with AsyncExitStack() as stack:
            for agency in KINDS:
                processes[agency] = await stack.enter_async_context(
                    running_connector(
                        connector_config(tmp_path / "connectors", keys[agency], hub, token=TOKEN),
                        bootstrap=kafka_bootstrap,
                        client=hub.client,
                        progress=FakeProgress(),
                    )
                )
            api = create_app(processes[POLICE].config, processes[POLICE])
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://police") as police:
                unknown = await police.post("/outbound", headers=AUTH, json=_request(["it-out-nobody"]))
                assert (unknown.status_code, unknown.json()["code"]) == (422, "outbound.recipient_unknown")
                assert "recipients[0]" in unknown.json()["message"]
                denied = await police.post("/outbound", headers=AUTH, json=_request([str(CHARITY)]))
                assert (denied.status_code, denied.json()["code"]) == (403, "sharing.denied")

                retry = {**AUTH, "Idempotency-Key": "police-case-system-4711"}
                first = await police.post("/outbound", headers=retry, json=_request([str(BOROUGH)]))
                assert first.status_code == 202, first.text
                again = await police.post("/outbound", headers=retry, json=_request([str(BOROUGH)]))
                assert (again.status_code, again.json()["replayed"]) == (202, True)
                assert again.json()["envelopes"] == first.json()["envelopes"]

            [envelope] = first.json()["envelopes"]
            borough = processes[BOROUGH].desk.store
            [item] = await eventually(borough.items, "the referral in the council's inbox")
            assert (item.sender, item.title, item.message_id) == (POLICE, "Testy McFakeface", envelope["message_id"])
            await asyncio.sleep(1.0)  # time enough for a second copy, were one sent
            assert len(borough.items()) == 1
            assert processes[CHARITY].desk.store.items() == []
