"""HTTP routes of the agency registry: thin wrappers over ``hub.agencies.service``.

Reads are open (agency names and public keys are public). Writes need a hub-operator token;
an agency admin may also add and revoke the keys of its own agency (``hub.auth``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Request, status

from hub.agencies import registration, service
from hub.agencies.schemas import (
    AgencyCreate,
    AgencyIdField,
    AgencyList,
    AgencyOut,
    DirectoryOut,
    KeyCreate,
    KeyIdField,
    KeyOut,
)
from hub.audit.service import append_now
from hub.auth.agency import AgencyCaller
from hub.auth.deps import AgencyKeyManager, HubOperator, require
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.broker.service import withdraw as withdraw_broker_identity
from hub.deps import WRITE_ERRORS, SettingsDep, error_responses
from onedoor.envelope.keys import HubKey
from onedoor.errors import OneDoorError
from onedoor.ids import AgencyId, KeyId
from onedoor.web import DbSession

router = APIRouter(prefix="/agencies", tags=["agencies"])
directory_router = APIRouter(tags=["directory"])

Registrar = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, agency_in_body="id"))]
"""A hub operator registering the agency named in the body (which the audit row records)."""


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 409),
    summary="Register an agency with its signing and encryption public keys",
)
def register_agency(_caller: Registrar, session: DbSession, body: AgencyCreate) -> AgencyOut:
    """Register an agency; both keys become current."""
    return AgencyOut.from_model(service.register(session, body))


@router.get("", summary="List every agency")
def list_agencies(session: DbSession) -> AgencyList:
    """Every registered agency with its keys, by id."""
    return AgencyList(items=[AgencyOut.from_model(a) for a in service.list_all(session)])


@router.get("/{agency_id}", responses=error_responses(404), summary="Get one agency")
def get_agency(agency_id: AgencyIdField, session: DbSession) -> AgencyOut:
    """One agency with every key it has had."""
    return AgencyOut.from_model(service.get(session, agency_id))


@router.post(
    "/{agency_id}/suspend",
    responses=error_responses(*WRITE_ERRORS, 404),
    summary="Suspend an agency: the hub stops routing to and from it and withdraws its broker identity",
)
def suspend_agency(
    _caller: HubOperator,
    agency_id: AgencyIdField,
    session: DbSession,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> AgencyOut:
    """Suspend an agency (idempotent); once committed, its broker ACLs and SCRAM user go (``broker.withdrawn``)."""
    suspended = AgencyOut.from_model(service.suspend(session, agency_id))
    # Runs after the commit and the answer; a broker that does not answer is left to the reconciler.
    factory, source = request.app.state.session_factory, f"POST /agencies/{agency_id}/suspend"
    background.add_task(withdraw_broker_identity, factory, settings, agency_id, source=source)
    return suspended


@router.post(
    "/{agency_id}/reactivate",
    responses=error_responses(*WRITE_ERRORS, 404),
    summary="Reactivate a suspended agency (its connector must enrol again for a broker identity)",
)
def reactivate_agency(_caller: HubOperator, agency_id: AgencyIdField, session: DbSession) -> AgencyOut:
    """Reactivate an agency (idempotent). Its broker identity is not restored: its connector runs
    ``onedoor connector enrol`` again (``POST /broker/credentials``) for a fresh password and its ACLs."""
    return AgencyOut.from_model(service.reactivate(session, agency_id))


ApprovingOperator = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, agency_in_body="agency_id"))]
"""A hub operator approving the registration request of the agency named in the body."""


@router.post(
    "/registrations",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 409),
    summary="Approve an agency's signed registration request (onedoor connector init): register it with its keys",
)
def approve_registration(
    caller: ApprovingOperator, session: DbSession, request: Request, document: Annotated[dict[str, Any], Body()]
) -> AgencyOut:
    """Verify the request's signature with the key inside it and its age; register the agency (audited)."""
    try:
        return AgencyOut.from_model(registration.approve(session, document, actor=caller.subject))
    except OneDoorError as exc:
        entry = registration.refusal_entry(document, actor=caller.subject, code=exc.code)
        append_now(request.app.state.session_factory, [entry])
        raise


