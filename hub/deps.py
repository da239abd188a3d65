"""What the hub's routers depend on: settings, the operator check, and documented error bodies.

Write endpoints take ``CurrentOperator``; every decision it makes, permit or deny, is appended
to the audit log in a transaction of its own before the endpoint runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.service import AuditEntry, append_now
from onedoor.errors import Forbidden, Unauthenticated, ValidationFailed
from onedoor.logging import get_logger
from onedoor.settings import Settings
from onedoor.web import ErrorBody

log = get_logger(__name__)

OPERATOR_TOKEN_FILE = "operator-token"  # noqa: S105 - a file name, not a secret
MIN_TOKEN_LENGTH = 24


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
"""The settings the app was created with."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A caller holding the operator token."""

    name: str = "operator"


def operator_token(settings: Settings) -> SecretStr:
    """The operator token: from settings, else (dev/test only) kept 0600 under the home.

    Raises:
        ValidationFailed: ``settings.operator_token_missing`` in prod without a token,
            ``settings.operator_token_weak`` if it is shorter than 24 characters, or
            ``settings.operator_token_unsafe`` if the token file is readable by others.
    """
    token = _configured_or_kept(settings)
    if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ValidationFailed("settings.operator_token_weak", f"use {MIN_TOKEN_LENGTH} or more characters")
    return token


def _configured_or_kept(settings: Settings) -> SecretStr:
    if settings.api.operator_token is not None:
        return settings.api.operator_token
    if settings.env == "prod":
        raise ValidationFailed("settings.operator_token_missing", "prod needs ONEDOOR_API__OPERATOR_TOKEN")
    path = settings.home / OPERATOR_TOKEN_FILE
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise ValidationFailed(
                "settings.operator_token_unsafe", f"{path} is readable by others; chmod 600 it"
            ) from None
        log.info("hub.operator_token", path=str(path), origin="file")
        return SecretStr(path.read_text(encoding="utf-8").strip())
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    log.info("hub.operator_token", path=str(path), origin="generated")
    return SecretStr(token)


def _same_secret(given: str, expected: str) -> bool:
    # Compare fixed-length digests in constant time so neither content nor length leaks.
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="The hub operator's bearer token (`ONEDOOR_API__OPERATOR_TOKEN`).",
)


def _audit(request: Request, outcome: str, actor: str, reason_code: str | None) -> None:
    route = request.scope.get("route")
    path = getattr(route, "path", "?")
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    factory: sessionmaker[Session] = request.app.state.session_factory
    entry = AuditEntry(
        kind="api.authz",
        outcome=outcome,
        actor=actor,
        reason_code=reason_code,
        source=f"{request.method} {path}",
        detail=f"request_id={request_id}" if request_id else None,
    )
    append_now(factory, [entry])
    log.info("api.authz", outcome=outcome, actor=actor, reason_code=reason_code, source=entry.source)


def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Operator:
    """Permit only callers presenting the operator token; audit the decision either way."""
    if credentials is None:
        _audit(request, "deny", "anonymous", "auth.missing_token")
        raise Unauthenticated("auth.missing_token", "this operation needs the operator bearer token")
    expected: SecretStr = request.app.state.operator_token
    if not _same_secret(credentials.credentials, expected.get_secret_value()):
        _audit(request, "deny", "anonymous", "auth.forbidden")
        raise Forbidden("auth.forbidden", "the token presented does not permit this operation")
    operator = Operator()
    _audit(request, "permit", operator.name, None)
    return operator


CurrentOperator = Annotated[Operator, Depends(require_operator)]
"""The operator making this request (write endpoints only)."""


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
    401: "No operator bearer token (`auth.missing_token`).",
    403: "The token does not permit this (`auth.forbidden`).",
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
"""Statuses every operator-only endpoint may answer with."""
