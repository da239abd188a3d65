"""FastAPI dependencies that authenticate a bearer JWT and authorize the request, audited either way.

``require(*roles)`` verifies the token (``hub.auth.tokens``), decides (``hub.auth.policy``) and
appends one ``api.authz`` row, permit or deny, in a transaction of its own before the endpoint
runs. The row names the caller (the token's ``sub``; null when no verified token), the route
template and the target (agency, key, contract) the request acts on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Final

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from consent.ids import AgreementId
from hub.audit.service import AuditEntry, append_now
from hub.auth.policy import FORBIDDEN, AuthzDecision, authorize
from hub.auth.roles import Role
from hub.auth.tokens import Principal, TokenPolicy, TokenRefused, verify
from onedoor.errors import Forbidden, ValidationFailed
from onedoor.ids import AgencyId, ContractName, KeyId
from onedoor.logging import get_logger

log = get_logger(__name__)

FORBIDDEN_MESSAGE: Final = "this token does not permit this operation"
"""The one message of every 403, so it never depends on whether the target exists."""
_SOURCE_MAX = 255  # the audit_event.source column

# Path parameters that name what a request acts on, and the type each must parse as to be recorded.
_TARGET_PARAMS: Final[dict[str, type[AgencyId | KeyId | ContractName | AgreementId]]] = {
    "agency_id": AgencyId,
    "key_id": KeyId,
    "name": ContractName,
    "agreement_id": AgreementId,
}

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerJWT",
    bearerFormat="JWT",
    description=(
        "A JWT signed with EdDSA or ES256 by the hub's issuer, with a `roles` claim "
        "(hub-operator, agency-admin with `agency`, auditor, ops-viewer). "
        "In dev, `onedoor admin token --role hub-operator` mints one."
    ),
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ActingFor = Callable[[Request, Principal], Awaitable[AgencyId | None]]
"""Which agency a request acts on for an agency-scoped principal, when no ``agency_id`` path parameter says."""


def _parsed(kind: type[AgencyId | KeyId | ContractName | AgreementId], raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return kind(raw)
    except ValidationFailed:
        return None  # a malformed id is refused later (422); it is not recorded as a target


def _parsed_agency(raw: object) -> AgencyId | None:
    return AgencyId(raw) if isinstance(raw, str) and AgencyId.pattern.fullmatch(raw) else None


async def _targets(request: Request, agency_in_body: str | None) -> dict[str, str]:
    found = {
        name: value
        for name, kind in _TARGET_PARAMS.items()
        if (value := _parsed(kind, request.path_params.get(name))) is not None
    }
    if agency_in_body and "agency_id" not in found:
        try:
            body = await request.json()  # already read and cached by FastAPI
        except ValueError:
            body = None
        agency = _parsed(AgencyId, body.get(agency_in_body)) if isinstance(body, dict) else None
        if agency is not None:
            found["agency_id"] = agency
    return found


def request_source(request: Request, targets: dict[str, str]) -> str:
    """The audit row's ``source``: method, route template and the named targets."""
    template = getattr(request.scope.get("route"), "path", "?")
    named = "".join(f" {name}={value}" for name, value in targets.items())
    return f"{request.method} {template}{named}"[:_SOURCE_MAX]


async def audit_authz(
    request: Request, *, outcome: str, actor: str | None, reason_code: str | None, source: str, why: str
) -> None:
    """Append one ``api.authz`` row (permit or deny) before the endpoint runs, and log it without the subject."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    detail = "; ".join(part for part in (f"request_id={request_id}" if request_id else "", why) if part)
    entry = AuditEntry(
        kind="api.authz", outcome=outcome, actor=actor, reason_code=reason_code, source=source, detail=detail
    )
    factory: sessionmaker[Session] = request.app.state.session_factory
    # Written before the endpoint runs: nothing is changed unaudited.
    await run_in_threadpool(append_now, factory, [entry])
    # The log line carries a fingerprint of the subject (often a person's login); the audit row has it whole.
    log.info("api.authz", outcome=outcome, actor_fp=_fingerprint(actor), reason_code=reason_code, source=source)


def _fingerprint(subject: str | None) -> str | None:
    return hashlib.sha256(subject.encode()).hexdigest()[:12] if subject is not None else None


def _why(principal: Principal, decision: AuthzDecision) -> str:
    parts = [f"token_id={principal.token_id}"] if principal.token_id else []
    parts.append(f"roles={','.join(sorted(principal.roles))}")
    parts.append(decision.explanation)
    return "; ".join(parts)


def require(
    *roles: Role, agency_in_body: str | None = None, acting_for: ActingFor | None = None
) -> Callable[[Request, Credentials], Awaitable[Principal]]:
    """A dependency admitting a valid token that holds one of ``roles`` (any token if none are named).

    An agency-admin is admitted only where ``roles`` includes it and the ``agency_id`` path
    parameter is its own agency. ``agency_in_body`` names a body field whose agency id the audit
    row records as the target (registration); it never widens what an agency-admin may do.
    ``acting_for`` finds the agency for routes whose target belongs to several agencies (an
    agreement belongs to its parties): it returns the principal's agency if the target is
    theirs, else ``None``, which refuses an agency-admin with the same 403 as a missing target.

    Raises (from the dependency):
        TokenRefused: HTTP 401 with an ``auth.*`` code for a missing or invalid token.
        Forbidden: HTTP 403 ``auth.forbidden``, the same body whatever the reason.
    """
    allowed = frozenset(roles)

    async def check(request: Request, credentials: Credentials) -> Principal:
        targets = await _targets(request, agency_in_body)
        source = request_source(request, targets)
        policy: TokenPolicy = request.app.state.token_policy
        try:
            principal = verify(credentials.credentials if credentials else "", policy, datetime.now(UTC))
        except TokenRefused as refused:
            await audit_authz(
                request,
                outcome="deny",
                actor=refused.subject,
                reason_code=refused.code,
                source=source,
                why=refused.message,
            )
            raise
        agency = _parsed_agency(request.path_params.get("agency_id"))
        if agency is None and acting_for is not None and principal.agency is not None:
            agency = await acting_for(request, principal)
        decision = authorize(principal, allowed, agency)
        outcome = "permit" if decision.permitted else "deny"
        await audit_authz(
            request,
            outcome=outcome,
            actor=principal.subject,
            reason_code=decision.reason_code,
            source=source,
            why=_why(principal, decision),
        )
        if not decision.permitted:
            raise Forbidden(FORBIDDEN, FORBIDDEN_MESSAGE)
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(require())]
"""The caller, holding any valid token."""
HubOperator = Annotated[Principal, Depends(require(Role.HUB_OPERATOR))]
"""The caller, holding a hub-operator token."""
AgencyKeyManager = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AGENCY_ADMIN))]
"""A hub operator, or an agency admin of the agency in the path."""
