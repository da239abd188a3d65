"""Why an envelope was refused: one catalogue of stable codes for the hub and connectors.

These codes appear in dead letters, audit records, metrics and API errors. Never rename one;
add a new one instead.
"""

from __future__ import annotations

from enum import StrEnum

from onedoor.errors import Category, OneDoorError


class Reason(StrEnum):
    """Stable reason codes for a refused envelope."""

    TOO_LARGE = "envelope.too_large"
    MALFORMED = "envelope.malformed"
    UNSUPPORTED_FORMAT = "envelope.unsupported_format"
    TAMPERED = "envelope.tampered"
    EXPIRED = "envelope.expired"
    NOT_YET_VALID = "envelope.not_yet_valid"
    TTL_TOO_LONG = "envelope.ttl_too_long"
    REPLAYED = "envelope.replayed"
    KEYS_MISMATCH = "envelope.keys_mismatch"
    NOT_ADDRESSED = "envelope.not_addressed_to_me"
    DECRYPT_FAILED = "envelope.decrypt_failed"
    SIGNATURE_INVALID = "signature.invalid"
    SENDER_UNKNOWN = "sender.unknown"
    SENDER_MISMATCH = "sender.mismatch"
    SENDER_SUSPENDED = "sender.suspended"
    SENDER_KEY_UNKNOWN = "sender.key_unknown"
    RECIPIENT_UNKNOWN = "recipient.unknown"
    CONTRACT_UNKNOWN = "contract.unknown"
    CONTRACT_VERSION_UNKNOWN = "contract.version_unknown"
    BODY_MALFORMED = "contract.malformed_body"
    RECIPIENT_KEY_UNKNOWN = "recipient.key_unknown"
    NOT_ENTITLED = "agreement.not_entitled"
    """The recipient's connector found no agreement entitling it to the message (it decides again)."""


class EnvelopeRejected(OneDoorError):
    """An envelope failed a check; ``reason`` says which."""

    category = Category.SECURITY
    http_status = 422

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(reason.value, message)
        self.reason = reason
