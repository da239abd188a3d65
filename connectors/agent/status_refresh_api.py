"""``POST /status/refresh``: read the status records again now, instead of at the next interval.

For the agency's own systems (after a bulk update of its case system) and for operators. Behind
the connector's bearer token. The answer holds counts only: whether a new index was swapped in
and how many records it holds. Errors: ``status.refresh_off`` (404: ``status_refresh_seconds``
is 0) and ``status.refresh_failed`` (503: the records could not be read; the previous index still
answers, and ``/healthz`` shows the problem until a refresh succeeds).
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from pydantic import BaseModel

from connectors.agent.status_refresh import REFRESH_FAILED, StatusRefresh
from onedoor.errors import NotFound, Unavailable

REFRESH_OFF: Final = "status.refresh_off"


class StatusRefreshOut(BaseModel):
    """What one refresh did (counts only)."""

    changed: bool
    """Whether the records had changed, so a new index now answers."""
    records: int
    """How many records the index holds."""


router = APIRouter()


@router.post("/status/refresh", tags=["owner"])
async def refresh_status(request: Request) -> StatusRefreshOut:
    """Read the status records (records file, adapters) again now; rebuild the index if they changed."""
    refresh: StatusRefresh | None = getattr(request.app.state.backend, "status_refresh", None)
    if refresh is None:
        raise NotFound(REFRESH_OFF, "the status refresh is off (status_refresh_seconds is 0)")
    done = await refresh.refresh_now()
    if done is None:
        raise Unavailable(REFRESH_FAILED, "the status records could not be read; the previous index still answers")
    return StatusRefreshOut(changed=done.changed, records=done.records)
