"""The one audit helper of ``hub.network`` and ``hub.transfers``: a ``network.*`` or ``transfer.*`` row.

Subject tokens and agency ids only; a malformed token is recorded as ``None`` (its value is
never kept: it could be a name typed into the wrong field).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.audit.service import AuditEntry, append
from onedoor.ids import SubjectToken


def record(
    session: Session,
    kind: str,
    outcome: str,
    actor: str,
    *,
    source: str,
    token: SubjectToken | str | None,
    now: datetime,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one decision row inside the caller's transaction."""
    append(
        session,
        [
            AuditEntry(
                kind=kind,
                outcome=outcome,
                actor=actor,
                reason_code=reason,
                source=source,
                subject_token=None if token is None else str(token),
                detail=detail,
                at=now,
            )
        ],
    )
