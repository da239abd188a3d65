"""FastAPI glue shared by every router: the session dependency and the one error renderer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from onedoor.errors import OneDoorError
from onedoor.logging import get_logger

log = get_logger(__name__)


class ErrorBody(BaseModel):
    """What every error response looks like."""

    code: str
    """Stable machine-readable code, e.g. ``contract.incompatible``."""
    message: str
    """A sentence for a person."""
    error_id: str
    """Quote this to support; the same id is in the hub's log."""


def _session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


# scope="function": commit before the response is sent, so a failed commit is an error
# response rather than a success already on the wire (FastAPI's default runs it afterwards).
DbSession = Annotated[Session, Depends(_session, scope="function")]
"""A database session whose transaction commits when the request succeeds."""


def install_error_handlers(app: FastAPI) -> None:
    """Render every OneDoorError as ``{code, message, error_id}`` with its HTTP status."""

    @app.exception_handler(OneDoorError)
    async def _render(_request: Request, exc: OneDoorError) -> JSONResponse:
        error_id = uuid.uuid4().hex
        log.info("request.error", code=exc.code, error_id=error_id, status=exc.http_status)
        body = ErrorBody(code=exc.code, message=exc.message, error_id=error_id)
        return JSONResponse(status_code=exc.http_status, content=body.model_dump())
