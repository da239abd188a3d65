"""HTTP routes of the fleet: connectors' heartbeats in, the ops figures out.

- ``POST /agencies/me/heartbeat``: a connector, as its agency (``AgencyCaller``: an assertion signed
  with its registered signing key; refused with 401 and audited otherwise).
- ``GET /ops/connectors``, ``GET /ops/triage``, ``GET /ops/policy-effect``: ops viewers, hub operators
  and auditors, with a bearer token or the console's session cookie (``console_or_bearer``; every
  decision audited). Metadata only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub.auth.agency import AgencyCaller
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.console.shell import console_or_bearer
from hub.deps import WRITE_ERRORS, error_responses
from hub.fleet import service
from hub.fleet.schemas import ConnectorHealth, HeartbeatIn, HeartbeatOut, PolicyEffects, TriageTimes
from onedoor.web import DbSession

router = APIRouter()

OpsReader = Annotated[Principal, Depends(console_or_bearer(Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR))]
"""An ops viewer, hub operator or auditor: a bearer token, or the console's session cookie."""
WindowS = Annotated[int | None, Query(ge=60, le=90 * 86_400, description="The window in seconds.")]


@router.post(
    "/agencies/me/heartbeat",
    tags=["agencies"],
    responses=error_responses(401, 422),
    summary="A connector's heartbeat: version, clock, keys in use, outbox counts, problems (agency assertion)",
)
def heartbeat(caller: AgencyCaller, body: HeartbeatIn, session: DbSession) -> HeartbeatOut:
    """Keep the calling agency's latest heartbeat; the answer has the clock skew the hub computed."""
    row = service.record_heartbeat(session, caller.agency, body, datetime.now(UTC))
    return HeartbeatOut(agency=str(caller.agency), received_at=row.received_at, clock_skew_ms=row.clock_skew_ms)


@router.get(
    "/ops/connectors",
    tags=["ops"],
    responses=error_responses(*WRITE_ERRORS),
    summary="Each agency's connector: last seen, version, clock skew, key expiry, outbox (ops, operator, auditor)",
)
def connectors(_caller: OpsReader, session: DbSession) -> list[ConnectorHealth]:
    """Every registered agency, by id, with what its connector last reported and the hub's flags."""
    return service.connector_health(session, datetime.now(UTC))


@router.get(
    "/ops/triage",
    tags=["ops"],
    responses=error_responses(*WRITE_ERRORS),
    summary="Time to triage public referrals: p50, p95, count; how many wait (ops, operator, auditor)",
)
def triage(_caller: OpsReader, session: DbSession, window_s: WindowS = None) -> TriageTimes:
    """Received to first triaged for referrals triaged in the window (default 7 days)."""
    window = timedelta(days=7) if window_s is None else timedelta(seconds=window_s)
    return service.time_to_triage(session, datetime.now(UTC), window)


@router.get(
    "/ops/policy-effect",
    tags=["ops"],
    responses=error_responses(*WRITE_ERRORS),
    summary="How long revocations and consent withdrawals took to take effect at the router (ops, operator, auditor)",
)
def policy_effect(_caller: OpsReader, session: DbSession, window_s: WindowS = None) -> PolicyEffects:
    """Last, median and longest effect time per kind of change in the window (default 1 day)."""
    window = timedelta(days=1) if window_s is None else timedelta(seconds=window_s)
    return service.policy_effect_times(session, window)
