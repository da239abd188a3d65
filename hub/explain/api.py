"""``GET /explain/...``: why a message was delivered or refused, or a request permitted or denied.

Hub operators and auditors see every decision. An agency admin sees the routing decisions about
messages its agency sent or was sent (``hub.explain.explain`` says exactly which), and only the
authorization decisions of its own requests (rows whose ``actor`` is its token's subject). Both
"no such id" and "not yours" are the same 404, because whether a message exists is itself
sensitive. Ops viewers get the usual 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request

from hub.auth.deps import require
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.deps import WRITE_ERRORS, error_responses
from hub.explain import service
from hub.explain.explain import EVERYONE, Explanation, Viewer
from hub.explain.schemas import ExplanationOut
from onedoor.errors import NotFound
from onedoor.ids import AgencyId, MessageId
from onedoor.web import DbSession, ErrorBody

router = APIRouter(prefix="/explain", tags=["explain"])

NOT_FOUND: Final = "explain.not_found"
NOT_FOUND_MESSAGE: Final = "no decision is recorded under this id that this token may see"
"""The one 404 message, whether nothing was recorded or the caller may not see it."""
REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""The request ids the hub records (``hub.app``): its own uuid4 hex, or a plain one the caller sent."""

MessageIdPath = Annotated[str, Path(pattern=f"^{MessageId.pattern.pattern}$", max_length=36)]
RequestIdPath = Annotated[str, Path(pattern=f"^{REQUEST_ID_PATTERN}$", max_length=64)]

_SEE_ALL: Final = frozenset({Role.HUB_OPERATOR, Role.AUDITOR})
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    **error_responses(*WRITE_ERRORS),
    404: {"model": ErrorBody, "description": "Nothing recorded under this id that the caller may see."},
}


async def _own(_request: Request, principal: Principal) -> AgencyId | None:
    # Admitted for its own agency; which rows it sees is decided per row below.
    return principal.agency


Explainer = Annotated[Principal, Depends(require(Role.HUB_OPERATOR, Role.AUDITOR, Role.AGENCY_ADMIN, acting_for=_own))]


def _viewer(caller: Principal) -> Viewer:
    if caller.roles & _SEE_ALL:
        return EVERYONE
    if caller.agency is None:  # unreachable: ``require`` admits only agency admins, which name their agency
        raise NotFound(NOT_FOUND, NOT_FOUND_MESSAGE)
    return Viewer(agency=caller.agency, subject=caller.subject)


def _found(explanation: Explanation | None) -> ExplanationOut:
    if explanation is None:
        raise NotFound(NOT_FOUND, NOT_FOUND_MESSAGE)
    return ExplanationOut.from_explanation(explanation)


@router.get(
    "/messages/{message_id}",
    responses=_RESPONSES,
    summary="Why a message was delivered or refused (operator, auditor, or an admin of its sender or a recipient)",
)
def explain_message(caller: Explainer, message_id: MessageIdPath, session: DbSession) -> ExplanationOut:
    """Every routing decision recorded about the message, each reason with its sentence."""
    return _found(service.message(session, message_id, _viewer(caller)))


@router.get(
    "/requests/{request_id}",
    responses=_RESPONSES,
    summary="Why an API request was permitted or denied (operator, auditor, or the admin who made it)",
)
def explain_request(caller: Explainer, request_id: RequestIdPath, session: DbSession) -> ExplanationOut:
    """Every authorization decision recorded under the request id (its ``X-Request-ID``)."""
    return _found(service.request(session, request_id, _viewer(caller)))
