"""Mark what a transaction changed; announce it only once the transaction has committed.

Service functions call ``mark_changed(session, kind, key)`` inside the caller's transaction.
``announce_commits(factory, publish)`` hooks the session factory so that, after a commit (and
only then: a rolled-back change was never real), each marked change is handed to ``publish``.
A router that reloads on the announcement therefore always reads the committed state.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Final

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_KEY: Final = "onedoor.policy_changes"


class ChangeKind(StrEnum):
    """What changed, so a router knows what to reload."""

    AGREEMENT = "agreement"
    """An agreement's state or version: rebuild the agreement index."""
    CONSENT = "consent"
    """One young person's consent records (key: the subject token)."""
    REGISTRY = "registry"
    """Agencies, keys or contracts."""


Change = tuple[ChangeKind, str]
Publish = Callable[[list[Change]], None]
"""Called after commit with the changes; must not block (it only hands them over)."""


def mark_changed(session: Session, kind: ChangeKind, key: str) -> None:
    """Record that this transaction changed ``kind``/``key``; announced if and when it commits."""
    pending: list[Change] = session.info.setdefault(_KEY, [])
    if (kind, key) not in pending:
        pending.append((kind, key))


def announce_commits(factory: sessionmaker[Session], publish: Publish) -> None:
    """Hand each committed transaction's marked changes to ``publish``."""

    def after_commit(session: Session) -> None:
        changes = session.info.pop(_KEY, None)
        if changes:
            publish(changes)

    def after_rollback(session: Session) -> None:
        session.info.pop(_KEY, None)

    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)
