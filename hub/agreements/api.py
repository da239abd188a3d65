"""HTTP routes of the agreement store: thin wrappers over ``hub.agreements.service``.

Hub operators and auditors read every agreement (ops viewers none); an agency admin reads, proposes,
approves, suspends and revokes only agreements its agency is a party to, and gets the same 403
for another agency's agreement as for one that does not exist. Only agency admins approve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from consent.ids import AgreementId
from hub.agreements import service
from hub.agreements.models import AgreementVersion
from hub.agreements.schemas import (
    AgreementList,
    AgreementOut,
    AgreementPropose,
    AgreementSummary,
    ApprovalIn,
    VersionOut,
)
from hub.auth.deps import FORBIDDEN_MESSAGE, require
from hub.auth.policy import FORBIDDEN, list_scope
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.deps import WRITE_ERRORS, error_responses
from onedoor.errors import Forbidden
from onedoor.ids import AgencyId
from onedoor.web import DbSession

router = APIRouter(prefix="/agreements", tags=["agreements"])

AgreementIdPath = Annotated[str, Path(pattern=f"^{AgreementId.pattern.pattern}$", max_length=64)]
VersionPath = Annotated[int, Path(ge=1)]


async def _parties(request: Request, version: int | None) -> frozenset[str]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    agreement_id = str(request.path_params["agreement_id"])

    def read() -> frozenset[str]:
        with factory() as session:
            return service.party_agencies(session, agreement_id, version)

    return await run_in_threadpool(read)


async def _party(request: Request, principal: Principal) -> AgencyId | None:
    return principal.agency if principal.agency in await _parties(request, None) else None


async def _signatory(request: Request, principal: Principal) -> AgencyId | None:
    raw = request.path_params.get("version", "")
    version = int(raw) if str(raw).isdecimal() else 0
    return principal.agency if principal.agency in await _parties(request, version) else None


async def _proposer(request: Request, principal: Principal) -> AgencyId | None:
    try:
        body = await request.json()  # already read and cached by FastAPI
    except ValueError:
        return None
    agreement = body.get("agreement") if isinstance(body, dict) else None
    parties = agreement.get("parties") if isinstance(agreement, dict) else None
    if not isinstance(parties, list) or f"agency:{principal.agency}" not in parties:
        return None
    agreement_id = agreement.get("id") if isinstance(agreement, dict) else None
    if not isinstance(agreement_id, str) or not AgreementId.pattern.fullmatch(agreement_id):
        return principal.agency  # refused as malformed (422) after authorization
    factory: sessionmaker[Session] = request.app.state.session_factory

    def read() -> frozenset[str]:
        with factory() as session:
            return service.party_agencies(session, agreement_id)

    current = await run_in_threadpool(read)
    # An amendment must come from a party of the version in force or pending, too.
    return principal.agency if not current or principal.agency in current else None


async def _own(_request: Request, principal: Principal) -> AgencyId | None:
    return principal.agency


Proposer = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AGENCY_ADMIN, acting_for=_proposer))]
# Not ops viewers: they see flow metadata only, never what an agreement shares (issue 7).
Lister = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AUDITOR, Role.AGENCY_ADMIN, acting_for=_own))]
Reader = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AUDITOR, Role.AGENCY_ADMIN, acting_for=_party))]
Approver = Annotated[Principal, Depends(require(Role.AGENCY_ADMIN, acting_for=_signatory))]
Changer = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AGENCY_ADMIN, acting_for=_party))]


def _out(rows: Sequence[AgreementVersion]) -> AgreementOut:
    in_force = next((r.version for r in rows if r.state.in_force), None)
    return AgreementOut(
        id=rows[0].agreement_id,
        in_force=in_force,
        latest=rows[-1].version,
        versions=[VersionOut.from_model(r) for r in rows],
    )


def _summary(rows: Sequence[AgreementVersion]) -> AgreementSummary:
    latest = VersionOut.from_model(rows[-1])
    return AgreementSummary(
        id=rows[0].agreement_id,
        title=latest.body.title,
        latest=latest.version,
        latest_state=latest.state,
        in_force=next((r.version for r in rows if r.state.in_force), None),
        parties=latest.body.parties,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Propose an agreement, or an amendment of its latest version (operator or a party's admin)",
)
def propose(caller: Proposer, session: DbSession, body: AgreementPropose) -> AgreementOut:
    """Store a new version as proposed; it needs an approval from an admin of every party agency."""
    row = service.propose(session, body, by=caller.subject)
    return _out(service.versions(session, row.agreement_id))


@router.get("", responses=error_responses(*WRITE_ERRORS), summary="List agreements the caller may see")
def list_agreements(caller: Lister, session: DbSession) -> AgreementList:
    """Every agreement for operators and auditors; an agency admin's own agency's otherwise."""
    scoped = list_scope(caller.roles, caller.agency)
    return AgreementList(items=[_summary(rows) for rows in service.list_ids(session, scoped)])


@router.get("/{agreement_id}", responses=error_responses(*WRITE_ERRORS, 404), summary="Get one agreement")
def get_agreement(_caller: Reader, agreement_id: AgreementIdPath, session: DbSession) -> AgreementOut:
    """One agreement with every version and every approval."""
    return _out(service.versions(session, agreement_id))


@router.post(
    "/{agreement_id}/versions/{version}/approve",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Approve a version for the caller's agency (a party's admin)",
)
def approve(
    caller: Approver, agreement_id: AgreementIdPath, version: VersionPath, body: ApprovalIn, session: DbSession
) -> AgreementOut:
    """Record the approval (verifying its signature, if given); the last party's approval makes the version active."""
    if caller.agency is None:  # unreachable: only agency-admin tokens, which name their agency, get here
        raise Forbidden(FORBIDDEN, FORBIDDEN_MESSAGE)
    service.approve(
        session,
        agreement_id,
        version,
        agency=caller.agency,
        approver=caller.subject,
        digest=body.digest,
        signature=body.signature_bytes(),
    )
    return _out(service.versions(session, agreement_id))


@router.post(
    "/{agreement_id}/suspend",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Suspend the version in force (operator or a party's admin)",
)
def suspend(caller: Changer, agreement_id: AgreementIdPath, session: DbSession) -> AgreementOut:
    """Pause the agreement; nothing is shared under it while suspended."""
    service.suspend(session, agreement_id, by=caller.subject)
    return _out(service.versions(session, agreement_id))


@router.post(
    "/{agreement_id}/revoke",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Revoke the agreement for good (operator or a party's admin)",
)
def revoke(caller: Changer, agreement_id: AgreementIdPath, session: DbSession) -> AgreementOut:
    """End the agreement: the version in force and any pending version are revoked."""
    return _out(service.revoke(session, agreement_id, by=caller.subject))
