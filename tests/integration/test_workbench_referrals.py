"""Professional referrals through connectors, over the real broker and a real hub (API and router):

a police force's system posts a MasterReferral to its connector's ``POST /referrals``; it lands,
decrypted, in the triage desk's inbox (workbench store); the desk shares it as intelligence with
the local authority, whose inbox then holds it; an intervention to a charity with no agreement
is refused with ``triage.no_agreement`` and nothing reaches the charity.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from connectors.agent.api import create_app
from connectors.agent.runtime import ConnectorProcess, running_connector
from connectors.triage.decision import TriageDecision, TriageInvalid
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.e2e.hub import agreement_body, connector_config, eventually, hub_settings, running_hub
from tests.unit.triage.world import FakeProgress, referral_json

pytestmark = pytest.mark.integration

POLICE = AgencyId("it-county-police")
DESK = AgencyId("it-triage-desk")
BOROUGH = AgencyId("lb-it-borough-csc")
CHARITY = AgencyId("it-outreach-charity")
KINDS = {POLICE: "police", DESK: "triage", BOROUGH: "children-services", CHARITY: "charity"}
TOKEN = "integration-token-" + "y" * 32


async def test_a_professional_referral_reaches_triage_and_goes_on_under_the_agreements(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        for agency, kind in KINDS.items():
            await hub.register(keys[agency], kind)
        await hub.agree(agreement_body("isa-it-police-desk", POLICE, DESK, level="full"))
        intelligence = agreement_body("isa-it-desk-borough", DESK, BOROUGH, level="full")
        intelligence["purposes"] = ["intelligence-sharing"]
        await hub.agree(intelligence)
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
            police_api = create_app(processes[POLICE].config, processes[POLICE])
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=police_api), base_url="http://police-connector"
            ) as police:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                nameless = await police.post(
                    "/referrals", headers=auth, json=referral_json(given_name="", family_name="")
                )
                assert (nameless.status_code, nameless.json()["code"]) == (422, "referral.no_identifier")
                bad = await police.post("/referrals", headers=auth, json=referral_json(date_of_birth="14/03/2010"))
                assert (bad.status_code, bad.json()["code"]) == (422, "referral.invalid")
                assert "child.date_of_birth" in bad.json()["message"]

                sent = await police.post("/referrals", headers=auth, json=referral_json())
                assert sent.status_code == 202, sent.text
                assert sent.json()["recipient"] == DESK

            desk = processes[DESK].desk
            assert desk.outbox is not None, "decisions and onward messages share the workbench database's transaction"
            [item] = await eventually(desk.store.items, "the referral in the triage inbox")
            assert (item.source, item.sender, item.title) == ("professional", POLICE, "Testy McFakeface")
            assert item.message_id == sent.json()["message_id"]

            with pytest.raises(TriageInvalid) as refused:
                await desk.decide(item.item_id, TriageDecision.parse("intervention", str(CHARITY)), by="officer")
            assert refused.value.code == "triage.no_agreement"
            assert str(CHARITY) in refused.value.message

            decided = await desk.decide(item.item_id, TriageDecision.parse("intelligence"), by="officer")
            assert decided.decision_target == BOROUGH
            borough = processes[BOROUGH].desk.store
            [shared] = await eventually(borough.items, "the intelligence at the local authority")
            assert (shared.sender, shared.title) == (DESK, "Testy McFakeface")
            assert shared.body["requested_service"] == "INTELLIGENCE_ONLY"
            await asyncio.sleep(0.5)
            assert processes[CHARITY].desk.store.items() == [], "nothing reached the charity"
