"""Why a message was delivered or refused, or an API request permitted or denied: audit rows, read back.

Pure: it takes the rows the service read (``AuditEntry`` values, oldest first) and who is asking,
and returns an ``Explanation``, or ``None`` when nothing the viewer may see was recorded, so the
API answers "not found" and "not yours" alike. Each routing row becomes one ``Decision`` per
recipient when the row's ``detail`` lists the engine's codes per recipient
(``<recipient>: <code>,<code>; ...``), else one for the row; each reason is its code and a
sentence for an agency admin (``hub.explain.sentences``).

An agency admin sees a routing row only if its agency sent it (``actor``) or is among its
``recipients``, and a recipient-report row also if its agency sent the refused message to the
reporter; a recipient that did not send the message sees only its own per-recipient reasons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

from hub.audit.service import AuditEntry
from hub.explain.sentences import sentence
from onedoor.ids import AgencyId

DELIVERED: Final = "route.delivered"
REJECTED: Final = "route.rejected"
REPORTED: Final = "route.reported"
"""A recipient's refusal, reported back through the hub (the router may write it so)."""
AUTHZ: Final = "api.authz"
ROUTE_KINDS: Final = frozenset({DELIVERED, REJECTED, REPORTED})
_REPORT_DETAIL = "refused by recipient "
"""How the router's ``route.rejected`` rows for a recipient's report begin their ``detail``."""
_FOR_ANOTHER = "the message was stopped by the reasons for another recipient"
_REQUEST_PART = "request_id="
_HIDDEN_AUTHZ_PARTS = (_REQUEST_PART, "token_id=")
_CODE = r"[a-z0-9_]+(?:\.[a-z0-9_]+)+"
_SEGMENT = re.compile(rf"(?P<recipient>{AgencyId.pattern.pattern}): (?P<codes>{_CODE}(?:,{_CODE})*)")

About = Literal["message", "request"]


class Verdict(StrEnum):
    """What was decided, as an admin would say it."""

    DELIVERED = "delivered"
    REJECTED = "rejected"
    """Refused by the hub's router."""
    REFUSED = "refused"
    """Refused by a recipient after delivery, and reported back."""
    PERMITTED = "permitted"
    DENIED = "denied"
    RECORDED = "recorded"
    """Any other kind of row."""


@dataclass(frozen=True, slots=True)
class Because:
    """One reason: its stable code and what it means."""

    code: str
    sentence: str


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision the hub recorded, for one recipient where the row said per recipient."""

    at: datetime
    kind: str
    verdict: Verdict
    actor: str | None
    """The sending agency, the reporting recipient, or the API caller (token subject)."""
    recipients: tuple[str, ...]
    agreement_id: str | None
    agreement_version: int | None
    contract: str | None
    contract_version: int | None
    route: str | None
    """For an API request: method, route template and target."""
    reason_code: str | None
    """The row's own code: the one that decided a rejection or denial."""
    reasons: tuple[Because, ...]
    note: str | None
    """The row's operator sentence, when it is not a list of codes."""

    def line(self) -> str:
        """One line: verdict, time, who, agreement, then each reason as code and sentence."""
        head = f"{self.verdict} {_stamp(self.at)} {self._who()}"
        if self.agreement_id:
            head += f" under {self.agreement_id}"
            if self.agreement_version is not None:
                head += f" v{self.agreement_version}"
        body = "; ".join(f"{r.code} — {r.sentence}" for r in self.reasons)
        if self.note:
            body = f"{body} ({self.note})" if body else self.note
        return f"{head}: {body}" if body else head

    def _who(self) -> str:
        if self.verdict is Verdict.REFUSED:
            return f"by {self.actor or 'an unknown recipient'} (recipient)"
        if self.kind in ROUTE_KINDS:
            return f"{self.actor or 'an unknown sender'} -> {','.join(self.recipients) or 'no recipient'}"
        if self.kind == AUTHZ:
            return f"{self.actor or 'an unidentified caller'} {self.route or ''}".rstrip()
        return f"{self.kind} by {self.actor or 'the hub'}"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Every decision recorded about one message or one API request that the viewer may see."""

    about: About
    id: str
    decisions: tuple[Decision, ...]

    def lines(self) -> list[str]:
        """One line per decision, oldest first."""
        return [d.line() for d in self.decisions]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks. ``agency`` and ``subject`` are ``None`` for a viewer who sees everything."""

    agency: AgencyId | None = None
    """An agency admin's agency: it sees the messages that agency sent or was sent."""
    subject: str | None = None
    """An agency admin's token subject: it sees only its own requests."""


EVERYONE: Final = Viewer()
"""An auditor or hub operator."""


