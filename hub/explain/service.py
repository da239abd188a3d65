"""Read the audit rows an explanation needs; ``hub.explain.explain`` does the rest."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent
from hub.audit.service import AuditEntry, by_message
from hub.explain.explain import AUTHZ, Explanation, Viewer, explain_message, explain_request

_FIELDS = tuple(f.name for f in fields(AuditEntry))


def _entry(event: AuditEvent) -> AuditEntry:
    return AuditEntry(**{name: getattr(event, name) for name in _FIELDS})


def message_rows(session: Session, message_id: str) -> list[AuditEntry]:
    """Every audit row about one message, oldest first."""
    return [_entry(e) for e in by_message(session, message_id)]


def request_rows(session: Session, request_id: str) -> list[AuditEntry]:
    """Every ``api.authz`` row of one request id, oldest first.

    The id is only in ``detail`` (``request_id=<id>; ...``), so this scans the authorization
    rows with a prefix match; the caller-chosen id's ``%`` and ``_`` are escaped.
    """
    prefix = f"request_id={request_id}"
    stmt = (
        select(AuditEvent)
        .where(
            AuditEvent.kind == AUTHZ,
            or_(AuditEvent.detail == prefix, AuditEvent.detail.startswith(f"{prefix}; ", autoescape=True)),
        )
        .order_by(AuditEvent.id)
    )
    return [_entry(e) for e in session.scalars(stmt)]


def message(session: Session, message_id: str, viewer: Viewer) -> Explanation | None:
    """Why ``message_id`` was delivered or refused, as far as ``viewer`` may see; ``None`` if not at all."""
    return explain_message(message_id, message_rows(session, message_id), viewer)


def request(session: Session, request_id: str, viewer: Viewer) -> Explanation | None:
    """Why request ``request_id`` was permitted or denied, as far as ``viewer`` may see; ``None`` if not at all."""
    return explain_request(request_id, request_rows(session, request_id), viewer)
