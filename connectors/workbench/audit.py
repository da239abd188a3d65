"""The workbench's audit trail: every sign-in, every look at a child's record, every decision attempt.

Local and append-only, in the workbench store (``workbench_audit``): who (the username, ``api``
for the connector's REST API, or nobody known), what (a stable action code), which record (item
id, subject token), the outcome (``permit``/``deny`` for an authorization decision, ``ok``/
``refused`` for what was then done) and why (a reason code). Never a name, a body, a password, a
session id or a CSRF token (``store.AuditEntry`` drops anything not of its expected form).

Each line is written in a worker thread, off the connector's event loop, before the page or
answer it is about is returned: if it cannot be written, the request fails rather than go
unrecorded.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Final

import structlog

from connectors.workbench.store import AuditEntry, AuditRecord, WorkbenchStore

SIGN_IN: Final = "workbench.sign_in"
SIGN_OUT: Final = "workbench.sign_out"
ITEM_VIEWED: Final = "workbench.item_viewed"
TIMELINE_VIEWED: Final = "workbench.timeline_viewed"
AUDIT_VIEWED: Final = "workbench.audit_viewed"
CSRF_REFUSED: Final = "workbench.csrf_refused"
"""Also the reason code of a sign-in refused for its form's token."""
DECIDE: Final = "triage.decide"

UNKNOWN_USER: Final = "workbench.unknown_user"
WRONG_PASSWORD: Final = "workbench.wrong_password"  # noqa: S105 - a reason code, not a password
ACCOUNT_DISABLED: Final = "workbench.account_disabled"
SIGN_IN_LIMITED: Final = "workbench.sign_in_limited"
SIGN_IN_INCOMPLETE: Final = "workbench.sign_in_incomplete"
NOT_SIGNED_IN: Final = "workbench.not_signed_in"
ROLE_CANNOT_DECIDE: Final = "workbench.role_cannot_decide"
NOT_TRIAGE_DESK: Final = "workbench.not_triage_desk"
ROLE_CANNOT_AUDIT: Final = "workbench.role_cannot_audit"
SEND_FAILED: Final = "triage.send_failed"
"""A decision whose onward message could not be sent for a reason that has no code of its own."""
API: Final = "api"
"""The actor for the connector's REST API (behind its bearer token)."""


class Outcome(StrEnum):
    """An audit line's outcome."""

    PERMIT = "permit"
    """Allowed (an authorization decision)."""
    DENY = "deny"
    """Not allowed (an authorization decision)."""
    OK = "ok"
    """Done."""
    REFUSED = "refused"
    """Allowed, but not done: ``reason_code`` says why."""


class AuditTrail:
    """Appends to and reads the audit trail in the workbench store."""

    def __init__(self, store: WorkbenchStore) -> None:
        self._store = store

    async def record(
        self,
        action: str,
        outcome: Outcome,
        *,
        actor: str | None = None,
        item_id: str | None = None,
        subject_token: str | None = None,
        reason_code: str | None = None,
        address_fp: str | None = None,
    ) -> None:
        """Append one line (in a worker thread), tagged with the current request's id."""
        entry = AuditEntry(
            action=action,
            outcome=outcome.value,
            actor=actor,
            item_id=item_id,
            subject_token=subject_token,
            reason_code=reason_code,
            request_id=_request_id(),
            address_fp=address_fp,
        )
        await asyncio.to_thread(self._store.append_audit, entry)

    def lines(self, *, limit: int = 200, item_id: str | None = None) -> list[AuditRecord]:
        """The newest ``limit`` lines, newest first (about one item if given); call from a worker thread."""
        return self._store.audit_trail(limit=limit, item_id=item_id)


def _request_id() -> str | None:
    found = structlog.contextvars.get_contextvars().get("request_id")
    return found if isinstance(found, str) else None
