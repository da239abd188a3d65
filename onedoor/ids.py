"""Identifiers as small validated types with one canonical text form.

Each is a ``str`` subclass so it serialises naturally (Avro, JSON, Kafka headers), but it
can only be made through ``parse`` (or the constructor, which validates), so a bare string
never passes for an agency or a message id by accident.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import ClassVar, Self

from onedoor.errors import ValidationFailed


class _Identifier(str):
    """A string that has passed its type's pattern."""

    __slots__ = ()
    pattern: ClassVar[re.Pattern[str]]
    kind: ClassVar[str]

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or not cls.pattern.fullmatch(value):
            raise ValidationFailed(f"{cls.kind}.invalid", f"not a valid {cls.kind}: {value!r:.80}")
        return super().__new__(cls, value)

    @classmethod
    def parse(cls, value: str) -> Self:
        """Validate ``value`` and return it as this identifier type."""
        return cls(value)


class AgencyId(_Identifier):
    """An agency's stable slug, e.g. ``met-police`` or ``lb-hackney-csc``."""

    __slots__ = ()
    pattern = re.compile(r"[a-z][a-z0-9-]{1,62}[a-z0-9]")
    kind = "agency_id"


class AgreementId(_Identifier):
    """An information-sharing agreement's stable slug, e.g. ``isa-met-hackney-county-lines``."""

    __slots__ = ()
    pattern = AgencyId.pattern
    kind = "agreement_id"


class GroupName(_Identifier):
    """A named group of agencies that can be a party or an actor, e.g. ``london-boroughs``."""

    __slots__ = ()
    pattern = AgencyId.pattern
    kind = "group"


class ContractName(_Identifier):
    """A data contract's dotted name, e.g. ``onedoor.referral.MasterReferral``."""

    __slots__ = ()
    pattern = re.compile(r"[a-z][a-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
    kind = "contract_name"


class Purpose(_Identifier):
    """A processing purpose code, e.g. ``safeguarding-referral``."""

    __slots__ = ()
    pattern = re.compile(r"[a-z][a-z0-9-]{1,62}")
    kind = "purpose"


class SubjectToken(_Identifier):
    """An opaque, keyed token standing for a young person; never a name."""

    __slots__ = ()
    pattern = re.compile(r"st1_[A-Za-z0-9_-]{16,86}")
    kind = "subject_token"


class KeyId(_Identifier):
    """A public key's fingerprint: ``k1_`` + 32 hex chars of SHA-256 over its raw bytes."""

    __slots__ = ()
    pattern = re.compile(r"k1_[0-9a-f]{32}")
    kind = "key_id"

    @classmethod
    def for_public_key(cls, raw: bytes) -> KeyId:
        """The id of a raw 32-byte public key (Ed25519 or X25519)."""
        return cls("k1_" + hashlib.sha256(raw).hexdigest()[:32])


class MessageId(_Identifier):
    """A message id: a lowercase UUID in its canonical 36-character form."""

    __slots__ = ()
    pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    kind = "message_id"

    @classmethod
    def new(cls) -> MessageId:
        """A fresh random (v4) message id."""
        return cls(str(uuid.uuid4()))


class CorrelationId(_Identifier):
    """Ties together every message of one conversation (a referral and its replies)."""

    __slots__ = ()
    pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
    kind = "correlation_id"

    @classmethod
    def new(cls) -> CorrelationId:
        """A fresh random correlation id."""
        return cls(str(uuid.uuid4()))


class TransferId(_Identifier):
    """A case transfer offer's id at the hub: a lowercase UUID in its canonical form."""

    __slots__ = ()
    pattern = MessageId.pattern
    kind = "transfer_id"

    @classmethod
    def new(cls) -> TransferId:
        """A fresh random (v4) transfer id."""
        return cls(str(uuid.uuid4()))
