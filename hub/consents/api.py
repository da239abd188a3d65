"""HTTP routes of the consent records: thin wrappers over ``hub.consents.service``.

Least privilege, because a consent record says a young person is known to an agency:

- **Writes** (record a status, record an emergency override, review one): an agency admin,
  for its own agency only: the ``agency_id`` in the body, or for a review the override's
  agency. Hub operators, auditors and ops viewers write nothing.
- **Reads** (``GET /consents/{subject_token}``): auditors see everything. An agency admin sees
  a token only if its agency has recorded a status or an override for it: then the current
  state (whoever recorded it; other agencies' people and references left out) and its own
  agency's history. For any other token, including one with no records at all, it gets the
  same 403, so existence is never revealed. Hub operators and ops viewers read nothing.

Every call is audited by ``hub.auth.deps.require`` (``api.authz``); every change by the service
(``consent.*``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.auth.deps import FORBIDDEN_MESSAGE, require
from hub.auth.policy import FORBIDDEN
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.consents import service
from hub.consents.schemas import (
    ConsentIn,
    ConsentOut,
    ConsentRecordOut,
    ConsentStateOut,
    OverrideIn,
    OverrideOut,
    ReviewIn,
    SubjectTokenField,
)
from hub.deps import WRITE_ERRORS, error_responses
from onedoor.errors import Forbidden
from onedoor.ids import AgencyId, SubjectToken
from onedoor.web import DbSession

router = APIRouter(prefix="/consents", tags=["consents"])

OverrideIdPath = Annotated[int, Path(ge=1)]


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def _path_token(request: Request) -> str | None:
    raw = request.path_params.get("subject_token")
    return raw if isinstance(raw, str) and SubjectToken.pattern.fullmatch(raw) else None


async def _named_in_body(request: Request, principal: Principal) -> AgencyId | None:
    try:
        body = await request.json()  # already read and cached by FastAPI
    except ValueError:
        return None
    if not isinstance(body, dict) or "agency_id" not in body:
        return principal.agency  # refused as malformed (422) after authorization
    return principal.agency if body["agency_id"] == principal.agency else None


async def _recorder(request: Request, principal: Principal) -> AgencyId | None:
    token = _path_token(request)
    if token is None:
        return principal.agency  # refused as malformed (422) after authorization; reveals nothing

    def read() -> frozenset[str]:
        with _factory(request)() as session:
            return service.recording_agencies(session, token)

    return principal.agency if principal.agency in await run_in_threadpool(read) else None


async def _override_owner(request: Request, principal: Principal) -> AgencyId | None:
    token = _path_token(request)
    raw = str(request.path_params.get("override_id", ""))
    if token is None or not raw.isdecimal():
        return principal.agency  # refused as malformed (422) after authorization; reveals nothing

    def read() -> str | None:
        with _factory(request)() as session:
            return service.override_agency(session, token, int(raw))

    owner = await run_in_threadpool(read)
    return principal.agency if owner is not None and owner == principal.agency else None


Recorder = Annotated[
    Principal, Depends(require(Role.AGENCY_ADMIN, agency_in_body="agency_id", acting_for=_named_in_body))
]
"""An agency admin recording for its own agency (the body's ``agency_id``)."""
Reviewer = Annotated[Principal, Depends(require(Role.AGENCY_ADMIN, acting_for=_override_owner))]
"""An agency admin of the agency that recorded the override."""
Reader = Annotated[Principal, Depends(require(Role.AUDITOR, Role.AGENCY_ADMIN, acting_for=_recorder))]
"""An auditor, or an admin of an agency that has recorded something for the token."""


def _scope(caller: Principal) -> AgencyId | None:
    """The agency whose history the caller sees; ``None``: everything (auditors)."""
    if caller.has(Role.AUDITOR):
        return None
    if caller.agency is None:  # unreachable: only agency-admin tokens, which name their agency, get here
        raise Forbidden(FORBIDDEN, FORBIDDEN_MESSAGE)
    return caller.agency


def _out(history: service.ConsentHistory, scope: AgencyId | None) -> ConsentOut:
    def full(agency_id: str) -> bool:
        return scope is None or agency_id == scope

    now = datetime.now(UTC)
    latest = history.latest
    override = history.override(now)
    return ConsentOut(
        subject_token=history.token,
        state=ConsentStateOut(
            status=history.state(now).status,
            record=None if latest is None else ConsentRecordOut.from_model(latest, full=full(latest.agency_id)),
            override=None if override is None else OverrideOut.from_model(override, full=full(override.agency_id)),
        ),
        records=[ConsentRecordOut.from_model(r, full=True) for r in history.records if full(r.agency_id)],
        overrides=[OverrideOut.from_model(o, full=True) for o in history.overrides if full(o.agency_id)],
    )


@router.post(
    "/{subject_token}",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS),
    summary="Record a consent status for a young person (an agency admin, for its own agency)",
)
def record(caller: Recorder, subject_token: SubjectTokenField, body: ConsentIn, session: DbSession) -> ConsentOut:
    """Append the status; it is the young person's consent state at once, for every new message."""
    service.record(session, subject_token, body)
    return _out(service.history(session, subject_token), _scope(caller))


@router.post(
    "/{subject_token}/overrides",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 409),
    summary="Record an emergency override of a refusal or withdrawal (an agency admin, for its own agency)",
)
def record_override(
    _caller: Recorder, subject_token: SubjectTokenField, body: OverrideIn, session: DbSession
) -> OverrideOut:
    """Append a time-boxed override (at most 72 hours); it applies only once a second person reviews it."""
    return OverrideOut.from_model(service.record_override(session, subject_token, body), full=True)


@router.post(
    "/{subject_token}/overrides/{override_id}/review",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Review an emergency override as the second person (an admin of the agency that recorded it)",
)
def review_override(
    caller: Reviewer,
    subject_token: SubjectTokenField,
    override_id: OverrideIdPath,
    body: ReviewIn,
    session: DbSession,
) -> ConsentOut:
    """Record the review; from now until it expires the consent engine is given the override."""
    service.review_override(session, subject_token, override_id, body)
    return _out(service.history(session, subject_token), _scope(caller))


@router.get(
    "/{subject_token}",
    responses=error_responses(*WRITE_ERRORS),
    summary="A young person's consent state and history (an auditor, or an admin of an agency that recorded it)",
)
def get_consent(caller: Reader, subject_token: SubjectTokenField, session: DbSession) -> ConsentOut:
    """The consent state the engine is given now and the history the caller may see."""
    return _out(service.history(session, subject_token), _scope(caller))
