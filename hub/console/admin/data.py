"""What the admin pages read from the hub's tables, as plain values for the pure view modules."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.registry.models import ContractVersion
from hub.agencies.models import Agency
from hub.audit.models import AuditEvent
from hub.console.admin.summary import ContractTags


def contract_tags(session: Session, names: Iterable[str] | None = None) -> ContractTags:
    """Every registered version's field tags, by contract name and version (of ``names`` only, if given)."""
    stmt = select(ContractVersion.name, ContractVersion.version, ContractVersion.tags)
    if names is not None:
        stmt = stmt.where(ContractVersion.name.in_(list(names)))
    out: dict[str, dict[int, dict[str, str]]] = {}
    for name, version, tags in session.execute(stmt.order_by(ContractVersion.name, ContractVersion.version)):
        out.setdefault(name, {})[version] = dict(tags)
    return out


def agency_names(session: Session) -> dict[str, str]:
    """Every registered agency's display name, by id."""
    return dict(session.execute(select(Agency.id, Agency.display_name)).tuples().all())


def agreement_history(session: Session, agreement_id: str) -> list[AuditEvent]:
    """The ``agreement.*`` audit rows of one agreement, oldest first (who proposed, approved, revoked, when)."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.kind.like("agreement.%"), AuditEvent.source.like(f"agreement:{agreement_id}:v%"))
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(stmt))
