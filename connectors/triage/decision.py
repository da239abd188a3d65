"""The triage decision: what a triage officer may decide about a referral, and what goes where as a result.

Pure: ``plan`` takes the decision, the referral's body, who the agencies are and a question
"may I send this purpose to that agency?" (the sharing policy), and returns a ``TriagePlan``:
the one onward message (or none), and the progress the public reporter may see. Expected
refusals raise ``TriageInvalid`` carrying the form field they are about, so the workbench
can show a GOV.UK error summary; nothing has been sent when one is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from connectors.triage.referral import INTELLIGENCE_SHARING, REFERRAL, SAFEGUARDING_REFERRAL
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, ContractName, Purpose

MAX_REASON: Final = 2000
KIND_REQUIRED: Final = "triage.kind_required"
SERVICE_REQUIRED: Final = "triage.service_required"
UNKNOWN_SERVICE: Final = "triage.unknown_service"
NOT_LOCAL_AUTHORITY: Final = "triage.not_local_authority"
NO_AGREEMENT: Final = "triage.no_agreement"
REASON_REQUIRED: Final = "triage.reason_required"
REASON_TOO_LONG: Final = "triage.reason_too_long"
CHILDREN_SERVICES: Final = "children-services"
TRIAGE: Final = "triage"


class DecisionKind(StrEnum):
    """The three outcomes of triage."""

    INTERVENTION = "intervention"
    """An intervention referral to a chosen service."""
    INTELLIGENCE = "intelligence"
    """Intelligence shared back to the child's local authority (a children's services agency)."""
    NO_FURTHER_ACTION = "no-further-action"
    """Nothing sent; the reason is required."""

    @property
    def label(self) -> str:
        """The outcome as the workbench shows it."""
        return _LABELS[self]


_LABELS: Final = {
    DecisionKind.INTERVENTION: "Intervention referral to a service",
    DecisionKind.INTELLIGENCE: "Intelligence shared with the local authority",
    DecisionKind.NO_FURTHER_ACTION: "No further action",
}


class Progress(StrEnum):
    """What a member of the public who referred may see (``POST /intake/referrals/{ref}/progress``)."""

    BEING_HANDLED = "being-handled"
    CLOSED = "closed"


class TriageInvalid(ValidationFailed):
    """A decision the desk cannot record; ``field`` is the form field it is about."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message)
        self.field = field


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    """One agency as the directory lists it."""

    id: AgencyId
    name: str
    """Its display name."""
    kind: str | None
    """``police``, ``children-services``, ``charity``, ``triage``...; ``None`` when not known."""


@dataclass(frozen=True, slots=True)
class TriageDecision:
    """What the officer chose."""

    kind: DecisionKind
    service: AgencyId | None = None
    """The recipient of an intervention referral or of the intelligence."""
    reason: str | None = None
    """Why (required for no further action; a note otherwise)."""

    @classmethod
    def parse(cls, kind: str | None, service: str | None = None, reason: str | None = None) -> TriageDecision:
        """From form or JSON input; blank strings are absent.

        Raises:
            TriageInvalid: ``triage.kind_required``, ``triage.unknown_service``, ``triage.reason_required``,
                ``triage.reason_too_long``.
        """
        try:
            chosen = DecisionKind((kind or "").strip())
        except ValueError:
            raise TriageInvalid(KIND_REQUIRED, "Select what should happen to this referral", "decision") from None
        note = (reason or "").strip() or None
        if note is not None and len(note) > MAX_REASON:
            raise TriageInvalid(REASON_TOO_LONG, f"The reason must be {MAX_REASON} characters or fewer", "reason")
        if chosen is DecisionKind.NO_FURTHER_ACTION and note is None:
            raise TriageInvalid(REASON_REQUIRED, "Enter the reason for no further action", "reason")
        target = (service or "").strip() or None
        if chosen is DecisionKind.NO_FURTHER_ACTION:
            target = None
        try:
            agency = None if target is None else AgencyId(target)
        except ValidationFailed:
            raise TriageInvalid(UNKNOWN_SERVICE, "Select a service from the list", "service") from None
        return cls(chosen, agency, note)


@dataclass(frozen=True, slots=True)
class Onward:
    """The one message a decision sends."""

    recipient: AgencyId
    purpose: Purpose
    contract: ContractName
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TriagePlan:
    """What recording a decision does."""

    decision: TriageDecision
    onward: Onward | None
    """``None`` for no further action."""
    progress: Progress
    """What the public reporter sees afterwards."""


MaySend = Callable[[AgencyId, Purpose], bool]
"""``(recipient, purpose) -> whether an agreement in force lets this desk send it a referral``."""


def plan(
    decision: TriageDecision,
    referral: Mapping[str, Any],
    *,
    me: AgencyId,
    agencies: Mapping[AgencyId, AgencyInfo],
    may_send: MaySend,
) -> TriagePlan:
    """Check ``decision`` against the directory and the agreements; the onward message it sends.

    Raises:
        TriageInvalid: ``triage.service_required``, ``triage.unknown_service``,
            ``triage.not_local_authority`` or ``triage.no_agreement`` (naming the service).
    """
    if decision.kind is DecisionKind.NO_FURTHER_ACTION:
        return TriagePlan(decision, None, Progress.CLOSED)
    intelligence = decision.kind is DecisionKind.INTELLIGENCE
    purpose = INTELLIGENCE_SHARING if intelligence else SAFEGUARDING_REFERRAL
    target = decision.service
    if target is None and intelligence:
        target = _only_local_authority(agencies, me, purpose, may_send)
    if target is None:
        what = "local authority" if intelligence else "service"
        raise TriageInvalid(SERVICE_REQUIRED, f"Select the {what} to send this referral to", "service")
    info = agencies.get(target)
    if info is None or target == me:
        raise TriageInvalid(UNKNOWN_SERVICE, f"{target} is not an agency in the directory", "service")
    if intelligence and info.kind != CHILDREN_SERVICES:
        raise TriageInvalid(
            NOT_LOCAL_AUTHORITY, f"{info.name} is not a local authority children's services agency", "service"
        )
    if not may_send(target, purpose):
        raise TriageInvalid(
            NO_AGREEMENT,
            f"No agreement lets this desk send a referral for {purpose} to {info.name} ({target}); nothing was sent",
            "service",
        )
    requested = "INTELLIGENCE_ONLY" if intelligence else "INTERVENTION"
    body = {**referral, "requested_service": requested}
    return TriagePlan(decision, Onward(target, purpose, REFERRAL, body), Progress.BEING_HANDLED)


def _only_local_authority(
    agencies: Mapping[AgencyId, AgencyInfo], me: AgencyId, purpose: Purpose, may_send: MaySend
) -> AgencyId | None:
    # With one local authority the desk may tell, there is nothing to choose.
    found = [a for a, info in agencies.items() if info.kind == CHILDREN_SERVICES and a != me and may_send(a, purpose)]
    return found[0] if len(found) == 1 else None


def service_options(agencies: Mapping[AgencyId, AgencyInfo], me: AgencyId) -> list[AgencyInfo]:
    """Agencies a referral may be routed to (every one but this desk and other desks), by name."""
    found = [info for a, info in agencies.items() if a != me and info.kind != TRIAGE]
    return sorted(found, key=lambda info: (info.name.lower(), str(info.id)))


def triage_desks(agencies: Mapping[AgencyId, AgencyInfo], me: AgencyId) -> list[AgencyId]:
    """The agencies holding the triage role, other than ``me``, in id order."""
    return sorted(a for a, info in agencies.items() if info.kind == TRIAGE and a != me)
