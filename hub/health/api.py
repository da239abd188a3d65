"""``/healthz`` (liveness) and ``/readyz`` (readiness) for orchestrators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session, sessionmaker

from hub.deps import error_responses
from hub.health.schemas import Liveness, Readiness
from hub.health.service import check_database

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process serves HTTP")
def healthz() -> Liveness:
    """Always ok while the process runs; checks no dependency."""
    return Liveness()


@router.get("/readyz", responses=error_responses(503), summary="Readiness: the database answers")
def readyz(request: Request) -> Readiness:
    """Ok when the database answers ``SELECT 1``; 503 ``health.database_unavailable`` otherwise."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    check_database(factory)
    return Readiness()
