"""The life of one agreement version, as a pure state machine.

A version is proposed, collects one approval from an admin of each party agency, and becomes
active with the last one. An amendment is a new version: it supersedes a pending version at
once, and the version in force only when it becomes active itself. A version in force may be
suspended, revoked or expire. A suspended agreement comes back into force only through a new
version approved by every party (which may repeat the old content): one party alone cannot
lift a suspension. Revoked, superseded and expired versions never change again. Drafts are
not held by the hub: a draft is the JSON file its author edits.
"""

from __future__ import annotations

from collections.abc import Set
from enum import StrEnum
from typing import Final

from consent.agreement import AgreementState
from onedoor.errors import Conflict
from onedoor.ids import AgencyId

INVALID_TRANSITION: Final = "agreement.invalid_transition"
ALREADY_APPROVED: Final = "agreement.already_approved"


class VersionState(StrEnum):
    """Where one version of an agreement is. Only ``active`` permits anything."""

    PROPOSED = "proposed"
    """Waiting for an approval from every party agency."""
    ACTIVE = "active"
    """Approved by every party agency: the version in force."""
    SUSPENDED = "suspended"
    """In force but paused: nothing is shared until an amendment every party approved replaces it."""
    SUPERSEDED = "superseded"
    """Replaced by a later version (pending or in force); never changes again."""
    REVOKED = "revoked"
    """Ended by a party or the hub operator; never changes again."""
    EXPIRED = "expired"
    """Past the end of its validity period; never changes again."""

    @property
    def in_force(self) -> bool:
        """Whether this is the version the engine should be given (active or suspended)."""
        return self in {VersionState.ACTIVE, VersionState.SUSPENDED}

    @property
    def final(self) -> bool:
        """Whether no transition leaves this state."""
        return self in {VersionState.SUPERSEDED, VersionState.REVOKED, VersionState.EXPIRED}

    def engine_state(self) -> AgreementState:
        """The consent engine's state for this version (superseded versions are never given to it)."""
        if self is VersionState.SUPERSEDED:
            return AgreementState.REVOKED
        return AgreementState(self.value)


class Event(StrEnum):
    """What can happen to a version."""

    SUSPEND = "suspend"
    REVOKE = "revoke"
    EXPIRE = "expire"
    SUPERSEDE = "supersede"


_MOVES: Final[dict[tuple[VersionState, Event], VersionState]] = {
    (VersionState.ACTIVE, Event.SUSPEND): VersionState.SUSPENDED,
    (VersionState.PROPOSED, Event.REVOKE): VersionState.REVOKED,
    (VersionState.ACTIVE, Event.REVOKE): VersionState.REVOKED,
    (VersionState.SUSPENDED, Event.REVOKE): VersionState.REVOKED,
    (VersionState.ACTIVE, Event.EXPIRE): VersionState.EXPIRED,
    (VersionState.SUSPENDED, Event.EXPIRE): VersionState.EXPIRED,
    (VersionState.PROPOSED, Event.SUPERSEDE): VersionState.SUPERSEDED,
    (VersionState.ACTIVE, Event.SUPERSEDE): VersionState.SUPERSEDED,
    (VersionState.SUSPENDED, Event.SUPERSEDE): VersionState.SUPERSEDED,
}


def invalid_transition(message: str) -> Conflict:
    """A ``Conflict`` with ``agreement.invalid_transition``, to raise."""
    return Conflict(INVALID_TRANSITION, message)


def move(state: VersionState, event: Event) -> VersionState:
    """The state after ``event``.

    Raises:
        Conflict: ``agreement.invalid_transition`` when ``event`` cannot happen in ``state``.
    """
    after = _MOVES.get((state, event))
    if after is None:
        raise invalid_transition(f"a {state} version cannot {event}")
    return after


def approve(state: VersionState, agency: AgencyId, approved: Set[AgencyId], signatories: Set[AgencyId]) -> VersionState:
    """The state after ``agency`` approves: still proposed, or active when every signatory has approved.

    Raises:
        Conflict: ``agreement.invalid_transition`` unless the version is proposed and ``agency``
            is a signatory; ``agreement.already_approved`` when it approved this version before.
    """
    if state is not VersionState.PROPOSED:
        raise invalid_transition(f"only a proposed version can be approved; this one is {state}")
    if agency not in signatories:
        raise invalid_transition(f"{agency} is not a party to this version")
    if agency in approved:
        raise Conflict(ALREADY_APPROVED, f"{agency} has already approved this version")
    return VersionState.ACTIVE if set(signatories) <= {*approved, agency} else VersionState.PROPOSED
