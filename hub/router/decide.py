"""The routing decision for one envelope: a pure function of its bytes and the tables.

The hub cannot read bodies and does not verify Ed25519 signatures (recipients do, and
they also check that a data key is wrapped for them). It decodes only the header. It
authenticates the sender twice over: structurally (the sender named in the header must own
the outbound topic the record came from) and cryptographically (the hub MAC, keyed by the
sender's registered X25519 key). See docs/decisions/0002-hub-authenticates-by-mac.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.router.status import (
    STATUS_KINDS,
    STATUS_PURPOSE,
    Admission,
    StatusBook,
    StatusKind,
    StatusReason,
    StatusRefusal,
)
from hub.router.tables import RoutingTables
from onedoor.envelope import hubmac
from onedoor.envelope.reasons import Reason
from onedoor.envelope.window import MessageWindow
from onedoor.envelope.wire import MAC_SIZE, read_header
from onedoor.errors import ValidationFailed
from onedoor.ids import MessageId, SubjectToken


@dataclass(frozen=True, slots=True)
class Limits:
    """What the router enforces beyond the registry."""

    max_envelope_bytes: int
    max_ttl_ms: int
    clock_skew_ms: int


@dataclass(frozen=True, slots=True)
class Delivered:
    """Route the envelope, unchanged, to each recipient's inbox."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    contract: str
    contract_version: int
    correlation_id: str
    subject_token: str | None
    created_at_ms: int
    expires_at_ms: int
    purpose: str | None = None
    agreement_id: str | None = None
    """The agreement the header names; ``None`` only when the hub does not enforce agreements."""
    agreement_version: int | None = None
    detail: str | None = None
    """The engine's reason codes per recipient (``hub.router.policy.Verdict.detail``)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Send the envelope to the dead-letter topic with a reason; deliver it to nobody."""

    reason: StrEnum
    """A ``Reason`` of the envelope checks, or an agreement/consent code of ``hub.router.policy``."""
    detail: str
    """A short sentence for operators; never payload or key material."""
    sender: str | None
    """The outbound topic's owner (who sent it), when known."""
    message_id: str | None = None
    contract: str | None = None
    contract_version: int | None = None
    correlation_id: str | None = None
    recipients: tuple[str, ...] = ()
    expires_at_ms: int | None = None
    purpose: str | None = None
    agreement_id: str | None = None
    agreement_version: int | None = None
    subject_token: str | None = None


Decision = Delivered | Rejected


def _valid(pattern_owner: type[MessageId | SubjectToken], value: object) -> bool:
    return isinstance(value, str) and pattern_owner.pattern.fullmatch(value) is not None


