"""Agreement store logic: propose, approve, suspend, revoke, expire; what the engine loads.

Functions work inside the caller's transaction, append an ``agreement.<action>`` audit row for
every change in that same transaction, and raise OneDoor errors with stable codes; nothing here
knows about HTTP. A refused request therefore changes nothing and leaves no ``agreement.*`` row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent.agreement import Agreement
from consent.catalog import Catalog
from consent.contract import TaggedContract
from consent.ids import GroupName
from consent.model import ActorScope, DataClass, Member
from contracts.registry.models import ContractVersion
from hub.agencies.enums import KeyStatus, KeyUse
from hub.agencies.models import Agency, AgencyKey
from hub.agreements import lifecycle
from hub.agreements.lifecycle import Event, VersionState
from hub.agreements.models import AgreementApproval, AgreementVersion
from hub.agreements.schemas import AgreementBody, AgreementPropose, parse_actor, signatories
from hub.agreements.signing import verify_approval
from hub.audit.service import AuditEntry, append
from hub.policy.changes import ChangeKind, mark_changed
from onedoor.errors import Conflict, NotFound, ValidationFailed
from onedoor.ids import AgencyId

STALE_VERSION = "agreement.stale_version"
NOT_FOUND = "agreement.not_found"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _audit(session: Session, action: str, row: AgreementVersion, actor: str | None, at: datetime) -> None:
    # Every change is announced to the routers once it commits (push invalidation).
    mark_changed(session, ChangeKind.AGREEMENT, row.agreement_id)
    append(
        session,
        [
            AuditEntry(
                kind=f"agreement.{action}",
                outcome=row.state.value,
                actor=actor[:64] if actor is not None else None,
                source=f"agreement:{row.agreement_id}:v{row.version}",
                detail=f"agreement_id={row.agreement_id}; version={row.version}; digest={row.digest}",
                at=at,
            )
        ],
    )


def catalog(session: Session, groups: Sequence[GroupName] = ()) -> Catalog:
    """What agreements may refer to: registered agencies, contract versions and the purpose catalogue.

    The hub keeps no group memberships yet, so a group is known only when named in ``groups``.
    """
    members = [Member(AgencyId(a.id), a.kind.value) for a in session.scalars(select(Agency))]
    contracts = [
        TaggedContract.from_tags(row.name, row.version, {path: DataClass(tag) for path, tag in row.tags.items()})
        for row in session.scalars(select(ContractVersion))
    ]
    return Catalog.of(members, contracts, groups=groups)


def catalog_for(session: Session, agreements: Sequence[Agreement]) -> Catalog:
    """The catalogue to build an ``AgreementIndex`` of ``agreements`` with (it knows every group they name)."""
    named = {a for agreement in agreements for a in (*agreement.parties, *agreement.named_actors())}
    return catalog(session, sorted(GroupName(a.name) for a in named if a.scope is ActorScope.GROUP))


def pin(session: Session, body: AgreementBody) -> AgreementBody:
    """``body`` with each contract it names and does not pin pinned to its newest registered version.

    A contract with no registered version stays unpinned (``check`` refuses it as unknown);
    an explicit pin is kept as written (``check`` refuses one that is not registered).
    """
    rows = session.execute(
        select(ContractVersion.name, func.max(ContractVersion.version))
        .where(ContractVersion.name.in_(body.contracts))
        .group_by(ContractVersion.name)
    )
    newest = dict(rows.tuples().all())
    pins = {c: newest[c] for c in body.contracts if c in newest} | body.contract_versions
    return body if pins == body.contract_versions else body.model_copy(update={"contract_versions": pins})


def check(session: Session, body: AgreementBody) -> Agreement:
    """Validate ``body`` with the consent engine and the hub's catalogue; return the engine's agreement.

    Raises:
        ValidationFailed: the engine's codes (``purpose.unknown``, ``data_class.unknown``,
            ``agreement.class_not_in_contract``, ``actor.unknown``,
            ``agreement.contract_version_unknown`` for a pin to a version never registered ...),
            or ``agreement.no_signatory`` when no party is a named agency.
    """
    agreement = body.to_engine(1, VersionState.PROPOSED.engine_state())
    if not signatories(body):
        raise ValidationFailed("agreement.no_signatory", "at least one party must be a named agency, to approve it")
    groups = [GroupName(p.name) for p in (parse_actor(t) for t in body.parties) if p.scope is ActorScope.GROUP]
    catalog(session, groups).check(agreement)
    return agreement


def versions(session: Session, agreement_id: str) -> list[AgreementVersion]:
    """Every version of ``agreement_id``, oldest first, or NotFound ``agreement.not_found``."""
    rows = list(
        session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.agreement_id == agreement_id)
            .order_by(AgreementVersion.version)
        )
    )
    if not rows:
        raise NotFound(NOT_FOUND, f"no agreement {agreement_id}")
    return rows


def party_agencies(session: Session, agreement_id: str, version: int | None = None) -> frozenset[str]:
    """Agencies named as parties by ``version``, or by the latest or in-force version; empty if none exists."""
    stmt = select(AgreementVersion).where(AgreementVersion.agreement_id == agreement_id)
    rows = list(session.scalars(stmt.order_by(AgreementVersion.version)))
    if version is None:
        return _parties(rows) if rows else frozenset()
    return frozenset().union(*(signatories(AgreementBody.model_validate(r.body)) for r in rows if r.version == version))


def propose(session: Session, new: AgreementPropose, *, by: str, now: datetime | None = None) -> AgreementVersion:
    """Record a new agreement, or an amendment of the latest version, as proposed.

    Each contract it names is pinned to its newest registered version unless the proposer
    pinned it (``pin``); the pins are part of the body, so of the digest every party approves.
    A pending (proposed) earlier version is superseded at once; the version in force stays in
    force until this one is approved by every party agency.
    """
    now = _now(now)
    body = pin(session, new.agreement)
    check(session, body)
    existing = list(
        session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.agreement_id == body.id)
            .order_by(AgreementVersion.version)
            .with_for_update()
        )
    )
    if not existing and new.amends is not None:
        raise NotFound(NOT_FOUND, f"no agreement {body.id} to amend")
    if existing:
        latest = existing[-1]
        if new.amends is None:
            raise Conflict("agreement.exists", f"agreement {body.id} exists: amend version {latest.version}")
        if new.amends != latest.version:
            raise Conflict(STALE_VERSION, f"version {new.amends} is not the latest ({latest.version})")
        if any(r.state is VersionState.REVOKED for r in existing):
            raise lifecycle.invalid_transition(f"agreement {body.id} was revoked: propose a new agreement")
    row = AgreementVersion(
        agreement_id=body.id,
        version=len(existing) + 1,
        state=VersionState.PROPOSED,
        body=body.model_dump(mode="json"),
        digest=body.digest(),
        proposed_by=by,
        proposed_at=now,
        changed_at=now,
        approvals=[],
    )
    for old in existing:
        if old.state is VersionState.PROPOSED:
            _move(session, old, Event.SUPERSEDE, by, now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(STALE_VERSION, f"agreement {body.id} changed meanwhile; fetch it and retry") from None
    _audit(session, "propose", row, by, now)
    return row


def _move(session: Session, row: AgreementVersion, event: Event, by: str | None, now: datetime) -> None:
    row.state = lifecycle.move(row.state, event)
    row.changed_at = now
    session.flush()
    _audit(session, event.value, row, by, now)


def _locked(session: Session, agreement_id: str) -> list[AgreementVersion]:
    rows = list(
        session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.agreement_id == agreement_id)
            .order_by(AgreementVersion.version)
            .with_for_update()
        )
    )
    if not rows:
        raise NotFound(NOT_FOUND, f"no agreement {agreement_id}")
    return rows


def approve(
    session: Session,
    agreement_id: str,
    version: int,
    *,
    agency: AgencyId,
    approver: str,
    digest: str,
    signature: bytes | None = None,
    now: datetime | None = None,
) -> AgreementVersion:
    """Record ``agency``'s approval of ``version``; the last party's approval makes it active.

    Raises:
        Conflict: ``agreement.stale_version`` (not the latest version, or not the content the
            approver read), ``agreement.already_approved``, ``agreement.invalid_transition``.
        ValidationFailed: ``agreement.bad_signature`` when a signature is given and no trusted
            signing key of ``agency`` verifies it.
    """
    now = _now(now)
    rows = _locked(session, agreement_id)
    latest = rows[-1]
    target = next((r for r in rows if r.version == version), None)
    if target is None:
        raise NotFound(NOT_FOUND, f"agreement {agreement_id} has no version {version}")
    if target is not latest and target.state is VersionState.SUPERSEDED:
        raise Conflict(STALE_VERSION, f"version {version} was replaced by version {latest.version}")
    if digest != target.digest:
        raise Conflict(STALE_VERSION, f"version {version} is not the content you approved (digest differs)")
    approved = {AgencyId(a.agency_id) for a in target.approvals}
    body = AgreementBody.model_validate(target.body)
    parties = {AgencyId(a) for a in signatories(body)}
    after = lifecycle.approve(target.state, agency, approved, parties)
    key_id = None if signature is None else _verifying_key(session, agency, signature, target, now)
    target.approvals.append(
        AgreementApproval(
            agency_id=agency, approver=approver, approved_at=now, digest=digest, signature=signature, key_id=key_id
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(lifecycle.ALREADY_APPROVED, f"{agency} has already approved this version") from None
    _audit(session, "approve", target, approver, now)
    if after is VersionState.ACTIVE:
        for old in rows:
            if old is not target and old.state.in_force:
                _move(session, old, Event.SUPERSEDE, approver, now)
        target.state = VersionState.ACTIVE
        target.changed_at = now
        session.flush()
        _audit(session, "activate", target, approver, now)
    return target


def _verifying_key(session: Session, agency: AgencyId, signature: bytes, row: AgreementVersion, now: datetime) -> str:
    keys = session.scalars(
        select(AgencyKey).where(
            AgencyKey.agency_id == agency, AgencyKey.use == KeyUse.SIGNING, AgencyKey.status != KeyStatus.REVOKED
        )
    )
    for key in keys:
        trusted = key.not_after is None or now < key.not_after
        if trusted and verify_approval(key.public_key, signature, row.agreement_id, row.version, row.digest):
            return key.key_id
    raise ValidationFailed(
        "agreement.bad_signature", f"no trusted signing key of {agency} verifies this approval signature"
    )


def _in_force(rows: Sequence[AgreementVersion], agreement_id: str) -> AgreementVersion:
    found = next((r for r in rows if r.state.in_force), None)
    if found is None:
        raise lifecycle.invalid_transition(f"agreement {agreement_id} has no version in force")
    return found


def suspend(session: Session, agreement_id: str, *, by: str, now: datetime | None = None) -> AgreementVersion:
    """Pause the version in force (active → suspended)."""
    now = _now(now)
    row = _in_force(_locked(session, agreement_id), agreement_id)
    _move(session, row, Event.SUSPEND, by, now)
    return row


def revoke(session: Session, agreement_id: str, *, by: str, now: datetime | None = None) -> list[AgreementVersion]:
    """End the agreement: the version in force and any pending version become revoked, for good."""
    now = _now(now)
    rows = _locked(session, agreement_id)
    live = [r for r in rows if r.state.in_force or r.state is VersionState.PROPOSED]
    if not live:
        raise lifecycle.invalid_transition(f"agreement {agreement_id} has nothing left to revoke")
    for row in live:
        _move(session, row, Event.REVOKE, by, now)
    return rows


def expire_due(session: Session, *, now: datetime | None = None) -> list[AgreementVersion]:
    """Mark every version in force whose validity period has ended as expired."""
    now = _now(now)
    expired = []
    stmt = (
        select(AgreementVersion)
        .where(AgreementVersion.state.in_([VersionState.ACTIVE, VersionState.SUSPENDED]))
        .with_for_update()
    )
    for row in session.scalars(stmt):
        until = AgreementBody.model_validate(row.body).valid_until
        if until is not None and until <= now:
            _move(session, row, Event.EXPIRE, None, now)
            expired.append(row)
    return expired


def list_ids(session: Session, agency: AgencyId | None = None) -> list[list[AgreementVersion]]:
    """Every agreement's versions (oldest first), by id; only those ``agency`` is a party to, if given."""
    rows = session.scalars(select(AgreementVersion).order_by(AgreementVersion.agreement_id, AgreementVersion.version))
    grouped: dict[str, list[AgreementVersion]] = {}
    for row in rows:
        grouped.setdefault(row.agreement_id, []).append(row)
    if agency is None:
        return list(grouped.values())
    return [g for g in grouped.values() if agency in _parties(g)]


