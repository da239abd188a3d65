"""The workbench store: what the agency received (referrals, alerts), who its staff are, who is signed in.

Plaintext lives only here, in the agency's own connector: a SQLite file in the connector's
data directory by default (``sqlite:///.../workbench.sqlite3``), or PostgreSQL. Synchronous
SQLAlchemy: every call is one short transaction (``decide`` lets the caller add to it: the
decision and its onward message in the connector's outbox commit together).

The audit trail (``append_audit``, ``audit_trail``) is append-only: the store has no call that
changes or removes a row, and the table refuses UPDATE and DELETE (``models.AuditRow``).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.workbench.models import AuditRow, Base, InboxRow, SessionRow, UserRow
from onedoor.db import make_engine, make_session_factory, transaction
from onedoor.errors import Conflict, NotFound
from onedoor.ids import SubjectToken

DECIDING: Final = "deciding"
"""An item's status while its decision's onward message is being sent (``WorkbenchStore.claim``)."""
ALREADY_DECIDED: Final = "triage.already_decided"
OUTCOMES: Final = frozenset({"permit", "deny", "ok", "refused"})
"""An audit row's outcomes: an authorization decision (``permit``/``deny``) or an action's result."""
MAX_AUDIT_ROWS: Final = 10_000
_CODE: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_ACTOR: Final = re.compile(r"[a-z0-9][a-z0-9._@:-]{1,62}[a-z0-9]")
_ITEM_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX: Final = re.compile(r"[0-9a-f]{8,64}")


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return int(time.time() * 1000)


def as_datetime(ms: int | None) -> datetime | None:
    """``ms`` as an aware UTC datetime."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class NewItem:
    """A referral or alert to store."""

    dedupe_key: str
    kind: str
    source: str
    sender: str
    title: str
    body: dict[str, Any]
    """JSON-ready (``connectors.triage.referral.to_json``)."""
    received_at_ms: int
    reference: str | None = None
    message_id: str | None = None
    subject_token: str | None = None
    urgency: str | None = None
    occurred_at_ms: int | None = None
    status: str = "received"
    """``received``, or ``unreadable`` for a public referral the desk could not open."""


@dataclass(frozen=True, slots=True)
class Item:
    """One stored referral or alert."""

    item_id: str
    kind: str
    source: str
    sender: str
    title: str
    body: dict[str, Any]
    received_at_ms: int
    status: str
    reference: str | None
    message_id: str | None
    subject_token: str | None
    urgency: str | None
    occurred_at_ms: int | None
    viewed_at_ms: int | None
    decided_at_ms: int | None
    decision_kind: str | None
    decision_target: str | None
    decision_reason: str | None
    decided_by: str | None
    onward_message_id: str | None

    @property
    def time_to_triage_ms(self) -> int | None:
        """Received to decided, once decided."""
        return None if self.decided_at_ms is None else self.decided_at_ms - self.received_at_ms

    @property
    def received_at(self) -> datetime:
        """When it arrived (UTC)."""
        found = as_datetime(self.received_at_ms)
        assert found is not None  # noqa: S101 - never null
        return found

    @classmethod
    def of(cls, row: InboxRow) -> Item:
        """From its row."""
        return cls(
            item_id=row.item_id,
            kind=row.kind,
            source=row.source,
            sender=row.sender,
            title=row.title,
            body=json.loads(row.body_json),
            received_at_ms=row.received_at_ms,
            status=row.status,
            reference=row.reference,
            message_id=row.message_id,
            subject_token=row.subject_token,
            urgency=row.urgency,
            occurred_at_ms=row.occurred_at_ms,
            viewed_at_ms=row.viewed_at_ms,
            decided_at_ms=row.decided_at_ms,
            decision_kind=row.decision_kind,
            decision_target=row.decision_target,
            decision_reason=row.decision_reason,
            decided_by=row.decided_by,
            onward_message_id=row.onward_message_id,
        )


@dataclass(frozen=True, slots=True)
class Decided:
    """A triage decision to record."""

    kind: str
    target: str | None
    reason: str | None
    by: str
    onward_message_id: str | None
    at_ms: int


