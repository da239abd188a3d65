"""What the hub's routers share: the settings dependency and documented error bodies.

Authentication and authorization live in ``hub.auth.deps``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel

from onedoor.settings import Settings
from onedoor.web import ErrorBody


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
"""The settings the app was created with."""


class FieldProblem(BaseModel):
    """One thing wrong with a request; never echoes the submitted value."""

    location: str
    """Where, e.g. ``body.signing_public_key`` or ``path.agency_id``."""
    code: str
    """What, e.g. ``missing`` or ``agency.bad_public_key``."""
    message: str


class RequestInvalidBody(ErrorBody):
    """A 422: ``code`` is ``request.invalid``, or the one domain code every problem shares."""

    fields: list[FieldProblem]


_DESCRIPTIONS = {
    401: "No bearer token, or one that does not verify (`auth.missing_token`, `auth.expired`, ...).",
    403: "The token's roles do not permit this (`auth.forbidden`); the same body whether or not the target exists.",
    404: "No such agency or key.",
    409: "Conflicts with the registry's state.",
    422: "The request is malformed; `fields` says where.",
    500: "Unexpected failure; quote `error_id`.",
    503: "A dependency (the database) is unreachable; retry later.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting our error bodies for ``statuses``."""
    return {
        status: {"model": RequestInvalidBody if status == 422 else ErrorBody, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


WRITE_ERRORS = (401, 403)
"""Statuses every endpoint that needs a token may answer with."""