def _parties(rows: Sequence[AgreementVersion]) -> frozenset[str]:
    # The latest version's party agencies and the version in force's: who may see and act on it.
    latest = rows[-1]
    named = [r for r in rows if r is latest or r.state.in_force]
    return frozenset().union(*(signatories(AgreementBody.model_validate(r.body)) for r in named))


def _was_approved(row: AgreementVersion) -> bool:
    # Approved by every signatory: it was in force before it ended (a pending version never was).
    return {a.agency_id for a in row.approvals} >= signatories(AgreementBody.model_validate(row.body))


def active_agreements(session: Session) -> list[Agreement]:
    """What the hub loads into the engine: each agreement's governing version, in the engine's terms.

    The governing version is the one in force (active or suspended); for an agreement with none,
    its latest revoked or expired version, so the engine can say why nothing is permitted.
    Agreements that were never in force are left out.
    """
    out = []
    for group in list_ids(session):
        governing = next((r for r in group if r.state.in_force), None)
        if governing is None:
            ended = [r for r in group if r.state in {VersionState.REVOKED, VersionState.EXPIRED} and _was_approved(r)]
            governing = ended[-1] if ended else None
        if governing is not None:
            body = AgreementBody.model_validate(governing.body)
            out.append(body.to_engine(governing.version, governing.state.engine_state()))
    return out
