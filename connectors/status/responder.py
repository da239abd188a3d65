"""The answering side of a status check: look up the agency's own index and reply to the requester.

A ``StatusResponder`` is a connector handler (give it to ``Connector.run`` or route
``onedoor.status.StatusCheck`` to it with a ``Dispatcher``). For each check it answers with a
``StatusReply`` sealed to the requester, even when nothing matched, so the requester can tell
"no record" from "no answer". The reply is decided under ``Action.QUERY``: the connector's
policy cuts it down to what the agreement lets this agency answer. For each matching record
the disclosure is logged and the owner notified (``on_checked``) once the reply is sealed (so
a refused reply discloses nothing), before it is published.

The index can be replaced while checks are answered (``replace_index``, the connector's status
refresh): each check looks it up once, so it is answered from one index, old or new, never a mix.

A check is ignored, with a reason logged (ids and codes, never identifiers or tokens), when it
is past its hard deadline, names another purpose, carries no tokens (an agreement that does
not let the requester send identity tokens to this agency) or malformed ones, or when the
policy lets this agency answer the requester nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from connectors.identity import Match
from connectors.sdk.connector import Connector, ReceivedMessage
from connectors.sdk.policy import SharingDenied
from connectors.status.disclosures import DisclosureLog
from connectors.status.index import StatusIndex, StatusRecord
from connectors.status.messages import (
    CONTRACT_VERSION,
    STATUS_CHECK,
    STATUS_REPLY,
    VICTIM_IDENTIFICATION,
    tokens_from_avro,
)
from consent.model import Action
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, CorrelationId, MessageId, Purpose
from onedoor.logging import get_logger

log = get_logger(__name__)

MIN_REPLY_TTL: Final = timedelta(seconds=1)


class Ignored(StrEnum):
    """Why a status check got no reply."""

    PAST_HARD_DEADLINE = "status.past_hard_deadline"
    WRONG_PURPOSE = "status.wrong_purpose"
    NO_TOKENS = "status.no_tokens"
    INVALID_TOKENS = "status.invalid_tokens"
    REPLY_DENIED = "status.reply_denied"
    """The policy lets this agency answer the requester nothing (``sharing.denied``)."""


@dataclass(frozen=True, slots=True)
class CheckNotice:
    """The owner notification: one of this agency's records was checked."""

    record_ref: str
    requester: AgencyId
    purpose: Purpose
    at: datetime
    message_id: MessageId
    """The status check's message id (the reply's correlation id)."""
    confidence: float
    fields: frozenset[str]
    """Field paths of the reply the requester was sent (what the agreement let through)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the responder did with one check."""

    replied: bool
    matches: int
    ignored: Ignored | None = None


OnChecked = Callable[[CheckNotice], Awaitable[None]]


