"""The router's ``policy.applied`` audit row: how long an announced change took to take effect.

Pure and light (the router imports it): the event says what changed and when it committed
(``PolicyEvent.at_ms``, stamped by the API right after the commit); the router calls
``applied_row`` once the reload the event caused has finished, with the tables it now routes by,
which also say what the change was (an agreement now revoked, a consent now withdrawn).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Final, Literal

from consent.agreement import AgreementState
from consent.subject import ConsentStatus
from hub.audit.service import AuditEntry
from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind
from hub.router.tables import RoutingTables
from onedoor.errors import ValidationFailed
from onedoor.ids import AgreementId, SubjectToken

POLICY_APPLIED: Final = "policy.applied"
"""The audit kind; ``detail`` holds ``effect_ms=<n>; class=<kind>; change=<kind>; reloaded=<bool>``."""

EffectClass = Literal["revocation", "withdrawal", "other"]

_DETAIL = re.compile(r"effect_ms=(?P<ms>-?\d+); class=(?P<cls>revocation|withdrawal|other)\b")


def classify(event: PolicyEvent, tables: RoutingTables) -> EffectClass:
    """What the change was, judged by the state the router loaded for its key."""
    policy = tables.policy
    if policy is None:
        return "other"
    if event.kind is ChangeKind.AGREEMENT:
        try:
            agreement = policy.index.get(AgreementId(event.key))
        except ValidationFailed:
            return "other"
        return "revocation" if agreement is not None and agreement.state is AgreementState.REVOKED else "other"
    if event.kind is ChangeKind.CONSENT:
        state = policy.consent.get(event.key)
        return "withdrawal" if state is not None and state.status is ConsentStatus.WITHDRAWN else "other"
    return "other"


def applied_row(event: PolicyEvent, tables: RoutingTables, *, finished_ms: int, reloaded: bool) -> dict[str, Any]:
    """The audit row for a change in effect at ``finished_ms`` (Unix ms, the router's clock)."""
    effect_ms = finished_ms - event.at_ms
    kind = classify(event, tables)
    agreement = event.key if event.kind is ChangeKind.AGREEMENT and AgreementId.pattern.fullmatch(event.key) else None
    subject = event.key if event.kind is ChangeKind.CONSENT and SubjectToken.pattern.fullmatch(event.key) else None
    entry = AuditEntry(
        kind=POLICY_APPLIED,
        outcome="applied",
        actor="hub-router",
        source=f"policy-topic kind={event.kind.value}",
        agreement_id=agreement,
        subject_token=subject,
        detail=f"effect_ms={effect_ms}; class={kind}; change={event.kind.value}; reloaded={str(reloaded).lower()}",
        at=datetime.fromtimestamp(finished_ms / 1000, tz=UTC),
        latency_ms=effect_ms,
    )
    return asdict(entry)


def parse_detail(detail: str | None) -> tuple[EffectClass, int] | None:
    """``(class, effect_ms)`` from a ``policy.applied`` row's detail, or ``None`` if it is not one."""
    found = _DETAIL.search(detail or "")
    if found is None:
        return None
    cls: EffectClass = found["cls"]  # type: ignore[assignment] # the pattern admits only the three
    return cls, int(found["ms"])