# Declared before "/{agency_id}/keys": "me" must not be taken for an agency id.
@router.post(
    "/me/keys",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Announce a new key of the calling agency (agency assertion signed with its current signing key)",
)
def add_own_key(
    caller: AgencyCaller, body: KeyCreate, session: DbSession, settings: SettingsDep, request: Request
) -> KeyOut:
    """Rotate one of the caller's keys; the old one stays valid for one envelope lifetime."""
    grace = timedelta(seconds=settings.router.max_ttl_seconds)
    try:
        key = registration.add_own_key(session, caller.agency, caller.key_id, body, retire_grace=grace)
    except OneDoorError as exc:
        what = f"announce a new {body.use.value} key"
        _audit_key_refusal(request, registration.KEY_ADDED_KIND, caller.agency, caller.key_id, exc=exc, what=what)
        raise
    return KeyOut.from_model(key)


def _audit_key_refusal(
    request: Request, kind: str, agency: AgencyId, signed_with: KeyId, *, exc: OneDoorError, what: str
) -> None:
    """Audit a refused agency-assertion key request in its own transaction (the request's rolls back)."""
    if exc.code == registration.KEY_NOT_CURRENT:
        entry = registration.refusal_key_entry(kind, agency, signed_with, exc.code, what)
        append_now(request.app.state.session_factory, [entry])


@router.post(
    "/me/keys/{key_id}/revoke",
    responses=error_responses(*WRITE_ERRORS, 404),
    summary="Revoke one of the calling agency's keys (assertion signed with its current signing key); not that key",
)
def revoke_own_key(caller: AgencyCaller, key_id: KeyIdField, session: DbSession, request: Request) -> KeyOut:
    """Revoke a compromised key at once (idempotent); only with the current signing key (``agency.key_not_current``)."""
    try:
        return KeyOut.from_model(registration.revoke_own_key(session, caller.agency, key_id, caller.key_id))
    except OneDoorError as exc:
        what = f"revoke key {key_id}"
        _audit_key_refusal(request, registration.KEY_REVOKED_KIND, caller.agency, caller.key_id, exc=exc, what=what)
        raise


@router.post(
    "/{agency_id}/keys",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Add a key: it becomes current and the previous key of that use retires (operator or own agency admin)",
)
def add_key(
    _caller: AgencyKeyManager,
    agency_id: AgencyIdField,
    body: KeyCreate,
    session: DbSession,
    settings: SettingsDep,
) -> KeyOut:
    """Rotate a key; the old one stays valid for one envelope lifetime so messages in flight still verify."""
    grace = timedelta(seconds=settings.router.max_ttl_seconds)
    return KeyOut.from_model(service.add_key(session, agency_id, body, retire_grace=grace))


@router.post(
    "/{agency_id}/keys/{key_id}/revoke",
    responses=error_responses(*WRITE_ERRORS, 404),
    summary="Revoke a key: it is never trusted again (operator, or own agency admin: not its current signing key)",
)
def revoke_key(caller: AgencyKeyManager, agency_id: AgencyIdField, key_id: KeyIdField, session: DbSession) -> KeyOut:
    """Revoke a key (idempotent); an agency admin may not revoke its current signing key (rotate first)."""
    operator = Role.HUB_OPERATOR in caller.roles
    return KeyOut.from_model(registration.revoke_key_as(session, agency_id, key_id, operator=operator))


@directory_router.get("/directory", summary="Public keys of every active agency")
def get_directory(session: DbSession, request: Request) -> DirectoryOut:
    """What connectors fetch to encrypt to recipients, verify senders and key the hub MAC."""
    hub_key: HubKey = request.app.state.hub_key
    return DirectoryOut.from_directory(service.directory_snapshot(session), hub_public_key=hub_key.public)
