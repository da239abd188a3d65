"""The console's audit page: ``/console/audit`` (auditor, hub operator; others 403).

A search form (message id, agency, agreement, subject token), the matching audit rows newest
first in pages of 50, and the hash chain's status at the top: verified up to seq N at time T,
or BROKEN at record K with the code. The status is the API's background verification
(``hub.audit.monitor``); the page never verifies. A malformed filter shows the form again with
the problem, never the value typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hub.audit.api import AUDIT_READERS, monitor_of
from hub.audit.chain import utc
from hub.audit.schemas import AuditEventOut, ChainStatusOut
from hub.audit.search import SearchFilter, chain_state, search
from hub.console.shell import ConsoleUser, add_templates, console_user, db_factory, render
from onedoor.errors import ValidationFailed

add_templates(Path(__file__).parent / "templates")

router = APIRouter(prefix="/console/audit", include_in_schema=False)

TEMPLATE: Final = "console/audit/search.html"
Reader = Annotated[ConsoleUser, Depends(console_user(*AUDIT_READERS))]
Text = Annotated[str | None, Query(max_length=96)]


def _search(factory: Any, where: SearchFilter | None) -> tuple[list[AuditEventOut], int | None, Any]:
    with factory() as session:
        state = chain_state(session)
        if where is None:
            return [], None, state
        page = search(session, where)
        return [AuditEventOut.from_row(e) for e in page.events], page.next_before_seq, state


@router.get("")
async def audit_page(  # noqa: PLR0917 - one parameter per search box, as FastAPI reads them
    request: Request,
    user: Reader,
    message_id: Text = None,
    agency: Text = None,
    agreement: Text = None,
    subject_token: Text = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """Search the audit trail; the chain's verification status above the results."""
    form = {
        "message_id": (message_id or "").strip(),
        "agency": (agency or "").strip(),
        "agreement": (agreement or "").strip(),
        "subject_token": (subject_token or "").strip(),
    }
    problem: dict[str, str] | None = None
    where: SearchFilter | None = None
    try:
        where = SearchFilter.parse(
            message_id=form["message_id"],
            agency=form["agency"],
            agreement=form["agreement"],
            subject_token=form["subject_token"],
            before_seq=before_seq,
        )
    except ValidationFailed as exc:
        problem = {"code": exc.code, "message": exc.message}
    events, next_before, state = await run_in_threadpool(_search, db_factory(request), where)
    monitor = monitor_of(request)
    status = ChainStatusOut.of(state, monitor.latest if monitor is not None else None)
    next_query = {**{k: v for k, v in form.items() if v}, "before_seq": str(next_before)} if next_before else None
    return render(
        request,
        user,
        TEMPLATE,
        status=422 if problem else 200,
        form=form,
        problem=problem,
        events=events,
        searched=where is not None and not where.empty,
        next_query=next_query,
        chain=status,
        checkpoint_at=utc(status.checkpoint_at) if status.checkpoint_at else None,
    )