class StatusResponder:
    """Answers status checks from the agency's ``StatusIndex``; a ``Connector`` handler."""

    def __init__(
        self,
        connector: Connector,
        index: StatusIndex,
        *,
        disclosures: DisclosureLog,
        on_checked: OnChecked | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Answer checks arriving at ``connector``.

        Args:
            connector: the agency's connector (with its sharing policy, to project the replies).
            index: the agency's status index.
            disclosures: where each disclosed record is logged.
            on_checked: called once per matching record (the owner notification).
            clock: seconds since the epoch (tests pin it).
        """
        self._connector = connector
        self.index = index
        self._disclosures = disclosures
        self._on_checked = on_checked
        self._clock = clock

    def replace_index(self, index: StatusIndex) -> None:
        """Answer later checks from ``index``; a check already being answered keeps the one it looked up."""
        self.index = index  # one reference swap: each check reads ``self.index`` once, so none sees a mix

    async def __call__(self, message: ReceivedMessage) -> None:
        """Answer ``message`` if it is a status check (``handle``); other messages are not the responder's."""
        if message.header.contract == STATUS_CHECK:
            await self.handle(message)

    async def handle(self, message: ReceivedMessage) -> Outcome:
        """Answer one status check, or ignore it with a reason."""
        header = message.header
        now_ms = int(self._clock() * 1000)
        hard = _millis(message.body.get("hard_deadline_at"))
        ignored = None
        if header.purpose != VICTIM_IDENTIFICATION:
            ignored = Ignored.WRONG_PURPOSE
        elif hard is not None and now_ms > hard:
            ignored = Ignored.PAST_HARD_DEADLINE
        elif not message.body.get("tokens"):
            ignored = Ignored.NO_TOKENS
        if ignored is not None:
            return self._ignore(message, ignored)
        try:
            query = tokens_from_avro(message.body["tokens"])
        except ValidationFailed:
            return self._ignore(message, Ignored.INVALID_TOKENS)
        found = self.index.lookup(query)
        body = reply_body(found, answered_at_ms=now_ms)
        ttl = MIN_REPLY_TTL if hard is None else max(MIN_REPLY_TTL, timedelta(milliseconds=hard - now_ms))
        try:
            sealed = self._connector.seal(
                contract=STATUS_REPLY,
                version=CONTRACT_VERSION,
                recipients=[header.sender],
                purpose=VICTIM_IDENTIFICATION,
                body=body,
                correlation_id=CorrelationId(header.message_id),
                ttl=ttl,
                action=Action.QUERY,
            )
        except SharingDenied:
            return self._ignore(message, Ignored.REPLY_DENIED)
        at = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        fields = sealed[0].fields if sealed else frozenset[str]()
        for record, scored in found:
            self._disclosures.record(
                record.record_reference, header.sender, VICTIM_IDENTIFICATION, at, header.message_id
            )
            if self._on_checked is not None:
                notice = CheckNotice(
                    record.record_reference,
                    header.sender,
                    VICTIM_IDENTIFICATION,
                    at,
                    header.message_id,
                    scored.confidence,
                    fields,
                )
                await self._notify(notice)
        for item in sealed:
            await self._connector.publish(item.header, item.value)
        log.info(
            "status.answered",
            message_id=header.message_id,
            requester=header.sender,
            matches=len(found),
            fields=len(fields),
        )
        return Outcome(replied=True, matches=len(found))

    async def _notify(self, notice: CheckNotice) -> None:
        assert self._on_checked is not None  # noqa: S101 - checked by the caller
        try:
            await self._on_checked(notice)
        except Exception as exc:  # noqa: BLE001 - the application's callback must not stop the reply
            # The disclosure log already has it; the requester still gets its answer.
            log.warning("status.notify_failed", message_id=notice.message_id, error=type(exc).__name__)

    def _ignore(self, message: ReceivedMessage, reason: Ignored) -> Outcome:
        log.warning(
            "status.check_ignored", message_id=message.header.message_id, requester=message.header.sender, reason=reason
        )
        return Outcome(replied=False, matches=0, ignored=reason)


def reply_body(found: list[tuple[StatusRecord, Match]], *, answered_at_ms: int) -> dict[str, Any]:
    """A full StatusReply body for the matches (best first); the connector projects it per agreement."""
    return {
        "answered_at": datetime.fromtimestamp(answered_at_ms / 1000, tz=UTC),
        "matches": [_match_item(record, scored) for record, scored in found],
    }


def _match_item(record: StatusRecord, scored: Match) -> dict[str, Any]:
    lead = record.lead_professional
    return {
        "record_reference": record.record_reference,
        "confidence": round(float(scored.confidence), 4),
        "agreed": list(scored.agreed),
        "flags": sorted(record.flags),
        "nrm_stage": str(record.nrm_stage),
        "missing_episodes_last_90_days": record.missing_episodes_last_90_days,
        "case_open": record.case_open,
        "lead_professional": None if lead is None else lead.to_avro(),
    }


def _millis(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int):
        return value
    return None
