"""Network logic: subscribe, unsubscribe, look up a child's network; who is in it, by subject token only.

Functions work inside the caller's transaction and return an ``Outcome``: a refusal is data,
not an exception, so the ``network.*`` audit row that records it commits with the transaction
and the API raises the error afterwards. Nothing here knows HTTP. A malformed subject token is
audited as ``invalid`` without the value (it might be a name typed into the wrong field).

Who sees whom: a member looking up a network is shown only the members it has an agreement in
force with (``hub.network.sharing``), and told how many it is not shown. Claiming the lead of a
network that has other members needs an agreement in force with at least one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.network.audit import record
from hub.network.enums import NetworkRole
from hub.network.models import NetworkMember
from hub.network.sharing import partners_among
from onedoor.errors import Conflict, Forbidden, OneDoorError, ValidationFailed
from onedoor.ids import AgencyId, SubjectToken

NOT_A_MEMBER: Final = "network.not_a_member"
LEAD_TAKEN: Final = "network.lead_taken"
LEAD_NEEDS_AGREEMENT: Final = "network.lead_needs_agreement"
BUSY: Final = "network.busy"
SUBSCRIBE_ATTEMPTS: Final = 3
"""Reads and writes of one subscribe; a concurrent subscribe to the same token costs one more."""
INVALID_TOKEN: Final = "subject_token.invalid"  # noqa: S105 - an error code, not a secret
NOT_A_MEMBER_MESSAGE: Final = (
    "this agency has no open case on this subject token: subscribe to the child's network first "
    "(PUT /network/{subject_token}/members/me)"
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a network or transfer action came to: a value, or the refusal to raise once the audit row is committed."""

    value: T | None = None
    error: OneDoorError | None = None

    def unwrap(self) -> T:
        """The value; raises the refusal."""
        if self.error is not None:
            raise self.error
        assert self.value is not None  # noqa: S101 - an outcome holds one or the other
        return self.value

    @classmethod
    def refused(cls, error: OneDoorError) -> Outcome[T]:
        """A refusal."""
        return cls(error=error)


@dataclass(frozen=True, slots=True)
class Network:
    """A child's network as the hub knows it: the agencies with an open case, lead first."""

    subject_token: SubjectToken
    members: Sequence[NetworkMember]
    withheld: int = 0
    """Open members left out of ``members`` (no agreement in force with the caller): a count, never who."""

    @property
    def lead(self) -> NetworkMember | None:
        """The open lead membership, if any."""
        return next((m for m in self.members if m.role is NetworkRole.LEAD), None)

    def member(self, agency: str) -> NetworkMember | None:
        """``agency``'s open membership, if any."""
        return next((m for m in self.members if m.agency_id == agency), None)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def parse_token(raw: str) -> SubjectToken | None:
    """``raw`` as a ``SubjectToken``, or ``None`` when malformed."""
    return SubjectToken(raw) if SubjectToken.pattern.fullmatch(raw) else None


def invalid_token(session: Session, kind: str, caller: AgencyId, source: str, now: datetime) -> OneDoorError:
    """Audit a request naming a malformed subject token (the value is not kept) and return its error."""
    _audit(session, kind, "invalid", caller, source, token=None, now=now, reason=INVALID_TOKEN)
    return ValidationFailed(INVALID_TOKEN, "not a valid subject token (st1_ followed by 16 to 86 URL-safe characters)")


