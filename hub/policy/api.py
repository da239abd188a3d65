"""``GET /policy``: the sharing policy connectors enforce, open to read like ``/directory``.

Agreement terms, agency kinds and contract tags are not personal data, and every connector
needs them to project what it sends and check what it receives. ``ETag`` and
``If-None-Match`` make a connector's periodic refresh cheap when nothing changed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from hub.agreements import service
from hub.agreements.schemas import AgreementBody
from hub.deps import error_responses
from hub.policy.document import document_from
from hub.policy.schemas import PolicyDocument
from onedoor.web import DbSession

router = APIRouter(tags=["policy"])


def snapshot(session: Session) -> PolicyDocument:
    """The policy document as the hub's router loads it: governing versions and their catalogue."""
    agreements = service.active_agreements(session)
    catalog = service.catalog_for(session, agreements)
    stored = {(row.agreement_id, row.version): row.body for rows in service.list_ids(session) for row in rows}
    bodies = [(AgreementBody.model_validate(stored[(a.id, a.version)]), a) for a in agreements]
    return document_from(bodies, catalog)


@router.get(
    "/policy",
    response_model=PolicyDocument,
    responses={
        status.HTTP_304_NOT_MODIFIED: {"description": "Unchanged since the `ETag` in `If-None-Match`."},
        **error_responses(422),
    },
    summary="Agreements, agency kinds and contract tags: what connectors decide sharing with",
)
def get_policy(session: DbSession, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The governing version of every agreement, the agencies' kinds, the groups named and each
    contract version's field tags; ``version`` (also the ``ETag``) changes when any of it does."""
    document = snapshot(session)
    etag = f'"{document.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return JSONResponse(document.model_dump(mode="json"), headers=headers)
