"""The synthetic federation a benchmark runs against: keys on disk, tables, sealed envelopes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from consent import (
    AccessLevel,
    Actor,
    Agreement,
    AgreementIndex,
    AgreementState,
    Article6,
    Catalog,
    ConsentState,
    LawfulBasis,
    Member,
    Provision,
    Statute,
    TaggedContract,
)
from contracts.catalog import bundled_contract
from hub.router.policy import RoutingPolicy
from hub.router.tables import AgencyEntry, RoutingTables
from onedoor.envelope import hubmac
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair, HubKey, RecipientKey
from onedoor.envelope.seal import seal
from onedoor.ids import AgencyId, AgreementId, ContractName, CorrelationId, MessageId, Purpose, SubjectToken
from onedoor.topics import TopicNames

CONTRACT = ContractName("onedoor.referral.MasterReferral")
SENDERS = (AgencyId("bench-county-police"), AgencyId("bench-outreach-charity"))
RECIPIENT = AgencyId("bench-borough-csc")
AGREEMENT = AgreementId("isa-bench-referrals")
BODY_BYTES = 1024
"""A master referral form is about 1 KiB once Avro-encoded."""
SUBJECTS = 500
"""Distinct young people the envelopes are about; a fifth have consent recorded as given."""


def _subject(index: int) -> SubjectToken:
    return SubjectToken(f"st1_BENCHsyntheticSubject{index % SUBJECTS:05d}")


def policy() -> RoutingPolicy:
    """One active agreement between the senders and the recipient, and consent records for some subjects."""
    members = [Member(SENDERS[0], "police"), Member(SENDERS[1], "charity"), Member(RECIPIENT, "children-services")]
    catalog = Catalog.of(members, [TaggedContract.from_schema(bundled_contract(CONTRACT), 1)])
    agreement = Agreement(
        id=AGREEMENT,
        version=1,
        state=AgreementState.ACTIVE,
        parties=frozenset(Actor.agency(a) for a in (*SENDERS, RECIPIENT)),
        contracts=frozenset({CONTRACT}),
        purposes=frozenset({Purpose("safeguarding-referral")}),
        provisions=(Provision.permit(recipients=Actor.agency(RECIPIENT), classes=AccessLevel.LIMITED),),
        lawful_basis=LawfulBasis(Article6.PUBLIC_TASK, statutes=frozenset({Statute.CHILDREN_ACT_2004_S11})),
        retention=timedelta(days=365),
        review_date=date.today() + timedelta(days=365),
    )
    given = datetime.now(UTC) - timedelta(days=30)
    consent = {str(_subject(i)): ConsentState.given(given, "bench-staff-1") for i in range(0, SUBJECTS, 5)}
    return RoutingPolicy(index=AgreementIndex.build([agreement], catalog), consent=consent)


@dataclass(frozen=True)
class Federation:
    """Two senders, one recipient, a hub key; everything a worker process needs, on disk."""

    root: Path
    topics: TopicNames

    @classmethod
    def create(cls, root: Path, prefix: str) -> Federation:
        """Generate keys under ``root``."""
        HubKey.load_or_create(root / "hub-key.pem")
        for agency in (*SENDERS, RECIPIENT):
            AgencyKeyPair.generate(agency).save(root / agency)
        (root / "prefix").write_text(prefix)
        return cls(root, TopicNames(prefix))

    @classmethod
    def load(cls, root: Path) -> Federation:
        """Open a federation made by ``create``."""
        return cls(root, TopicNames((root / "prefix").read_text()))

    def keys(self, agency: AgencyId) -> AgencyKeyPair:
        """An agency's private keys."""
        return AgencyKeyPair.load(agency, self.root / agency)

    def hub_key(self) -> HubKey:
        """The hub's MAC key."""
        return HubKey.load_or_create(self.root / "hub-key.pem")

    def tables(self, *, enforce: bool = True) -> RoutingTables:
        """The routing tables the hub would load: registry, and (``enforce``) agreements and consent."""
        agencies = {}
        for agency in (*SENDERS, RECIPIENT):
            keys = self.keys(agency)
            agencies[str(agency)] = AgencyEntry(
                active=True,
                signing_key_ids=frozenset({str(keys.signing_key_id)}),
                encryption_keys={str(keys.encryption_key_id): keys.encryption_public},
            )
        return RoutingTables(
            agencies=agencies,
            contracts=frozenset({(str(CONTRACT), 1)}),
            hub_key=self.hub_key(),
            policy=policy() if enforce else None,
        )


class Sealer:
    """Seals synthetic referral envelopes from the senders to the recipient."""

    def __init__(self, federation: Federation) -> None:
        hub_public = federation.hub_key().public
        self.senders = [federation.keys(a) for a in SENDERS]
        self.mac_keys = [hubmac.sender_mac_key(k.encryption, k.encryption_public, hub_public) for k in self.senders]
        recipient = federation.keys(RECIPIENT)
        self.recipient = RecipientKey.from_raw(RECIPIENT, recipient.encryption_public)
        self.recipient_keys = recipient
        self.body = json.dumps({"synthetic": "x" * BODY_BYTES})[:BODY_BYTES].encode()

    def header(self, index: int, ttl_ms: int = 3_600_000) -> Header:
        """A fresh header from sender ``index % 2``."""
        sender = self.senders[index % 2]
        now = int(time.time() * 1000)
        return Header(
            message_id=MessageId.new(),
            contract=CONTRACT,
            contract_version=1,
            sender=sender.agency,
            sender_signing_key=sender.signing_key_id,
            sender_encryption_key=sender.encryption_key_id,
            recipients=(RECIPIENT,),
            purpose=Purpose("safeguarding-referral"),
            subject_token=_subject(index),
            created_at_ms=now,
            expires_at_ms=now + ttl_ms,
            correlation_id=CorrelationId.new(),
            agreement=AGREEMENT,
        )

    def seal(self, index: int) -> tuple[str, str, bytes]:
        """(outbound topic owner, message id, envelope bytes) for envelope ``index``."""
        header = self.header(index)
        sender = self.senders[index % 2]
        value = seal(
            header=header,
            body=self.body,
            sender=sender,
            recipients=[self.recipient],
            hub_mac_key=self.mac_keys[index % 2],
        )
        return str(sender.agency), str(header.message_id), value