def explain_message(message_id: str, rows: Sequence[AuditEntry], viewer: Viewer) -> Explanation | None:
    """Explain the routing rows about ``message_id`` that ``viewer`` may see; ``None`` if there are none."""
    ours = [r for r in rows if r.message_id == message_id and r.kind in ROUTE_KINDS]
    decisions: list[Decision] = []
    for row in ours:
        if viewer.agency is not None and not _sees_route(row, ours, viewer.agency):
            continue
        only = viewer.agency if viewer.agency is not None and row.actor != viewer.agency else None
        decisions.extend(_route_decisions(row, only))
    return Explanation("message", message_id, tuple(decisions)) if decisions else None


def explain_request(request_id: str, rows: Sequence[AuditEntry], viewer: Viewer) -> Explanation | None:
    """Explain the ``api.authz`` rows of request ``request_id`` that ``viewer`` may see; ``None`` if none."""
    decisions = [
        _authz_decision(row)
        for row in rows
        if row.kind == AUTHZ
        and request_id_of(row.detail) == request_id
        and (viewer.subject is None or row.actor == viewer.subject)
    ]
    return Explanation("request", request_id, tuple(decisions)) if decisions else None


def request_id_of(detail: str | None) -> str | None:
    """The ``request_id=`` an ``api.authz`` row's detail starts with, if any."""
    first = (detail or "").split("; ", 1)[0]
    return first.removeprefix(_REQUEST_PART) if first.startswith(_REQUEST_PART) else None


def is_report(row: AuditEntry) -> bool:
    """Whether the row records a recipient's refusal rather than the hub's own decision."""
    return row.kind == REPORTED or (row.kind == REJECTED and (row.detail or "").startswith(_REPORT_DETAIL))


def _recipients(row: AuditEntry) -> tuple[str, ...]:
    return tuple(r for r in (row.recipients or "").split(",") if r)


def _sees_route(row: AuditEntry, rows: Sequence[AuditEntry], agency: AgencyId) -> bool:
    if agency == row.actor or agency in _recipients(row):
        return True
    # The sender learns that a recipient it sent this message to refused it.
    return is_report(row) and any(
        other.kind == DELIVERED and other.actor == agency and row.actor in _recipients(other) for other in rows
    )


def _segments(detail: str | None) -> list[tuple[str, tuple[str, ...]]] | None:
    if not detail:
        return None
    found = []
    for part in detail.split("; "):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            return None
        found.append((match["recipient"], tuple(match["codes"].split(","))))
    return found


def _because(codes: Sequence[str]) -> tuple[Because, ...]:
    return tuple(Because(code, sentence(code)) for code in dict.fromkeys(codes))


def _route_decisions(row: AuditEntry, only: AgencyId | None) -> list[Decision]:
    """One decision per recipient segment of ``row`` (only ``only``'s, if given), else one for the row."""
    report = is_report(row)
    verdict = Verdict.REFUSED if report else Verdict.DELIVERED if row.kind == DELIVERED else Verdict.REJECTED
    segments = None if report else _segments(row.detail)

    def decision(recipients: tuple[str, ...], codes: Sequence[str], note: str | None) -> Decision:
        return Decision(
            at=_utc(row.at),
            kind=row.kind,
            verdict=verdict,
            actor=row.actor,
            recipients=recipients,
            agreement_id=row.agreement_id,
            agreement_version=row.agreement_version,
            contract=row.contract,
            contract_version=row.contract_version,
            route=None,
            reason_code=row.reason_code,
            reasons=_because(codes),
            note=note,
        )

    if segments is None:
        note = None if report else row.detail
        return [decision(_recipients(row), [row.reason_code] if row.reason_code else [], note)]
    decisions = []
    for recipient, codes in segments:
        if only is not None and recipient != only:
            continue
        lead, note = [], None
        # A rejection's deciding code leads any line that does not already name it.
        if row.reason_code and row.reason_code not in codes:
            lead = [row.reason_code]
            if any(row.reason_code in other for _, other in segments):
                note = _FOR_ANOTHER
        decisions.append(decision((recipient,), [*lead, *codes], note))
    if not decisions and only is not None:
        # Addressed to the viewer but not decided for it: it still learns why the message stopped.
        decisions.append(decision((only,), [row.reason_code] if row.reason_code else [], None))
    return decisions


def _authz_decision(row: AuditEntry) -> Decision:
    parts = (row.detail or "").split("; ")
    note = "; ".join(p for p in parts if p and not p.startswith(_HIDDEN_AUTHZ_PARTS)) or None
    return Decision(
        at=_utc(row.at),
        kind=row.kind,
        verdict=Verdict.PERMITTED if row.outcome == "permit" else Verdict.DENIED,
        actor=row.actor,
        recipients=(),
        agreement_id=None,
        agreement_version=None,
        contract=None,
        contract_version=None,
        route=row.source,
        reason_code=row.reason_code,
        reasons=_because([row.reason_code] if row.reason_code else []),
        note=note,
    )


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; the hub stores UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _stamp(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")
