"""The workbench's tables: inbox items (referrals and alerts, plaintext: this is the agency's own
connector), staff accounts, sign-in sessions and the audit trail. SQLite by default, PostgreSQL
supported.

Times are milliseconds since the epoch (UTC) so both databases compare them the same way.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import BigInteger, Boolean, Connection, Index, Integer, MetaData, String, Text, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from onedoor.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    """Declarative base of the workbench tables (apart from the hub's)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class InboxRow(Base):
    """One referral or alert this agency received."""

    __tablename__ = "wb_inbox_item"
    __table_args__ = (Index("ix_wb_inbox_received", "received_at_ms"), Index("ix_wb_inbox_subject", "subject_token"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(36), unique=True)
    """The workbench's own id (a UUID), used in links."""
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    """``message:<id>`` or ``public:<reference>``: a redelivered message is stored once."""
    kind: Mapped[str] = mapped_column(String(16))
    """``referral`` or ``alert``."""
    source: Mapped[str] = mapped_column(String(16))
    """``professional`` (an envelope from an agency) or ``public`` (the public form)."""
    sender: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The public referral's reference (reported back to the hub as progress)."""
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    subject_token: Mapped[str | None] = mapped_column(String(100), nullable=True)
    urgency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    body_json: Mapped[str] = mapped_column(Text)
    received_at_ms: Mapped[int] = mapped_column(BigInteger)
    occurred_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """For an alert: when it happened (the timeline's order)."""
    status: Mapped[str] = mapped_column(String(16), default="received")
    viewed_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decision_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decision_target: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    onward_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class UserRow(Base):
    """A member of the agency's own staff who may sign in."""

    __tablename__ = "wb_user"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class SessionRow(Base):
    """A signed-in browser; the cookie holds the id, the table only its SHA-256."""

    __tablename__ = "wb_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    """One line of the workbench's append-only audit trail: who did what to which record, and the outcome.

    Ids, codes and tokens only: never a child's name, a body, a password, a session id or a CSRF token.
    """

    __tablename__ = "workbench_audit"
    __table_args__ = (
        Index("ix_workbench_audit_item", "item_id"),
        Index("ix_workbench_audit_subject", "subject_token"),
        Index("ix_workbench_audit_at", "at_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    """When (UTC, milliseconds since the epoch)."""
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The signed-in username, ``api`` for the connector's REST API, or null when unknown."""
    action: Mapped[str] = mapped_column(String(64))
    """A stable code: ``workbench.sign_in``, ``workbench.item_viewed``, ``triage.decide``..."""
    outcome: Mapped[str] = mapped_column(String(16))
    """``permit``, ``deny``, ``ok`` or ``refused``."""
    item_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    subject_token: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The request's ``X-Request-ID`` (the same id as its log line)."""
    address_fp: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """A keyed fingerprint of the client's address (HMAC under the workbench secret), never the address."""


# Append-only in the database too: a bug (or a hand-typed UPDATE) cannot rewrite what happened.
_GUARDS: Final[dict[str, tuple[str, ...]]] = {
    "sqlite": tuple(
        f"CREATE TRIGGER workbench_audit_no_{verb.lower()} BEFORE {verb} ON workbench_audit "
        "BEGIN SELECT RAISE(ABORT, 'workbench_audit is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION workbench_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'workbench_audit is append-only'; END $$",
        "CREATE TRIGGER workbench_audit_append_only BEFORE UPDATE OR DELETE ON workbench_audit "
        "FOR EACH ROW EXECUTE FUNCTION workbench_audit_append_only()",
    ),
}


def _append_only(_table: Any, connection: Connection, **_kw: Any) -> None:
    """Once the table is created: triggers that refuse UPDATE and DELETE (SQLite and PostgreSQL)."""
    for statement in _GUARDS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)


event.listen(AuditRow.__table__, "after_create", _append_only)
