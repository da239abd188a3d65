"""Case transfer logic: offer to candidates, accept atomically (moving the network), withdraw.

Like ``hub.network.service``, each function works in the caller's transaction and returns an
``Outcome``; every decision appends one ``transfer.*`` audit row (tokens and agency ids only).

On acceptance the network moves with the child, in the same transaction: the acceptor becomes
the lead (opening a membership, or promoting the one it had), the offering agency's membership
is closed, and every other member stays as it was: it still works with the child, and its
connector is told by the offering agency's ``TransferCompleted`` notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.agencies.enums import AgencyStatus
from hub.agencies.models import Agency
from hub.network.audit import record
from hub.network.enums import NetworkRole
from hub.network.models import NetworkMember
from hub.network.service import (
    NOT_A_MEMBER,
    NOT_A_MEMBER_MESSAGE,
    Network,
    Outcome,
    invalid_token,
    open_members,
    parse_token,
)
from hub.transfers.enums import TransferStatus
from hub.transfers.models import Transfer
from onedoor.errors import Conflict, Forbidden, NotFound, ValidationFailed
from onedoor.ids import AgencyId, SubjectToken, TransferId

NOT_THE_LEAD: Final = "transfer.not_the_lead"
UNKNOWN_CANDIDATE: Final = "transfer.unknown_candidate"
NO_CANDIDATES: Final = "transfer.no_candidates"
ALREADY_OFFERED: Final = "transfer.already_offered"
NOT_FOUND: Final = "transfer.not_found"
NOT_A_CANDIDATE: Final = "transfer.not_a_candidate"
ALREADY_ACCEPTED: Final = "transfer.already_accepted"
WITHDRAWN: Final = "transfer.withdrawn"
MAX_CANDIDATES: Final = 20


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted transfer and the network as it now is."""

    transfer: Transfer
    previous_lead: AgencyId
    """The offering agency, whose membership was closed: the acceptor's connector tells it."""
    network: Network
    """The open memberships after the move, the acceptor (now lead) first."""
    previous_network: Sequence[tuple[str, NetworkRole]]
    """The agencies that were open members when the transfer was accepted, with their roles then."""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _audit(
    session: Session,
    kind: str,
    outcome: str,
    caller: AgencyId,
    *,
    token: SubjectToken | str | None,
    now: datetime,
    transfer_id: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    parts = [p for p in (f"transfer_id={transfer_id}" if transfer_id else None, detail) if p]
    source = f"transfer:{transfer_id}" if transfer_id else "transfer:offer"
    record(
        session,
        kind,
        outcome,
        str(caller),
        source=source,
        token=token,
        now=now,
        reason=reason,
        detail="; ".join(parts) or None,
    )


def _candidates_problem(session: Session, caller: AgencyId, candidates: Sequence[AgencyId]) -> str | None:
    if not candidates:
        return "a transfer needs at least one candidate agency"
    if len(candidates) > MAX_CANDIDATES:
        return f"a transfer names at most {MAX_CANDIDATES} candidate agencies"
    if caller in candidates:
        return "the offering agency cannot be its own candidate"
    found = {a.id: a.status for a in session.scalars(select(Agency).where(Agency.id.in_([str(c) for c in candidates])))}
    unknown = [str(c) for c in candidates if found.get(str(c)) is not AgencyStatus.ACTIVE]
    if unknown:
        return f"not registered, or not active, at this hub: {', '.join(unknown)}"
    return None


def offer(
    session: Session, raw_token: str, caller: AgencyId, candidates: Sequence[AgencyId], *, now: datetime | None = None
) -> Outcome[Transfer]:
    """Record ``caller``'s offer of a child's case to ``candidates``; only the network's lead may offer.

    Refusals: ``subject_token.invalid``, ``network.not_a_member`` and ``transfer.not_the_lead``
    (403), ``transfer.no_candidates`` / ``transfer.unknown_candidate`` (422),
    ``transfer.already_offered`` (409: an open offer for this child exists).
    """
    now = _now(now)
    token = parse_token(raw_token)
    if token is None:
        return Outcome.refused(invalid_token(session, "transfer.offer", caller, "transfer:offer", now))
    unique = sorted(dict.fromkeys(candidates))
    network = open_members(session, token, for_update=True)
    mine = network.member(caller)
    if mine is None:
        _audit(session, "transfer.offer", "refused", caller, token=token, now=now, reason=NOT_A_MEMBER)
        return Outcome.refused(Forbidden(NOT_A_MEMBER, NOT_A_MEMBER_MESSAGE))
    if mine.role is not NetworkRole.LEAD:
        _audit(session, "transfer.offer", "refused", caller, token=token, now=now, reason=NOT_THE_LEAD)
        return Outcome.refused(Forbidden(NOT_THE_LEAD, "only the lead agency of the child's network offers a transfer"))
    problem = _candidates_problem(session, caller, unique)
    if problem is not None:
        code = NO_CANDIDATES if not unique else UNKNOWN_CANDIDATE
        _audit(session, "transfer.offer", "refused", caller, token=token, now=now, reason=code, detail=problem)
        return Outcome.refused(ValidationFailed(code, problem))
    open_offer = session.scalar(
        select(Transfer.transfer_id).where(
            Transfer.subject_token == str(token), Transfer.status == TransferStatus.OFFERED
        )
    )
    if open_offer is not None:
        _audit(session, "transfer.offer", "refused", caller, token=token, now=now, reason=ALREADY_OFFERED)
        return Outcome.refused(
            Conflict(ALREADY_OFFERED, f"transfer {open_offer} is already on offer for this child; withdraw it first")
        )
    row = Transfer(
        transfer_id=str(TransferId.new()),
        subject_token=str(token),
        offered_by=str(caller),
        candidates=[str(c) for c in unique],
        status=TransferStatus.OFFERED,
        offered_at=now,
    )
    session.add(row)
    session.flush()
    detail = f"candidates={','.join(row.candidates)}"
    _audit(
        session, "transfer.offer", "offered", caller, token=token, now=now, transfer_id=row.transfer_id, detail=detail
    )
    return Outcome(row)


def previous_network(session: Session, row: Transfer) -> list[tuple[str, NetworkRole]]:
    """The network as it was when ``row`` was accepted: agency ids and roles, the offering agency (then lead) first.

    Read from the memberships' history, so the offering agency, whose own membership the
    acceptance closed, can still tell everyone who was in it. Empty until accepted.
    """
    if row.accepted_at is None:
        return []
    at = row.accepted_at
    stmt = select(NetworkMember).where(
        NetworkMember.subject_token == row.subject_token,
        NetworkMember.opened_at < at,
        (NetworkMember.closed_at.is_(None)) | (NetworkMember.closed_at >= at),
    )
    agencies = sorted({m.agency_id for m in session.scalars(stmt)}, key=lambda a: (a != row.offered_by, a))
    return [(a, NetworkRole.LEAD if a == row.offered_by else NetworkRole.MEMBER) for a in agencies]


def _parse_id(raw: str) -> TransferId | None:
    return TransferId(raw) if TransferId.pattern.fullmatch(raw) else None


def get(session: Session, raw_id: str, caller: AgencyId, *, now: datetime | None = None) -> Outcome[Transfer]:
    """A transfer, for its offering agency or one of its candidates (anyone else: ``transfer.not_found``)."""
    now = _now(now)
    ident = _parse_id(raw_id)
    row = session.get(Transfer, str(ident)) if ident is not None else None
    if row is None or (row.offered_by != caller and caller not in row.candidates):
        # The same answer whether it does not exist or is not the caller's business.
        _audit(session, "transfer.read", "deny", caller, token=None, now=now, reason=NOT_FOUND)
        return Outcome.refused(NotFound(NOT_FOUND, "no such transfer for this agency"))
    _audit(session, "transfer.read", "permit", caller, token=row.subject_token, now=now, transfer_id=row.transfer_id)
    return Outcome(row)


def accept(session: Session, raw_id: str, caller: AgencyId, *, now: datetime | None = None) -> Outcome[Accepted]:
    """Accept a transfer as one of its candidates: exactly one acceptance wins; the network moves with it.

    Accepting again as the agency that accepted is idempotent: the same answer, nothing moves
    (audited ``unchanged``), so a connector whose ``TransferAccepted`` never left can retry.
    Refusals: ``transfer.not_found`` (404), ``transfer.not_a_candidate`` (403),
    ``transfer.already_accepted`` (another agency accepted) and ``transfer.withdrawn`` (409).
    """
    now = _now(now)
    ident = _parse_id(raw_id)
    row = session.get(Transfer, str(ident)) if ident is not None else None
    if row is None:
        _audit(session, "transfer.accept", "refused", caller, token=None, now=now, reason=NOT_FOUND)
        return Outcome.refused(NotFound(NOT_FOUND, "no such transfer"))
    token = SubjectToken(row.subject_token)
    if caller not in row.candidates:
        _audit(
            session,
            "transfer.accept",
            "refused",
            caller,
            token=token,
            now=now,
            transfer_id=row.transfer_id,
            reason=NOT_A_CANDIDATE,
        )
        return Outcome.refused(Forbidden(NOT_A_CANDIDATE, "this agency is not a candidate of this transfer"))
    # Conditional on "still offered": of two concurrent acceptances exactly one changes the row.
    done = session.execute(
        update(Transfer)
        .where(Transfer.transfer_id == row.transfer_id, Transfer.status == TransferStatus.OFFERED)
        .values(status=TransferStatus.ACCEPTED, accepted_by=str(caller), accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(row)
        if row.status is TransferStatus.ACCEPTED and row.accepted_by == caller:
            return Outcome(_accepted_again(session, row, caller, now))
        return Outcome.refused(_too_late(session, row, caller, now))
    session.refresh(row)
    previous = open_members(session, token, for_update=True)
    before = [
        (m.agency_id, NetworkRole.LEAD if m.agency_id == row.offered_by else NetworkRole.MEMBER)
        for m in previous.members
    ]
    offering = previous.member(row.offered_by)
    if offering is not None:
        offering.closed_at = now
    # Close any other lead too (the lead may have changed since the offer): one lead per network.
    for member in previous.members:
        if member.role is NetworkRole.LEAD and member.closed_at is None and member.agency_id != caller:
            member.role = NetworkRole.MEMBER
    session.flush()
    mine = previous.member(caller)
    if mine is None:
        session.add(
            NetworkMember(subject_token=str(token), agency_id=str(caller), role=NetworkRole.LEAD, opened_at=now)
        )
    else:
        mine.role = NetworkRole.LEAD
    session.flush()
    after = open_members(session, token)
    detail = f"previous_lead={row.offered_by}; members_before={len(before)}; members_after={len(after.members)}"
    _audit(
        session, "transfer.accept", "accepted", caller, token=token, now=now, transfer_id=row.transfer_id, detail=detail
    )
    return Outcome(Accepted(row, AgencyId(row.offered_by), after, before))


def _accepted_again(session: Session, row: Transfer, caller: AgencyId, now: datetime) -> Accepted:
    # The same acceptor asking again (its TransferAccepted may never have left): the same answer, no change.
    token = SubjectToken(row.subject_token)
    _audit(session, "transfer.accept", "unchanged", caller, token=token, now=now, transfer_id=row.transfer_id)
    return Accepted(row, AgencyId(row.offered_by), open_members(session, token), previous_network(session, row))


def _too_late(session: Session, row: Transfer, caller: AgencyId, now: datetime) -> Conflict:
    if row.status is TransferStatus.WITHDRAWN:
        code, message = WITHDRAWN, "this transfer was withdrawn by the offering agency"
    else:
        code, message = ALREADY_ACCEPTED, "this transfer has already been accepted by another agency"
    _audit(
        session,
        "transfer.accept",
        "refused",
        caller,
        token=row.subject_token,
        now=now,
        transfer_id=row.transfer_id,
        reason=code,
    )
    return Conflict(code, message)


def withdraw(session: Session, raw_id: str, caller: AgencyId, *, now: datetime | None = None) -> Outcome[Transfer]:
    """Withdraw an offer that nobody accepted yet (the offering agency only)."""
    now = _now(now)
    ident = _parse_id(raw_id)
    row = session.get(Transfer, str(ident)) if ident is not None else None
    if row is None or row.offered_by != caller:
        _audit(session, "transfer.withdraw", "refused", caller, token=None, now=now, reason=NOT_FOUND)
        return Outcome.refused(NotFound(NOT_FOUND, "no such transfer offered by this agency"))
    done = session.execute(
        update(Transfer)
        .where(Transfer.transfer_id == row.transfer_id, Transfer.status == TransferStatus.OFFERED)
        .values(status=TransferStatus.WITHDRAWN)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    if done.rowcount != 1:  # type: ignore[attr-defined]
        code = ALREADY_ACCEPTED if row.status is TransferStatus.ACCEPTED else WITHDRAWN
        _audit(
            session,
            "transfer.withdraw",
            "refused",
            caller,
            token=row.subject_token,
            now=now,
            transfer_id=row.transfer_id,
            reason=code,
        )
        return Outcome.refused(Conflict(code, f"this transfer is already {row.status}"))
    _audit(
        session, "transfer.withdraw", "withdrawn", caller, token=row.subject_token, now=now, transfer_id=row.transfer_id
    )
    return Outcome(row)