@dataclass(frozen=True, slots=True)
class User:
    """A staff account."""

    username: str
    role: str
    password_hash: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session."""

    username: str
    csrf: str
    created_at_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line to append to the audit trail.

    Only values of their expected form are kept: an item id that is not a UUID, a subject token
    that is not one, an actor that is not a username (or ``api``) is stored as null, so text
    typed into a URL or a form (a name, a password) can never reach the trail.

    Raises:
        ValueError: an ``action`` that is not a dotted code or an unknown ``outcome`` (a bug).
    """

    action: str
    """A stable dotted code (``workbench.item_viewed``, ``triage.decide``...)."""
    outcome: str
    """``permit``, ``deny``, ``ok`` or ``refused``."""
    actor: str | None = None
    """The signed-in username, ``api``, or ``None`` when unknown."""
    item_id: str | None = None
    subject_token: str | None = None
    reason_code: str | None = None
    """Why it was denied or refused (an error code), or ``None``."""
    request_id: str | None = None
    address_fp: str | None = None
    """A keyed fingerprint of the client's address (``Sessions.fingerprint``)."""

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.action):
            raise ValueError("an audit action is a dotted code")
        if self.outcome not in OUTCOMES:
            raise ValueError("an audit outcome is permit, deny, ok or refused")
        checks = (
            ("actor", _ACTOR),
            ("item_id", _ITEM_ID),
            ("subject_token", SubjectToken.pattern),
            ("reason_code", _CODE),
            ("request_id", _HEX),
            ("address_fp", _HEX),
        )
        for name, pattern in checks:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
                object.__setattr__(self, name, None)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored line of the audit trail."""

    id: int
    at_ms: int
    action: str
    outcome: str
    actor: str | None
    item_id: str | None
    subject_token: str | None
    reason_code: str | None
    request_id: str | None
    address_fp: str | None

    @property
    def at(self) -> datetime:
        """When (UTC)."""
        found = as_datetime(self.at_ms)
        assert found is not None  # noqa: S101 - never null
        return found

    @classmethod
    def of(cls, row: AuditRow) -> AuditRecord:
        """From its row."""
        return cls(
            id=row.id,
            at_ms=row.at_ms,
            action=row.action,
            outcome=row.outcome,
            actor=row.actor,
            item_id=row.item_id,
            subject_token=row.subject_token,
            reason_code=row.reason_code,
            request_id=row.request_id,
            address_fp=row.address_fp,
        )


class WorkbenchStore:
    """The workbench's database. ``create()`` makes the tables; ``close()`` disposes the engine."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._engine = make_engine(url)
        self._factory = make_session_factory(self._engine)

    def create(self) -> WorkbenchStore:
        """Create missing tables; returns ``self``."""
        Base.metadata.create_all(self._engine)
        return self

    def close(self) -> None:
        """Release the connections."""
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The database's engine (the connector's outbox must be in the same database to share a transaction)."""
        return self._engine

    def _tx(self) -> Any:
        return transaction(self._factory)

    # Inbox

    def add_item(self, new: NewItem) -> tuple[Item, bool]:
        """Store ``new`` unless its dedupe key is known; returns the item and whether it is new."""
        row = InboxRow(
            item_id=str(uuid.uuid4()),
            dedupe_key=new.dedupe_key,
            kind=new.kind,
            source=new.source,
            sender=new.sender,
            reference=new.reference,
            message_id=new.message_id,
            subject_token=new.subject_token,
            urgency=new.urgency,
            title=new.title[:300],
            body_json=json.dumps(new.body, ensure_ascii=False, sort_keys=True),
            received_at_ms=new.received_at_ms,
            occurred_at_ms=new.occurred_at_ms,
            status=new.status,
        )
        try:
            with self._tx() as session:
                session.add(row)
                session.flush()
                return Item.of(row), True
        except IntegrityError:
            with self._tx() as session:
                found = session.scalars(select(InboxRow).where(InboxRow.dedupe_key == new.dedupe_key)).one()
                return Item.of(found), False

    def replace_unreadable(self, item_id: str, new: NewItem) -> bool:
        """Put what an ``unreadable`` item turned out to hold in its place (same id); ``True`` if it was one."""
        with self._tx() as session:
            done = session.execute(
                update(InboxRow)
                .where(
                    InboxRow.item_id == item_id, InboxRow.kind == "unreadable", InboxRow.dedupe_key == new.dedupe_key
                )
                .values(
                    kind=new.kind,
                    source=new.source,
                    sender=new.sender,
                    title=new.title[:300],
                    body_json=json.dumps(new.body, ensure_ascii=False, sort_keys=True),
                    urgency=new.urgency,
                    status=new.status,
                )
            )
            return bool(getattr(done, "rowcount", 0))

    def items(self, *, kind: str | None = None, limit: int = 200) -> list[Item]:
        """Items newest first."""
        query = select(InboxRow).order_by(InboxRow.received_at_ms.desc(), InboxRow.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(InboxRow.kind == kind)
        with self._tx() as session:
            return [Item.of(r) for r in session.scalars(query)]

    def item(self, item_id: str) -> Item:
        """One item.

        Raises:
            NotFound: ``workbench.item_not_found``.
        """
        with self._tx() as session:
            return Item.of(self._row(session, item_id))

    def by_reference(self, reference: str) -> Item | None:
        """The public referral with this reference, if it arrived."""
        with self._tx() as session:
            row = session.scalars(select(InboxRow).where(InboxRow.reference == reference)).first()
            return None if row is None else Item.of(row)

    def mark_viewed(self, item_id: str, at_ms: int) -> bool:
        """Record the first time the item was opened; ``True`` only that first time."""
        with self._tx() as session:
            done = session.execute(
                update(InboxRow)
                .where(InboxRow.item_id == item_id, InboxRow.viewed_at_ms.is_(None))
                .values(viewed_at_ms=at_ms)
            )
            return bool(getattr(done, "rowcount", 0))

    def claim(self, item_id: str, by: str, at_ms: int) -> Item:
        """Claim an undecided item for a decision (status ``deciding``) before its onward message is sent.

        One conditional UPDATE (``WHERE decided_at_ms IS NULL``): of two concurrent claims exactly
        one succeeds, so a referral is never sent on twice. Finish with ``record_decision`` (same
        ``at_ms``) or give it back with ``release``.

        Raises:
            NotFound: ``workbench.item_not_found``.
            Conflict: ``triage.already_decided`` when it is decided, or being decided, already.
        """
        with self._tx() as session:
            self._take_undecided(session, item_id, status=DECIDING, decided_at_ms=at_ms, decided_by=by)
            return Item.of(self._row(session, item_id))

    def release(self, item_id: str, at_ms: int) -> bool:
        """Give back a claim made at ``at_ms`` (its onward message could not be sent); ``True`` if released."""
        with self._tx() as session:
            done = session.execute(
                update(InboxRow)
                .where(InboxRow.item_id == item_id, InboxRow.status == DECIDING, InboxRow.decided_at_ms == at_ms)
                .values(status="received", decided_at_ms=None, decided_by=None)
            )
            return bool(getattr(done, "rowcount", 0))

    def record_decision(self, item_id: str, decided: Decided) -> Item:
        """Record the triage decision: status ``triaged``, time to triage from now on.

        The item is undecided, or claimed (``claim``) at ``decided.at_ms``.

        Raises:
            NotFound: ``workbench.item_not_found``.
            Conflict: ``triage.already_decided``.
        """
        with self._tx() as session:
            row = self._row(session, item_id)
            claimed = row.status == DECIDING and row.decided_at_ms == decided.at_ms
            if row.decided_at_ms is not None and not claimed:
                raise Conflict(ALREADY_DECIDED, "this referral has already been triaged")
            row.status = "triaged"
            row.decided_at_ms = decided.at_ms
            row.decision_kind = decided.kind
            row.decision_target = decided.target
            row.decision_reason = decided.reason
            row.decided_by = decided.by
            row.onward_message_id = decided.onward_message_id
            session.flush()
            return Item.of(row)

    def decide(self, item_id: str, decided: Decided, *, also: Callable[[Session], object] | None = None) -> Item:
        """Record an undecided item's triage decision and, in the SAME transaction, run ``also(session)``.

        The triage desk enqueues the decision's sealed onward message with ``also`` (the outbox is
        in this database): both commit, or neither does. One conditional UPDATE (``WHERE
        decided_at_ms IS NULL``), so of two concurrent decisions exactly one commits.

        Raises:
            NotFound: ``workbench.item_not_found``.
            Conflict: ``triage.already_decided`` (decided, or being decided, already).
            Whatever ``also`` raises (everything is rolled back).
        """
        with self._tx() as session:
            self._take_undecided(
                session,
                item_id,
                status="triaged",
                decided_at_ms=decided.at_ms,
                decision_kind=decided.kind,
                decision_target=decided.target,
                decision_reason=decided.reason,
                decided_by=decided.by,
                onward_message_id=decided.onward_message_id,
            )
            if also is not None:
                also(session)
            session.expire_all()
            return Item.of(self._row(session, item_id))

    def _take_undecided(self, session: Session, item_id: str, **values: Any) -> None:
        # One conditional UPDATE (`WHERE decided_at_ms IS NULL`): of two concurrent callers exactly one wins.
        done = session.execute(
            update(InboxRow)
            .where(InboxRow.item_id == item_id, InboxRow.decided_at_ms.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(done, "rowcount", 0) != 1:
            self._row(session, item_id)  # NotFound when there is no such item
            raise Conflict(ALREADY_DECIDED, "this referral has already been triaged (or is being triaged now)")

    def timeline(self, subject_token: str) -> list[Item]:
        """Every alert about one subject token, in the order things happened."""
        query = (
            select(InboxRow)
            .where(InboxRow.kind == "alert", InboxRow.subject_token == subject_token)
            .order_by(InboxRow.occurred_at_ms, InboxRow.received_at_ms, InboxRow.id)
        )
        with self._tx() as session:
            return [Item.of(r) for r in session.scalars(query)]

    @staticmethod
    def _row(session: Session, item_id: str) -> InboxRow:
        row = session.scalars(select(InboxRow).where(InboxRow.item_id == item_id)).first()
        if row is None:
            raise NotFound("workbench.item_not_found", "no such referral or alert in this agency's inbox")
        return row

    # Users

    def add_user(self, username: str, role: str, password_hash: str) -> None:
        """Create a staff account.

        Raises:
            Conflict: ``workbench.user_exists``.
        """
        try:
            with self._tx() as session:
                session.add(UserRow(username=username, role=role, password_hash=password_hash, created_at_ms=now_ms()))
        except IntegrityError:
            raise Conflict("workbench.user_exists", f"there is already a user called {username}") from None

    def user(self, username: str) -> User | None:
        """The account, if it exists."""
        with self._tx() as session:
            row = session.get(UserRow, username)
            return None if row is None else User(row.username, row.role, row.password_hash, row.disabled)

    # Sessions

    def add_session(self, id_hash: str, username: str, csrf: str, at_ms: int) -> None:
        """Remember a new signed-in session."""
        with self._tx() as session:
            session.add(
                SessionRow(id_hash=id_hash, username=username, csrf=csrf, created_at_ms=at_ms, last_seen_ms=at_ms)
            )

    def session(self, id_hash: str) -> SignedIn | None:
        """The session with this id hash, if any."""
        with self._tx() as session:
            row = session.get(SessionRow, id_hash)
            return None if row is None else SignedIn(row.username, row.csrf, row.created_at_ms, row.last_seen_ms)

    def touch_session(self, id_hash: str, at_ms: int) -> None:
        """The session was used now."""
        with self._tx() as session:
            session.execute(update(SessionRow).where(SessionRow.id_hash == id_hash).values(last_seen_ms=at_ms))

    def end_session(self, id_hash: str) -> None:
        """Forget the session (sign-out or expiry)."""
        with self._tx() as session:
            session.execute(delete(SessionRow).where(SessionRow.id_hash == id_hash))

    # Audit trail (append-only)

    def append_audit(self, entry: AuditEntry, at_ms: int | None = None) -> AuditRecord:
        """Append one line to the audit trail (now, unless ``at_ms`` is given)."""
        row = AuditRow(
            at_ms=now_ms() if at_ms is None else at_ms,
            actor=entry.actor,
            action=entry.action,
            outcome=entry.outcome,
            item_id=entry.item_id,
            subject_token=entry.subject_token,
            reason_code=entry.reason_code,
            request_id=entry.request_id,
            address_fp=entry.address_fp,
        )
        with self._tx() as session:
            session.add(row)
            session.flush()
            return AuditRecord.of(row)

    def audit_trail(
        self, *, limit: int = 200, item_id: str | None = None, subject_token: str | None = None
    ) -> list[AuditRecord]:
        """The newest ``limit`` lines (at most ``MAX_AUDIT_ROWS``), newest first; about one item or token if given."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, MAX_AUDIT_ROWS)))
        if item_id is not None:
            query = query.where(AuditRow.item_id == item_id)
        if subject_token is not None:
            query = query.where(AuditRow.subject_token == subject_token)
        with self._tx() as session:
            return [AuditRecord.of(r) for r in session.scalars(query)]
