"""HTTP routes of dead letters: ``GET /ops/dead-letters`` and ``POST /ops/dead-letters/{message_id}/replay``.

Reading is for ops viewers, hub operators and auditors (metadata only: never a body, never a
subject token); replaying is for hub operators alone. Every call is audited by
``hub.auth.deps.require`` (``api.authz``), every replay attempt by the service
(``deadletter.replayed`` / ``deadletter.replay_refused``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.deps import require
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.deadletters import service
from hub.deadletters.models import DeadLetter
from hub.deps import WRITE_ERRORS, error_responses
from hub.explain.sentences import sentence
from hub.router.runtime import router_limits, tables_loader
from onedoor.ids import MessageId
from onedoor.settings import Settings
from onedoor.topics import TopicNames
from onedoor.web import DbSession

router = APIRouter(prefix="/ops/dead-letters", tags=["dead-letters"])

Reader = Annotated[Principal, Depends(require(Role.OPS_VIEWER, Role.HUB_OPERATOR, Role.AUDITOR))]
"""Ops viewers, hub operators and auditors."""
Operator = Annotated[Principal, Depends(require(Role.HUB_OPERATOR))]
"""Hub operators only."""
MessageIdPath = Annotated[str, Path(pattern=MessageId.pattern.pattern, description="The envelope's message id")]


class DeadLetterOut(BaseModel):
    """One dead letter, as metadata."""

    message_id: str | None
    sender: str | None
    recipients: list[str]
    contract: str | None
    contract_version: int | None
    reason_code: str
    reason: str
    """The reason code in plain English."""
    detail: str | None
    rejected_at: datetime
    dead_letter_partition: int
    dead_letter_offset: int
    source: str | None
    """``topic:partition:offset`` the router read it from (an outbound topic, or the replay topic)."""
    reported_by: str | None
    replay_state: str
    """``none``, ``replayed`` or ``refused`` (can never be replayed)."""
    replayed_at: datetime | None
    replayed_by: str | None
    replay_outcome: str | None
    refused_reason: str | None

    @classmethod
    def from_model(cls, row: DeadLetter, *, show_who: bool = True) -> DeadLetterOut:
        return cls(
            message_id=row.message_id,
            sender=row.sender,
            recipients=[r for r in (row.recipients or "").split(",") if r],
            contract=row.contract,
            contract_version=row.contract_version,
            reason_code=row.reason_code,
            reason=sentence(row.reason_code),
            detail=row.detail,
            rejected_at=row.rejected_at,
            dead_letter_partition=row.dl_partition,
            dead_letter_offset=row.dl_offset,
            source=row.source,
            reported_by=row.reported_by,
            replay_state=str(row.replay_state.value),
            replayed_at=row.replayed_at,
            replayed_by=row.replayed_by if show_who else None,
            replay_outcome=row.replay_outcome,
            refused_reason=row.refused_reason,
        )


class ReplayOut(BaseModel):
    """A dead letter handed back to the router."""

    message_id: str
    original_reason: str
    replayed_at: datetime
    replayed_by: str
    requeued_at: str
    """``topic:partition:offset`` on the replay topic the router reads."""


def replay_context(request: Request) -> service.ReplayContext:
    """The replay context of this app: its database, broker, hub key and the router's limits."""
    app = request.app
    settings: Settings = app.state.settings
    factory: sessionmaker[Session] = app.state.session_factory
    loader = getattr(app.state, "deadletters_tables", None)
    if loader is None:
        loader = app.state.deadletters_tables = tables_loader(factory, app.state.hub_key)
    bootstrap = getattr(app.state, "deadletters_bootstrap", None) or settings.kafka.bootstrap_servers
    return service.ReplayContext(
        factory=factory,
        bootstrap=bootstrap,
        topics=TopicNames(settings.kafka.topic_prefix),
        load_tables=loader,
        limits=router_limits(settings),
        credentials=settings.kafka.credentials(),
    )


@router.get("", responses=error_responses(*WRITE_ERRORS), summary="Dead letters, newest first (metadata only)")
def list_dead_letters(
    caller: Reader,
    session: DbSession,
    reason: Annotated[str | None, Query(max_length=64, description="Only this reason code")] = None,
    sender: Annotated[str | None, Query(max_length=64, description="Only from this agency")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeadLetterOut]:
    """Each dead letter's metadata and replay state; never a body or a subject token.

    Who replayed it (a person's login) is shown to hub operators and auditors, not to ops viewers.
    """
    who = caller.has(Role.HUB_OPERATOR) or caller.has(Role.AUDITOR)
    return [
        DeadLetterOut.from_model(r, show_who=who)
        for r in service.list_dead_letters(session, reason=reason, sender=sender, limit=limit)
    ]


@router.post(
    "/{message_id}/replay",
    responses=error_responses(*WRITE_ERRORS, 404, 409, 503),
    summary="Replay a dead letter once its cause is fixed (hub operator)",
)
async def replay(caller: Operator, message_id: MessageIdPath, request: Request) -> ReplayOut:
    """Re-check against the current registry, agreements and consent; if now deliverable, route it once.

    409 ``deadletter.cause_not_fixed`` (it would still be refused; the message names the current
    reason), ``deadletter.not_replayable`` (it never can be), ``deadletter.already_replayed`` or
    ``deadletter.already_delivered``: nothing changed.
    """
    source = f"POST /ops/dead-letters/{message_id}/replay"
    done = await service.replay(replay_context(request), message_id, by=caller.subject, source=source)
    return ReplayOut(
        message_id=done.message_id,
        original_reason=done.original_reason,
        replayed_at=done.replayed_at,
        replayed_by=done.replayed_by,
        requeued_at=done.requeued_at,
    )
