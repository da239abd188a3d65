"""Readiness checks, converting driver failures into ``Unavailable``."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from onedoor.errors import Unavailable
from onedoor.logging import get_logger

log = get_logger(__name__)


def check_database(factory: sessionmaker[Session]) -> None:
    """Run ``SELECT 1``; raise Unavailable ``health.database_unavailable`` if it fails."""
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The driver's message may carry the URL's host and user; log only the error class.
        log.warning("health.database_unavailable", error=type(exc).__name__)
        raise Unavailable("health.database_unavailable", "the hub database is not reachable") from None