def decide(  # noqa: PLR0911, PLR0912 - one flat checklist reads better than nested helpers
    value: bytes,
    *,
    owner: str | None,
    position: str,
    now_ms: int,
    tables: RoutingTables,
    replay: MessageWindow,
    limits: Limits,
    status: StatusBook | None = None,
) -> Decision:
    """Decide what happens to one record read from an agency's outbound topic.

    Args:
        value: the record's bytes, untrusted.
        owner: the agency that owns the outbound topic it was read from (None: not an agency topic).
        position: ``topic:partition:offset``, to tell redelivery from replay.
        now_ms: the current time in ms since the epoch.
        tables: the registry snapshot.
        replay: the message-id window; an admitted id is remembered.
        limits: size and time limits.
        status: outstanding status checks, rate limits and the enumeration watch; a delivered
            check or reply is recorded in it. ``None`` skips those checks (purpose binding of
            status envelopes still applies).
    """
    if len(value) > limits.max_envelope_bytes:
        return Rejected(Reason.TOO_LARGE, f"{len(value)} bytes > {limits.max_envelope_bytes}", owner)
    owner_entry = tables.agencies.get(owner) if owner else None
    if owner is None or owner_entry is None:
        return Rejected(Reason.SENDER_UNKNOWN, "outbound topic of an unregistered agency", owner)
    if not owner_entry.active:
        return Rejected(Reason.SENDER_SUSPENDED, "sending agency is suspended", owner)
    try:
        h = read_header(value)
    except ValidationFailed as exc:
        reason = Reason.UNSUPPORTED_FORMAT if exc.code == Reason.UNSUPPORTED_FORMAT else Reason.MALFORMED
        return Rejected(reason, exc.message, owner)
    sender: str = h["sender"]
    if sender != owner:
        return Rejected(Reason.SENDER_MISMATCH, "header sender is not the owner of the topic", owner)
    mac_key = tables.mac_key(sender, h["sender_encryption_key"])
    if mac_key is None or h["sender_signing_key"] not in owner_entry.signing_key_ids:
        return Rejected(Reason.SENDER_KEY_UNKNOWN, "sender key is not registered or no longer valid", owner)
    view = memoryview(value)
    if not hubmac.verify(mac_key, view[:-MAC_SIZE], view[-MAC_SIZE:]):
        # Checked before anything else in the header is believed: after this line it is authentic.
        return Rejected(Reason.TAMPERED, "hub MAC does not match: altered in transit or forged", owner)

    message_id: str = h["message_id"]
    contract: str = h["contract"]
    version: int = h["contract_version"]
    recipients: tuple[str, ...] = tuple(h["recipients"])
    expires_at: int = h["expires_at"]
    purpose: str = h["purpose"]
    agreement: str | None = h.get("agreement")
    token = h["subject_token"]

    def reject(reason: StrEnum, detail: str, agreement_version: int | None = None) -> Rejected:
        return Rejected(
            reason,
            detail,
            owner,
            message_id=message_id if _valid(MessageId, message_id) else None,
            contract=contract,
            contract_version=version,
            correlation_id=h["correlation_id"],
            recipients=recipients,
            expires_at_ms=expires_at,
            purpose=purpose[:64],
            agreement_id=agreement[:64] if agreement is not None else None,
            agreement_version=agreement_version,
            subject_token=token if _valid(SubjectToken, token) else None,
        )

    # The message id keys replay and audit, the subject token keys inboxes: both must be canonical.
    # Purpose and correlation id are only carried (recipients validate every header field).
    if not (_valid(MessageId, message_id) and (token is None or _valid(SubjectToken, token))):
        return reject(Reason.MALFORMED, "message id or subject token is not in its canonical form")
    if (contract, version) not in tables.contracts:
        if contract in tables.contract_names:
            return reject(Reason.CONTRACT_VERSION_UNKNOWN, f"{contract} v{version} is not registered")
        return reject(Reason.CONTRACT_UNKNOWN, f"{contract} is not a registered contract")
    if not recipients or len(set(recipients)) != len(recipients):
        return reject(Reason.RECIPIENT_UNKNOWN, "recipients must be a non-empty list without repeats")
    for recipient in recipients:
        entry = tables.agencies.get(recipient)
        if entry is None or not entry.active:
            return reject(Reason.RECIPIENT_UNKNOWN, f"recipient {recipient} is not a registered active agency")
    created_at: int = h["created_at"]
    if expires_at <= now_ms:
        return reject(Reason.EXPIRED, "envelope expired before it was routed")
    if created_at > now_ms + limits.clock_skew_ms:
        return reject(Reason.NOT_YET_VALID, "created_at is in the future beyond the allowed clock skew")
    if expires_at - created_at > limits.max_ttl_ms:
        return reject(Reason.TTL_TOO_LONG, "lifetime longer than the hub allows")
    # The one lookup a non-status envelope pays for (hub/router/status.py).
    status_kind = STATUS_KINDS.get(contract)
    if status_kind is not None and purpose != STATUS_PURPOSE:
        return reject(StatusReason.WRONG_PURPOSE, f"a status {status_kind} must carry purpose {STATUS_PURPOSE}")
    verdict = None
    if tables.policy is not None:
        verdict = tables.policy.check(
            sender=sender,
            recipients=recipients,
            contract=contract,
            version=version,
            purpose=purpose,
            agreement=agreement,
            subject_token=token,
            at_ms=now_ms,
        )
        if not verdict.permitted:
            return reject(verdict.code, verdict.detail, verdict.agreement_version)
    admitted: Admission | None = None
    if status_kind is not None and status is not None:
        screen = status.screen_check if status_kind is StatusKind.CHECK else status.screen_reply
        screened = screen(
            message_id=message_id,
            sender=sender,
            recipients=recipients,
            correlation_id=h["correlation_id"],
            created_at_ms=created_at,
            expires_at_ms=expires_at,
            now_ms=now_ms,
        )
        if isinstance(screened, StatusRefusal):
            return reject(screened.reason, screened.detail, None if verdict is None else verdict.agreement_version)
        admitted = screened
    if not replay.admit(message_id, position, expires_at):
        return reject(Reason.REPLAYED, "message id already routed from another position")
    if admitted is not None and status is not None:
        status.record(admitted, now_ms)  # only now: a refused envelope leaves no trace in the book
    return Delivered(
        message_id=message_id,
        sender=sender,
        recipients=recipients,
        contract=contract,
        contract_version=version,
        correlation_id=h["correlation_id"],
        subject_token=token,
        created_at_ms=created_at,
        expires_at_ms=expires_at,
        purpose=purpose,
        agreement_id=agreement,
        agreement_version=None if verdict is None else verdict.agreement_version,
        detail=None if verdict is None else verdict.detail,
    )
