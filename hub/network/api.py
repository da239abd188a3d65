"""HTTP routes of a child's professional network: thin wrappers over ``hub.network.service``.

Connectors call these as their agency (``AgencyCaller``: an assertion signed with the agency's
own key), and only ever about their own membership: ``me`` is always the calling agency. An
agency sees a network only while it is itself an open member of it; any other caller gets
``403 network.not_a_member`` whether or not the network exists. Hub operators and auditors may
read any network with their JWT (``/oversight``). Every decision is audited (``network.*``),
and the authentication itself by ``hub.auth`` (``api.authz``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.agency import AgencyCaller
from hub.auth.deps import require
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.deps import WRITE_ERRORS, error_responses
from hub.network import service
from hub.network.schemas import MemberOut, NetworkOut, SubscribeIn
from onedoor.db import transaction

router = APIRouter(prefix="/network", tags=["network"])

Overseer = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AUDITOR))]
"""A hub operator or an auditor (bearer JWT)."""


def session_factory(request: Request) -> sessionmaker[Session]:
    """The hub's session factory (set by the app's lifespan)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


@router.put(
    "/{subject_token}/members/me",
    responses=error_responses(*WRITE_ERRORS, 409),
    summary="Subscribe the calling agency to a child's network (it opened a case on the child)",
)
def subscribe(caller: AgencyCaller, subject_token: str, request: Request, body: SubscribeIn | None = None) -> MemberOut:
    """Open the calling agency's membership (idempotent); ``lead`` only if no other agency leads."""
    with transaction(session_factory(request)) as session:
        outcome = service.subscribe(session, subject_token, caller.agency, body.role if body else None)
    return MemberOut.from_model(outcome.unwrap())


@router.delete(
    "/{subject_token}/members/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*WRITE_ERRORS),
    summary="Unsubscribe the calling agency from a child's network (it closed its case)",
)
def unsubscribe(caller: AgencyCaller, subject_token: str, request: Request) -> Response:
    """Close the calling agency's membership; nothing changes if it had none."""
    with transaction(session_factory(request)) as session:
        outcome = service.unsubscribe(session, subject_token, caller.agency)
    outcome.unwrap()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{subject_token}",
    responses=error_responses(*WRITE_ERRORS),
    summary="A child's network: the agencies with an open case (for an agency that is itself a member)",
)
def lookup(caller: AgencyCaller, subject_token: str, request: Request) -> NetworkOut:
    """The open members, the lead first; ``403 network.not_a_member`` for anyone else."""
    with transaction(session_factory(request)) as session:
        outcome = service.lookup(session, subject_token, caller.agency)
    return NetworkOut.from_network(outcome.unwrap())


@router.get(
    "/{subject_token}/oversight",
    responses=error_responses(*WRITE_ERRORS),
    summary="A child's network, for a hub operator or an auditor",
)
def oversight(reader: Overseer, subject_token: str, request: Request) -> NetworkOut:
    """The open members, as an agency member would see them; audited."""
    with transaction(session_factory(request)) as session:
        outcome = service.read(session, subject_token, reader.subject)
    return NetworkOut.from_network(outcome.unwrap())
