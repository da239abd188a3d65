"""Which agencies another agency may share with: an agreement in force between them, at the hub.

"In force" is what the consent engine permits under: the agreement's governing version is
``active`` (not proposed, suspended, revoked or expired) and ``now`` is inside its period. Both
agencies are named parties of it; an agreement binds its parties both ways here, whatever its
provisions say about direction. Group parties count for nothing: the hub keeps no group
memberships (``hub.agreements.service.catalog``), so it cannot say who is in a group, and a
lookup shows less rather than more (fail closed). The rows read are the ones
``hub.agreements.service.active_agreements`` governs by (``GET /policy``, the router).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, noload

from consent.actors import ActorScope
from consent.period import Period, to_ms
from hub.agreements.lifecycle import VersionState
from hub.agreements.models import AgreementVersion
from hub.agreements.schemas import AgreementBody, parse_actor


def partners_among(session: Session, agency: str, others: Iterable[str], now: datetime) -> frozenset[str]:
    """Those of ``others`` with which ``agency`` has an agreement in force at ``now`` (``agency`` itself excluded)."""
    wanted = {o for o in others if o != agency}
    if not wanted:
        return frozenset()
    at = to_ms(now)
    rows = session.scalars(
        select(AgreementVersion)
        .where(AgreementVersion.state == VersionState.ACTIVE)
        .options(noload(AgreementVersion.approvals))
    )
    found: set[str] = set()
    for row in rows:
        body = AgreementBody.model_validate(row.body)
        named = {a.name for a in map(parse_actor, body.parties) if a.scope is ActorScope.AGENCY}
        if agency in named and Period(body.valid_from, body.valid_until).contains(at):
            found |= named & wanted
    return frozenset(found)
