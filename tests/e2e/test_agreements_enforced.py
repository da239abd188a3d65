"""Agreements and consent, enforced end to end over the real broker, by the real hub.

An agreement is proposed and approved by an admin of each party through the API; referrals flow
with exactly the fields it permits; the agreement is revoked and the next message is
dead-lettered with ``agreement.revoked``; under a new agreement the young person's consent is
withdrawn and the next message about them is dead-lettered with ``consent.withdrawn``, while a
message about somebody else still flows. The router's periodic refresh is a minute long, so
every change here reached it by push (the API's announcement on the policy topic).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.synthetic import referral
from consent.agreement import AgreementState
from consent.contract import TaggedContract
from consent.model import AccessLevel
from consent.subject import ConsentStatus
from contracts.catalog import bundled_contract
from hub.router.service import Router
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, ContractName, Purpose, SubjectToken
from tests.e2e.hub import DeadLetters, agreement_body, hub_settings, running_hub

pytestmark = pytest.mark.e2e

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
CHILD = SubjectToken("st1_FAKEe2eSubjectAlpha0001")
OTHER_CHILD = SubjectToken("st1_FAKEe2eSubjectBravo0002")


def _consent_at_router(router: Router, subject: SubjectToken) -> ConsentStatus | None:
    policy = router.tables.policy
    held = None if policy is None else policy.consent.get(subject)
    return None if held is None else held.status


async def test_agreement_then_revocation_then_withdrawn_consent(kafka_bootstrap: str, tmp_path: Path) -> None:
    police = AgencyKeyPair.generate(AgencyId("e2e-isa-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-isa-borough-csc"))
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        await hub.agree(agreement_body("isa-e2e-first", police.agency, council.agency, level="limited"))
        sender_policy, recipient_policy = await hub.policy(), await hub.policy()
        sender = await hub.connector(police, sender_policy)
        recipient = await hub.connector(council, recipient_policy, refresh_on_miss=True)
        async with sender, recipient, DeadLetters(kafka_bootstrap, hub.topics.dead_letter) as dead:
            body = referral(11)
            send = {"contract": REFERRAL, "version": 1, "recipients": [council.agency], "purpose": PURPOSE}

            # 1. In force: the council gets exactly what "limited" permits, nothing else.
            [first] = await sender.send(**send, body=body, subject_token=CHILD)
            [got] = await recipient.receive(count=1, timeout_s=30)
            assert got.header.message_id == first.message_id
            assert got.header.agreement == "isa-e2e-first"
            decision = recipient_policy.decide(
                sender=police.agency,
                recipient=council.agency,
                contract=TaggedContract.from_schema(bundled_contract(REFERRAL), 1),
                purpose=PURPOSE,
                at_ms=first.created_at_ms,
            )
            assert decision.permitted
            assert got.fields <= decision.allowed_fields
            assert got.fields, "positive control: something was shared"
            assert got.dropped_count == 0
            assert "child" not in got.body, "the child's identity is not in the limited set"
            assert got.body["concern_summary"] == body["concern_summary"]
            assert decision.allowed_classes <= AccessLevel.LIMITED.classes

            # 2. Revoked: the next message is dead-lettered; the sender's stale policy still named it.
            revoked = await hub.client.post("/agreements/isa-e2e-first/revoke", headers=hub.admin(police.agency))
            assert revoked.status_code == 200, revoked.text
            await hub.router_holds(
                lambda: hub.router_agreement("isa-e2e-first") is AgreementState.REVOKED, "the revocation"
            )
            [second] = await sender.send(**send, body=body, subject_token=CHILD)
            letter = await dead.wait_for(str(second.message_id))
            assert letter["od_reason"] == "agreement.revoked"
            assert await recipient.receive(count=1, timeout_s=1.5) == []

            # 3. A new agreement; then the young person withdraws consent.
            await hub.agree(agreement_body("isa-e2e-second", police.agency, council.agency, level="limited"))
            assert await sender_policy.refresh("http://hub", client=hub.client)
            # The council's connector is not told: it fetches the new policy when a message needs it.
            withdrawn = await hub.client.post(
                f"/consents/{CHILD}",
                json={"status": "withdrawn", "agency_id": str(council.agency), "recorded_by": "e2e-staff-0042"},
                headers=hub.admin(council.agency),
            )
            assert withdrawn.status_code == 201, withdrawn.text
            await hub.router_holds(
                lambda: _consent_at_router(hub.router, CHILD) is ConsentStatus.WITHDRAWN, "the withdrawal"
            )
            [third] = await sender.send(**send, body=body, subject_token=CHILD)
            [fourth] = await sender.send(**send, body=referral(12), subject_token=OTHER_CHILD)
            letter = await dead.wait_for(str(third.message_id))
            assert letter["od_reason"] == "consent.withdrawn"
            [got] = await recipient.receive(count=1, timeout_s=30)
            assert got.header.message_id == fourth.message_id, "somebody else's messages still flow"
            assert got.header.agreement == "isa-e2e-second"
            assert recipient.stats.refused == {}, "the new agreement was fetched, not the message refused"

        # 4. Every decision is in the audit trail, and explain says why in words.
        explained = await hub.client.get(f"/explain/messages/{second.message_id}", headers=hub.admin(police.agency))
        assert explained.status_code == 200, explained.text
        assert "agreement.revoked" in explained.text
        assert "revoked" in explained.text.lower()
        permitted = await hub.client.get(f"/explain/messages/{first.message_id}", headers=hub.admin(council.agency))
        assert permitted.status_code == 200, permitted.text
        assert "isa-e2e-first" in permitted.text
