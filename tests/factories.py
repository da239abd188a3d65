"""Synthetic agencies, keys and envelopes for tests. All data is obviously fake."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.sdk.directory import AgencyPublicKeys, PublicDirectory
from hub.router.tables import AgencyEntry, RoutingTables
from onedoor.envelope import hubmac
from onedoor.envelope.header import Header
from onedoor.envelope.keys import AgencyKeyPair, HubKey, RecipientKey
from onedoor.envelope.seal import SIGNATURE_DOMAIN, seal
from onedoor.envelope.wire import TRAILER_SIZE
from onedoor.ids import AgencyId, AgreementId, ContractName, CorrelationId, MessageId, Purpose, SubjectToken

REFERRAL = ContractName("onedoor.referral.MasterReferral")
SENTINEL = "ZZ-SENTINEL-Fakename-Testchild-7Q"
SUBJECT = "st1_FAKEtokenForTestsOnly00"
"""The young person every factory envelope is about (an obviously fake subject token)."""


@dataclass
class World:
    """Three synthetic agencies and a hub key."""

    hub: HubKey
    police: AgencyKeyPair
    council: AgencyKeyPair
    charity: AgencyKeyPair

    @classmethod
    def make(cls) -> World:
        return cls(
            hub=HubKey.generate(),
            police=AgencyKeyPair.generate(AgencyId("test-county-police")),
            council=AgencyKeyPair.generate(AgencyId("lb-testborough-csc")),
            charity=AgencyKeyPair.generate(AgencyId("fake-youth-charity")),
        )

    @property
    def agencies(self) -> list[AgencyKeyPair]:
        return [self.police, self.council, self.charity]

    def recipient(self, keys: AgencyKeyPair) -> RecipientKey:
        return RecipientKey.from_raw(keys.agency, keys.encryption_public)

    def tables(self, contracts: frozenset[tuple[str, int]] | None = None) -> RoutingTables:
        return RoutingTables(
            agencies={
                str(k.agency): AgencyEntry(
                    active=True,
                    signing_key_ids=frozenset({str(k.signing_key_id)}),
                    encryption_keys={str(k.encryption_key_id): k.encryption_public},
                )
                for k in self.agencies
            },
            contracts=contracts if contracts is not None else frozenset({(str(REFERRAL), 1)}),
            hub_key=self.hub,
        )

    def directory(self) -> PublicDirectory:
        """What connectors would fetch from the hub's ``GET /directory``."""
        return PublicDirectory(
            agencies={
                k.agency: AgencyPublicKeys(
                    agency=k.agency,
                    active=True,
                    signing={k.signing_key_id: k.signing.public_key()},
                    encryption=self.recipient(k),
                )
                for k in self.agencies
            },
            hub_public=self.hub.public,
        )

    def header(
        self,
        sender: AgencyKeyPair,
        recipients: list[AgencyKeyPair],
        *,
        ttl_ms: int = 60_000,
        created_ms: int | None = None,
        contract: ContractName = REFERRAL,
        version: int = 1,
        agreement: str | None = None,
        subject_token: str | None = SUBJECT,
    ) -> Header:
        now = int(time.time() * 1000) if created_ms is None else created_ms
        return Header(
            message_id=MessageId.new(),
            contract=contract,
            contract_version=version,
            sender=sender.agency,
            sender_signing_key=sender.signing_key_id,
            sender_encryption_key=sender.encryption_key_id,
            recipients=tuple(r.agency for r in recipients),
            purpose=Purpose("safeguarding-referral"),
            subject_token=None if subject_token is None else SubjectToken(subject_token),
            created_at_ms=now,
            expires_at_ms=now + ttl_ms,
            correlation_id=CorrelationId.new(),
            agreement=None if agreement is None else AgreementId(agreement),
        )

    def seal(
        self,
        sender: AgencyKeyPair,
        recipients: list[AgencyKeyPair],
        body: bytes = SENTINEL.encode(),
        header: Header | None = None,
        **header_kwargs: object,
    ) -> bytes:
        h = header or self.header(sender, recipients, **header_kwargs)  # type: ignore[arg-type]
        return seal(
            header=h,
            body=body,
            sender=sender,
            recipients=[self.recipient(r) for r in recipients],
            hub_mac_key=self.mac_key(sender),
        )

    def mac_key(self, sender: AgencyKeyPair) -> bytes:
        return hubmac.sender_mac_key(sender.encryption, sender.encryption_public, self.hub.public)

    def resign(self, value: bytes, sender: AgencyKeyPair, signing: Ed25519PrivateKey) -> bytes:
        """The same envelope signed with ``signing`` instead, and MACed afresh: only the signature is wrong."""
        unsigned = value[:-TRAILER_SIZE]
        signed = unsigned + signing.sign(SIGNATURE_DOMAIN + unsigned)
        return signed + hubmac.compute(self.mac_key(sender), signed)


def with_header(header: Header, **changes: object) -> Header:
    """A copy of ``header`` with fields changed."""
    return replace(header, **changes)  # type: ignore[arg-type]
