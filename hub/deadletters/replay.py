"""May this dead letter be replayed now? Decided with the router's own ``decide``, never a copy of it.

``judge`` is pure: given the dead letter's original bytes, where the router first read it,
why it was refused, and the CURRENT routing tables (registry, agreements, consent), it says

- ``Replayable``: ``decide`` would deliver it now (the cause is fixed);
- ``CauseNotFixed``: ``decide`` would refuse it again, for a reason that can still be fixed
  (an agency suspended, an agreement suspended, consent withdrawn, a contract not registered);
- ``NotReplayable``: it can never be delivered (tampered, malformed, expired, a duplicate, a
  recipient refused it after delivery, a status check whose seconds-long deadline has passed).

The replay window passed to ``decide`` is a fresh, empty one: the router's own window is
per process and not visible here. Duplicates are kept out in three other ways: the dead-letter
row's conditional claim (``deadletter.already_replayed``), the audit log (a message id the
router has delivered is ``deadletter.already_delivered``), and the router's window itself,
which refuses a second copy of an admitted id as ``envelope.replayed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hub.deadletters.wire import replayed_sender
from hub.router.decide import Delivered, Limits, decide
from hub.router.status import STATUS_KINDS
from hub.router.tables import RoutingTables
from onedoor.envelope.reasons import Reason
from onedoor.envelope.window import MessageWindow
from onedoor.kafka.plan import replay_topic
from onedoor.topics import TopicNames

PERMANENT: Final[frozenset[str]] = frozenset(
    {
        Reason.TOO_LARGE,
        Reason.MALFORMED,
        Reason.UNSUPPORTED_FORMAT,
        Reason.TAMPERED,
        Reason.EXPIRED,
        Reason.TTL_TOO_LONG,
        Reason.REPLAYED,
        Reason.KEYS_MISMATCH,
        Reason.NOT_ADDRESSED,
        Reason.DECRYPT_FAILED,
        Reason.SIGNATURE_INVALID,
        Reason.SENDER_MISMATCH,
        Reason.BODY_MALFORMED,
        Reason.RECIPIENT_KEY_UNKNOWN,
        Reason.NOT_ENTITLED,
        "agreement.revoked",  # revoked for good: the envelope names it and cannot be re-pointed
        "status.wrong_purpose",
        "status.rate_limited",
        "status.reply_unsolicited",
        "status.reply_late",
        "status.reply_duplicate",
    }
)
"""Reason codes whose cause no change to the registry, agreements or consent can fix."""

CHECK_POSITION: Final = "deadletter-replay-check"
"""The position ``decide`` is given for the check (the throwaway window never sees another)."""


@dataclass(frozen=True, slots=True)
class Replayable:
    """``decide`` would deliver it now."""

    decision: Delivered


@dataclass(frozen=True, slots=True)
class CauseNotFixed:
    """``decide`` would still refuse it, for a reason that can be fixed; ``reason`` is the current one."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class NotReplayable:
    """It can never be delivered; ``reason`` is the code that says why, ``why`` a short sentence."""

    reason: str
    why: str


ReplayVerdict = Replayable | CauseNotFixed | NotReplayable


def never_replayable(reason: str, *, reported: bool, contract: str | None, has_message_id: bool) -> str | None:
    """Why a dead letter can never be replayed, judged from its metadata alone; ``None`` if it might be."""
    if reported:
        return "its recipient refused it after delivery"
    if not has_message_id:
        return "it does not carry a valid message id"
    if reason in PERMANENT:
        return f"{reason} cannot be fixed by any change at the hub"
    if contract is not None and contract in STATUS_KINDS:
        return "a status check is only answerable for seconds"
    return None


def original_sender(source: str | None, headers: Iterable[tuple[str, bytes]], topics: TopicNames) -> str | None:
    """The agency whose outbound topic the envelope came from (via the replay topic: its header)."""
    topic = (source or "").rsplit(":", 2)[0]
    owner = topics.owner_of_outbound(topic)
    if owner is not None:
        return str(owner)
    if topic == replay_topic(topics):
        return replayed_sender(topic, headers, topics)
    return None


def judge(
    value: bytes,
    *,
    sender: str | None,
    original_reason: str,
    reported: bool,
    tables: RoutingTables,
    limits: Limits,
    now_ms: int,
) -> ReplayVerdict:
    """Decide a replay of ``value`` (the dead letter's original bytes) against the current tables."""
    if reported:
        return NotReplayable(original_reason, "its recipient refused it after delivery")
    if original_reason in PERMANENT:
        return NotReplayable(original_reason, f"{original_reason} cannot be fixed by any change at the hub")
    decision = decide(
        value,
        owner=sender,
        position=CHECK_POSITION,
        now_ms=now_ms,
        tables=tables,
        replay=MessageWindow(),
        limits=limits,
        status=None,
    )
    if isinstance(decision, Delivered):
        if decision.contract in STATUS_KINDS:
            return NotReplayable(original_reason, "a status check is only answerable for seconds")
        return Replayable(decision)
    reason = str(decision.reason.value)
    if reason in PERMANENT:
        return NotReplayable(reason, f"it would now be refused with {reason}, which cannot be fixed")
    return CauseNotFixed(reason, decision.detail)
