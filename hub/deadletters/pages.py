"""The console's dead-letter page: ``/console/dead-letters`` (ops viewer, hub operator, auditor).

A table of dead letters, newest first (when, sender to recipients, contract, the reason code
with its plain-English sentence, the replay state), filterable by reason and sender. A hub
operator also sees a Replay button on each row that may still be replayed; it posts the form
(with the session's CSRF token) to ``/console/dead-letters/{message_id}/replay`` and gets the
same page back with a clear message: handed back to the router, or refused and why (the cause
is not fixed, naming the current reason: nothing was changed). Metadata only: never a body,
never a subject token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hub.auth.roles import Role
from hub.console.shell import ConsoleUser, add_templates, console_user, db_factory, form_with_csrf, render
from hub.deadletters import service
from hub.deadletters.api import replay_context
from hub.deadletters.models import ReplayState
from hub.explain.sentences import sentence
from onedoor.errors import Conflict, NotFound, Unavailable
from onedoor.ids import MessageId

add_templates(Path(__file__).parent / "templates")

router = APIRouter(prefix="/console/dead-letters", include_in_schema=False)

VIEWERS = (Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR)
TEMPLATE = "console/dead_letters/list.html"

Viewer = Annotated[ConsoleUser, Depends(console_user(*VIEWERS))]
Operator = Annotated[ConsoleUser, Depends(console_user(Role.HUB_OPERATOR))]


def _rows(reason: str | None, sender: str | None, factory: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with factory() as session:
        letters = service.list_dead_letters(session, reason=reason, sender=sender)
        summary = service.summary(session)
        rows = [
            {
                "message_id": r.message_id,
                "rejected_at": r.rejected_at,
                "sender": r.sender,
                "recipients": [x for x in (r.recipients or "").split(",") if x],
                "contract": r.contract,
                "contract_version": r.contract_version,
                "reason_code": r.reason_code,
                "sentence": sentence(r.reason_code),
                "detail": r.detail,
                "reported_by": r.reported_by,
                "state": r.replay_state.value,
                "replayable": r.replay_state is ReplayState.NONE and r.message_id is not None,
                "replayed_at": r.replayed_at,
                "replayed_by": r.replayed_by,
                "replay_outcome": r.replay_outcome,
                "refused_reason": r.refused_reason,
            }
            for r in letters
        ]
        return rows, {"total": summary.total, "by_reason": summary.by_reason, "awaiting": summary.awaiting_replay}


async def _page(
    request: Request,
    user: ConsoleUser,
    *,
    reason: str | None = None,
    sender: str | None = None,
    status: int = 200,
    notice: dict[str, str] | None = None,
) -> HTMLResponse:
    rows, counts = await run_in_threadpool(_rows, reason or None, sender or None, db_factory(request))
    return render(
        request,
        user,
        TEMPLATE,
        status=status,
        page_title="Dead letters",
        rows=rows,
        counts=counts,
        reason=reason or "",
        sender=sender or "",
        can_replay=user.has(Role.HUB_OPERATOR),
        show_who=user.has(Role.HUB_OPERATOR, Role.AUDITOR),
        notice=notice,
    )


@router.get("")
async def dead_letters_page(
    request: Request,
    user: Viewer,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    sender: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Dead letters, newest first; a Replay button per replayable row for a hub operator."""
    return await _page(request, user, reason=reason, sender=sender)


@router.post("/{message_id}/replay")
async def replay_from_page(
    request: Request,
    user: Operator,
    message_id: Annotated[str, PathParam(pattern=MessageId.pattern.pattern)],
) -> HTMLResponse:
    """Replay one dead letter; the page again, with what happened (nothing changed when refused)."""
    await form_with_csrf(request, user)
    source = f"POST /console/dead-letters/{message_id}/replay"
    try:
        done = await service.replay(replay_context(request), message_id, by=user.subject, source=source)
    except (Conflict, NotFound, Unavailable) as exc:
        notice = {"kind": "refused", "code": exc.code, "message": exc.message, "message_id": message_id}
        return await _page(request, user, status=exc.http_status, notice=notice)
    notice = {
        "kind": "replayed",
        "code": "deadletter.replayed",
        "message": (
            f"Replayed: the message was handed back to the router ({done.requeued_at}). "
            f"It was first refused with {done.original_reason}."
        ),
        "message_id": message_id,
    }
    return await _page(request, user, notice=notice)