def _audit(
    session: Session,
    kind: str,
    outcome: str,
    caller: AgencyId,
    source: str,
    *,
    token: SubjectToken | None,
    now: datetime,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    record(session, kind, outcome, str(caller), source=source, token=token, now=now, reason=reason, detail=detail)


def open_members(session: Session, token: SubjectToken, *, for_update: bool = False) -> Network:
    """The open memberships of ``token``, the lead first, then by when they opened."""
    stmt = select(NetworkMember).where(NetworkMember.subject_token == str(token), NetworkMember.closed_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    rows = sorted(session.scalars(stmt), key=lambda m: (m.role is not NetworkRole.LEAD, m.opened_at, m.id))
    return Network(token, rows)


def subscribe(
    session: Session, raw_token: str, caller: AgencyId, role: NetworkRole | None, *, now: datetime | None = None
) -> Outcome[NetworkMember]:
    """Open ``caller``'s membership of a child's network (idempotent); ``lead`` only if no other agency leads.

    Asking for ``member`` (or nothing) when already the lead keeps the lead role: stepping down
    is done by a transfer, or by unsubscribing. Claiming the lead of a network with other open
    members needs an agreement in force with at least one of them (``network.lead_needs_agreement``).
    Two subscribes racing on the same token (the database's unique indexes stop the second) are
    told apart by reading again: the loser gets ``network.lead_taken``, or its own membership.
    """
    now = _now(now)
    source = "network:subscribe"
    token = parse_token(raw_token)
    if token is None:
        return Outcome.refused(invalid_token(session, "network.subscribe", caller, source, now))
    wanted = role or NetworkRole.MEMBER
    for _ in range(SUBSCRIBE_ATTEMPTS):
        network = open_members(session, token, for_update=True)
        mine = network.member(caller)
        lead = network.lead
        if wanted is NetworkRole.LEAD and lead is not None and lead.agency_id != caller:
            _audit(session, "network.subscribe", "refused", caller, source, token=token, now=now, reason=LEAD_TAKEN)
            return Outcome.refused(
                Conflict(LEAD_TAKEN, "another agency is the lead of this network; a case transfer moves the lead role")
            )
        if mine is not None and (wanted is NetworkRole.MEMBER or mine.role is NetworkRole.LEAD):
            detail = f"role={mine.role}"
            _audit(session, "network.subscribe", "unchanged", caller, source, token=token, now=now, detail=detail)
            return Outcome(mine)
        if wanted is NetworkRole.LEAD:
            others = [m.agency_id for m in network.members if m.agency_id != caller]
            if others and not partners_among(session, caller, others, now):
                reason = LEAD_NEEDS_AGREEMENT
                _audit(session, "network.subscribe", "refused", caller, source, token=token, now=now, reason=reason)
                return Outcome.refused(
                    Forbidden(
                        LEAD_NEEDS_AGREEMENT,
                        "to lead a network that has members, this agency needs an agreement in force with one of them",
                    )
                )
        try:
            # A savepoint: a concurrent subscribe that committed first undoes only this step.
            with session.begin_nested():
                if mine is None:
                    mine = NetworkMember(subject_token=str(token), agency_id=str(caller), role=wanted, opened_at=now)
                    session.add(mine)
                    outcome = "opened"
                else:
                    mine.role = NetworkRole.LEAD
                    outcome = "promoted"
                session.flush()
                detail = f"role={mine.role}"
                _audit(session, "network.subscribe", outcome, caller, source, token=token, now=now, detail=detail)
        except IntegrityError:
            continue  # read again: the other subscribe's row is there now
        return Outcome(mine)
    _audit(session, "network.subscribe", "refused", caller, source, token=token, now=now, reason=BUSY)
    return Outcome.refused(Conflict(BUSY, "this network kept changing while subscribing; try again"))


def unsubscribe(session: Session, raw_token: str, caller: AgencyId, *, now: datetime | None = None) -> Outcome[bool]:
    """Close ``caller``'s open membership (its case is closed); ``False`` if it had none (nothing changes)."""
    now = _now(now)
    source = "network:unsubscribe"
    token = parse_token(raw_token)
    if token is None:
        return Outcome.refused(invalid_token(session, "network.unsubscribe", caller, source, now))
    mine = open_members(session, token, for_update=True).member(caller)
    if mine is None:
        _audit(
            session, "network.unsubscribe", "not-a-member", caller, source, token=token, now=now, reason=NOT_A_MEMBER
        )
        return Outcome(False)
    mine.closed_at = now
    session.flush()
    _audit(session, "network.unsubscribe", "closed", caller, source, token=token, now=now, detail=f"role={mine.role}")
    return Outcome(True)


def lookup(session: Session, raw_token: str, caller: AgencyId, *, now: datetime | None = None) -> Outcome[Network]:
    """The child's network as ``caller``, an open member, may see it; audited permit or deny.

    Shown: the caller and the members it has an agreement in force with (either direction),
    the lead first; the others are counted in ``withheld``, never named. A non-member gets the
    same refusal whether or not the network exists, so the hub never tells an agency that some
    other agency has a case on a child.
    """
    now = _now(now)
    source = "network:lookup"
    token = parse_token(raw_token)
    if token is None:
        return Outcome.refused(invalid_token(session, "network.lookup", caller, source, now))
    network = open_members(session, token)
    if network.member(caller) is None:
        _audit(session, "network.lookup", "deny", caller, source, token=token, now=now, reason=NOT_A_MEMBER)
        return Outcome.refused(Forbidden(NOT_A_MEMBER, NOT_A_MEMBER_MESSAGE))
    partners = partners_among(session, caller, [m.agency_id for m in network.members], now)
    shown = [m for m in network.members if m.agency_id == caller or m.agency_id in partners]
    withheld = len(network.members) - len(shown)
    detail = f"members={len(shown)}; withheld={withheld}"
    _audit(session, "network.lookup", "permit", caller, source, token=token, now=now, detail=detail)
    return Outcome(Network(token, shown, withheld))


def read(session: Session, raw_token: str, reader: str, *, now: datetime | None = None) -> Outcome[Network]:
    """The child's network for a hub operator or auditor (``reader``: their token subject); audited."""
    now = _now(now)
    token = parse_token(raw_token)
    if token is None:
        return Outcome.refused(ValidationFailed(INVALID_TOKEN, "not a valid subject token"))
    network = open_members(session, token)
    detail = f"members={len(network.members)}"
    record(session, "network.read", "permit", reader, source="network:read", token=token, now=now, detail=detail)
    return Outcome(network)
