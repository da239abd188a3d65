"""``GET /audit/events`` (search the trail) and ``GET /audit/chain`` (hash-chain status): auditors and hub operators.

Every request's authorization decision is itself audited by ``require``. The chain status
comes from the API's background verification (``hub.audit.monitor``), never a verification
per request.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request

from hub.audit.monitor import ChainMonitor
from hub.audit.schemas import AuditPageOut, ChainStatusOut
from hub.audit.search import MAX_LIMIT, SearchFilter, chain_state, search
from hub.auth.deps import require
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.deps import WRITE_ERRORS, error_responses
from onedoor.web import DbSession

router = APIRouter(prefix="/audit", tags=["audit"])

AUDIT_READERS: Final = (Role.AUDITOR, Role.HUB_OPERATOR)
"""Who may read the audit trail."""
Reader = Annotated[Principal, Depends(require(*AUDIT_READERS))]
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = error_responses(*WRITE_ERRORS)


def monitor_of(request: Request) -> ChainMonitor | None:
    """The API's chain monitor (``None`` outside an API lifespan)."""
    monitor: ChainMonitor | None = getattr(request.app.state, "audit_monitor", None)
    return monitor


@router.get("/events", responses=_RESPONSES, summary="Search audit events, newest first (auditor, hub operator)")
def list_events(  # noqa: PLR0917 - one parameter per filter, as FastAPI reads them
    _caller: Reader,
    session: DbSession,
    message_id: Annotated[str | None, Query(max_length=36, description="A message id (UUID).")] = None,
    agency: Annotated[str | None, Query(max_length=64, description="An agency that acted or was a recipient.")] = None,
    agreement: Annotated[str | None, Query(max_length=64, description="A sharing agreement's id.")] = None,
    subject_token: Annotated[str | None, Query(max_length=90, description="A subject token (st1_...).")] = None,
    kind: Annotated[str | None, Query(max_length=64, description="An event kind, e.g. route.rejected.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    before_seq: Annotated[int | None, Query(ge=1, description="Only events before this chain position.")] = None,
) -> AuditPageOut:
    """Audit rows matching every filter given, newest first; metadata only (ids, codes, times)."""
    where = SearchFilter.parse(
        message_id=message_id,
        agency=agency,
        agreement=agreement,
        subject_token=subject_token,
        kind=kind,
        limit=limit,
        before_seq=before_seq,
    )
    return AuditPageOut.from_page(search(session, where))


@router.get("/chain", responses=_RESPONSES, summary="The hash chain's head, last checkpoint and verification status")
def chain_status(_caller: Reader, request: Request, session: DbSession) -> ChainStatusOut:
    """Head seq and hash, the newest signed checkpoint, and the latest background verification."""
    monitor = monitor_of(request)
    return ChainStatusOut.of(chain_state(session), monitor.latest if monitor is not None else None)
