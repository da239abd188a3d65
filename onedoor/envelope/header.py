"""The routing header: the only part of a message the hub reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onedoor.ids import AgencyId, AgreementId, ContractName, CorrelationId, KeyId, MessageId, Purpose, SubjectToken


def to_millis(moment: datetime) -> int:
    """Milliseconds since the epoch (Avro timestamp-millis)."""
    return int(moment.timestamp() * 1000)


def from_millis(millis: int) -> datetime:
    """A UTC datetime from milliseconds since the epoch."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Header:
    """Routing metadata, in the clear, bound into the body's encryption as associated data."""

    message_id: MessageId
    """Unique per message; the replay and dedupe key."""
    contract: ContractName
    """Contract the body was written with."""
    contract_version: int
    """Registered version of that contract."""
    sender: AgencyId
    """Sending agency; must own the outbound topic the record arrived on."""
    sender_signing_key: KeyId
    """The sender's Ed25519 key that signed the envelope."""
    sender_encryption_key: KeyId
    """The sender's X25519 key that keyed the hub MAC."""
    recipients: tuple[AgencyId, ...]
    """Agencies the body is sealed to."""
    purpose: Purpose
    """Processing purpose the sender relies on."""
    subject_token: SubjectToken | None
    """Opaque keyed token for the young person; never a name."""
    created_at_ms: int
    """When it was sealed, ms since the epoch."""
    expires_at_ms: int
    """When it stops being deliverable, ms since the epoch."""
    correlation_id: CorrelationId
    """Ties together the messages of one conversation."""
    agreement: AgreementId | None = None
    """The sharing agreement the sender relies on; the hub refuses an envelope without one."""

    def to_avro(self) -> dict[str, Any]:
        """The header as the Avro ``Header`` record expects it."""
        return {
            "message_id": str(self.message_id),
            "contract": str(self.contract),
            "contract_version": self.contract_version,
            "sender": str(self.sender),
            "sender_signing_key": str(self.sender_signing_key),
            "sender_encryption_key": str(self.sender_encryption_key),
            "recipients": [str(r) for r in self.recipients],
            "purpose": str(self.purpose),
            "subject_token": None if self.subject_token is None else str(self.subject_token),
            "created_at": self.created_at_ms,
            "expires_at": self.expires_at_ms,
            "correlation_id": str(self.correlation_id),
            "agreement": None if self.agreement is None else str(self.agreement),
        }

    @classmethod
    def from_avro(cls, record: dict[str, Any]) -> Header:
        """Validate a decoded Avro ``Header`` record into typed identifiers.

        Raises:
            ValidationFailed: a field is not of its identifier's form.
        """
        token = record["subject_token"]
        agreement = record.get("agreement")
        return cls(
            message_id=MessageId(record["message_id"]),
            contract=ContractName(record["contract"]),
            contract_version=int(record["contract_version"]),
            sender=AgencyId(record["sender"]),
            sender_signing_key=KeyId(record["sender_signing_key"]),
            sender_encryption_key=KeyId(record["sender_encryption_key"]),
            recipients=tuple(AgencyId(r) for r in record["recipients"]),
            purpose=Purpose(record["purpose"]),
            subject_token=None if token is None else SubjectToken(token),
            created_at_ms=int(record["created_at"]),
            expires_at_ms=int(record["expires_at"]),
            correlation_id=CorrelationId(record["correlation_id"]),
            agreement=None if agreement is None else AgreementId(agreement),
        )

    @property
    def created_at(self) -> datetime:
        """``created_at_ms`` as a UTC datetime."""
        return from_millis(self.created_at_ms)

    @property
    def expires_at(self) -> datetime:
        """``expires_at_ms`` as a UTC datetime."""
        return from_millis(self.expires_at_ms)
