"""The closed vocabularies of the agency registry, shared by tables, schemas and the directory."""

from __future__ import annotations

from enum import StrEnum


class AgencyKind(StrEnum):
    """What sort of organisation an agency is."""

    POLICE = "police"
    CHILDREN_SERVICES = "children-services"
    YOUTH_OFFENDING = "youth-offending"
    EDUCATION = "education"
    HEALTH = "health"
    CHARITY = "charity"
    TRIAGE = "triage"


class AgencyStatus(StrEnum):
    """Whether the hub routes to and from an agency."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class KeyUse(StrEnum):
    """What a public key is for."""

    SIGNING = "signing"
    ENCRYPTION = "encryption"

    @property
    def algorithm(self) -> KeyAlgorithm:
        """The one algorithm OneDoor accepts for this use."""
        return KeyAlgorithm.ED25519 if self is KeyUse.SIGNING else KeyAlgorithm.X25519


class KeyAlgorithm(StrEnum):
    """Public-key algorithms; raw 32-byte keys only."""

    ED25519 = "Ed25519"
    X25519 = "X25519"


class KeyStatus(StrEnum):
    """Where a key is in its life.

    ``current`` is the one to sign or encrypt with; ``retired`` still verifies and decrypts
    until ``not_after`` (messages in flight); ``revoked`` is never trusted again.
    """

    CURRENT = "current"
    RETIRED = "retired"
    REVOKED = "revoked"
