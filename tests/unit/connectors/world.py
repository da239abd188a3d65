"""Synthetic agencies, agreements and a policy document for connector tests. All data is obviously fake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.sdk import Connector
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.directory import AgencyPublicKeys, PublicDirectory
from connectors.sdk.policy import SharingPolicy
from consent.agreement import AgreementState
from contracts.catalog import bundled
from hub.agreements.schemas import AgreementBody
from hub.policy.schemas import PolicyAgency, PolicyAgreement, PolicyContract, PolicyDocument
from onedoor.envelope.keys import AgencyKeyPair, HubKey, RecipientKey
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.topics import TopicNames

REFERRAL = ContractName("onedoor.referral.MasterReferral")
PURPOSE = Purpose("safeguarding-referral")
POLICE = AgencyId("test-county-police")
COUNCIL = AgencyId("lb-testborough-csc")
CHARITY = AgencyId("fake-youth-charity")
YOT = AgencyId("fake-borough-yot")
STRANGER = AgencyId("fake-unrelated-agency")
KINDS = {
    POLICE: "police",
    COUNCIL: "children-services",
    CHARITY: "charity",
    YOT: "youth-offending",
    STRANGER: "charity",
}
CASEWORK = ["operational", "safeguarding", "contact", "identity", "demographic", "location"]
"""Every class but health and criminal intelligence: no Art. 9 / DPA condition needed."""


def agreement(agreement_id: str, parties: Sequence[AgencyId], **provision: Any) -> dict[str, Any]:
    """A referral agreement between ``parties`` with one permit provision (``access_level`` or ``classes``)."""
    return {
        "id": agreement_id,
        "title": "Synthetic test agreement",
        "parties": [f"agency:{p}" for p in parties],
        "contracts": [str(REFERRAL)],
        "purposes": [str(PURPOSE)],
        "provisions": [{"effect": "permit", **provision}],
        "lawful_basis": {"article6": "UK GDPR Art. 6(1)(e)", "statutes": ["Children Act 2004 s.11"]},
        "retention_days": 365,
        "review_date": "2099-01-01",
    }


FULL_TO_COUNCIL = agreement("isa-police-council", [POLICE, COUNCIL], classes=CASEWORK)
LIMITED_TO_COUNCIL = agreement("isa-police-council", [POLICE, COUNCIL], access_level="limited")
LIMITED_TO_PARTNERS = agreement("isa-police-partners", [POLICE, CHARITY, YOT], access_level="limited")


def document(*agreements: dict[str, Any], state: AgreementState = AgreementState.ACTIVE) -> PolicyDocument:
    """A policy document with these agreements (version 1, ``state``), the five agencies and the referral."""
    tags = {path: str(tag) for path, tag in bundled()[REFERRAL].tags.items()}
    return PolicyDocument.of(
        [PolicyAgreement(version=1, state=state, body=AgreementBody.model_validate(a)) for a in agreements],
        [PolicyAgency(id=a, kind=k) for a, k in sorted(KINDS.items())],
        [],
        [PolicyContract(name=str(REFERRAL), version=1, tags=tags)],
    )


class Agencies:
    """Keys for every synthetic agency and the directory listing them."""

    def __init__(self) -> None:
        self.hub = HubKey.generate()
        self.keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
        self.directory = PublicDirectory(
            agencies={
                a: AgencyPublicKeys(
                    agency=a,
                    active=True,
                    signing={k.signing_key_id: k.signing.public_key()},
                    encryption=RecipientKey.from_raw(a, k.encryption_public),
                )
                for a, k in self.keys.items()
            },
            hub_public=self.hub.public,
        )

    def connector(self, agency: AgencyId, policy: SharingPolicy | None) -> Connector:
        """A connector that is never started: ``seal`` and ``open`` need no broker."""
        return Connector(
            keys=self.keys[agency],
            directory=self.directory,
            codec=ContractCodecs.bundled(),
            bootstrap_servers="unused:9092",
            topics=TopicNames("unit"),
            policy=policy,
        )
