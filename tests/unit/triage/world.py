"""A small synthetic federation for triage tests: a desk, services, a local authority; a fake sender.

Every person is obviously fake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.connector import ReceivedMessage
from connectors.triage.decision import AgencyInfo
from connectors.triage.desk import TriageDesk
from connectors.triage.referral import INTELLIGENCE_SHARING, SAFEGUARDING_REFERRAL
from connectors.workbench.store import WorkbenchStore
from onedoor.envelope.header import Header
from onedoor.ids import AgencyId, ContractName, CorrelationId, KeyId, MessageId, Purpose, SubjectToken

DESK = AgencyId("test-triage-desk")
CHARITY = AgencyId("test-outreach-charity")
NO_AGREEMENT = AgencyId("test-youth-club")
BOROUGH = AgencyId("lb-testborough-csc")
POLICE = AgencyId("test-county-police")
AGENCIES = {
    DESK: AgencyInfo(DESK, "Test One Front Door triage", "triage"),
    CHARITY: AgencyInfo(CHARITY, "Test Outreach Charity", "charity"),
    NO_AGREEMENT: AgencyInfo(NO_AGREEMENT, "Test Youth Club", "charity"),
    BOROUGH: AgencyInfo(BOROUGH, "Testborough Children's Services", "children-services"),
    POLICE: AgencyInfo(POLICE, "Test County Police", "police"),
}
ALLOWED = {
    (DESK, CHARITY, SAFEGUARDING_REFERRAL),
    (DESK, BOROUGH, INTELLIGENCE_SHARING),
    (POLICE, DESK, SAFEGUARDING_REFERRAL),
}


def may_send_from(sender: AgencyId) -> Any:
    """The agreements above, as ``plan``'s question."""

    def may_send(recipient: AgencyId, purpose: Purpose) -> bool:
        return (sender, recipient, purpose) in ALLOWED

    return may_send


def referral_json(**child: Any) -> dict[str, Any]:
    """A professional referral about an obviously fake child, as JSON."""
    return {
        "urgency": "SAME_DAY",
        "child": {"given_name": "Testy", "family_name": "McFakeface", "date_of_birth": "2010-03-14", **child},
        "concern_categories": ["COUNTY_LINES", "MISSING"],
        "concern_summary": "Seen at a station far from home with older men; missing twice this month.",
        "referrer": {"kind": "PROFESSIONAL", "name": "Officer Fakename", "agency_id": str(POLICE)},
        "consent": {"status": "NOT_SOUGHT_RISK_TO_CHILD", "lawful_basis": "DPA 2018 Sch.1 para 18"},
    }


@dataclass
class FakeSender:
    """Keeps what would have been sealed and sent."""

    me: AgencyId
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **message: Any) -> list[Header]:
        self.sent.append(message)
        now = int(time.time() * 1000)
        return [
            Header(
                message_id=MessageId.new(),
                contract=ContractName(str(message["contract"])),
                contract_version=message["version"],
                sender=self.me,
                sender_signing_key=KeyId("k1_" + "0" * 32),
                sender_encryption_key=KeyId("k1_" + "1" * 32),
                recipients=tuple(message["recipients"]),
                purpose=message["purpose"],
                subject_token=message.get("subject_token"),
                created_at_ms=now,
                expires_at_ms=now + 60_000,
                correlation_id=CorrelationId.new(),
                agreement=None,
            )
        ]


@dataclass
class FakeProgress:
    """Remembers every progress report."""

    reports: list[tuple[str, str]] = field(default_factory=list)

    async def report(self, reference: str, progress: Any) -> None:
        self.reports.append((reference, str(progress)))


def desk(store: WorkbenchStore, me: AgencyId = DESK, progress: FakeProgress | None = None) -> TriageDesk:
    """A desk over ``store`` with a fake sender."""
    return TriageDesk(
        me=me, store=store, sender=FakeSender(me), agencies=AGENCIES, may_send=may_send_from(me), progress=progress
    )


def received(
    contract: str,
    body: dict[str, Any],
    *,
    sender: AgencyId = POLICE,
    recipient: AgencyId = DESK,
    token: SubjectToken | None = None,
) -> ReceivedMessage:
    """A message as the connector hands it over after opening it."""
    now = int(time.time() * 1000)
    header = Header(
        message_id=MessageId.new(),
        contract=ContractName(contract),
        contract_version=1,
        sender=sender,
        sender_signing_key=KeyId("k1_" + "0" * 32),
        sender_encryption_key=KeyId("k1_" + "1" * 32),
        recipients=(recipient,),
        purpose=Purpose("safeguarding-referral"),
        subject_token=token,
        created_at_ms=now,
        expires_at_ms=now + 60_000,
        correlation_id=CorrelationId.new(),
    )
    return ReceivedMessage(header, body)
