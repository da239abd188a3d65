"""The ops dashboard page at ``/console`` (ops-viewer, hub-operator, auditor).

The page is a frame: its figures come live from ``GET /ops/stream`` (server-sent events of the
``hub.ops`` snapshot, the same JSON as ``GET /ops/dashboard``), which the browser reaches with
the console session cookie (``shell.console_or_bearer``). ``static/dashboard.js`` fills the
tables and draws the charts. One code path: the page, the bench and Prometheus read the same
snapshot.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from hub.auth.roles import Role
from hub.console.shell import PREFIX, ConsoleUser, console_user, render
from hub.explain.sentences import SENTENCES

router = APIRouter(include_in_schema=False)

VIEWERS: Final = (Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR)
STREAM_URL: Final = "/ops/stream"
SNAPSHOT_URL: Final = "/ops/dashboard"
DEAD_LETTERS_URL: Final = f"{PREFIX}/dead-letters"

Viewer = Annotated[ConsoleUser, Depends(console_user(*VIEWERS))]


@router.get(PREFIX)
async def dashboard_page(request: Request, user: Viewer) -> HTMLResponse:
    """The live ops dashboard: flow, refusals, latency, lag, and the fleet's sections when present."""
    return render(
        request,
        user,
        "console/dashboard.html",
        page_title="Ops dashboard",
        stream_url=STREAM_URL,
        snapshot_url=SNAPSHOT_URL,
        dead_letters_url=DEAD_LETTERS_URL,
        sentences=SENTENCES,
    )
