"""How long a revocation and a consent withdrawal took to take effect, end to end on the real broker.

The real hub API announces each committed change on the policy topic; the real router reloads
and appends a ``policy.applied`` audit row with the effect time (reload finished minus the
change's commit time). ``GET /ops/policy-effect`` reports both, and each agrees with what the test
saw: the figure is positive, under a few seconds, no longer than from the request that made the
change to the moment the figure was shown, and the router was seen enforcing the change no later
than the reload the figure names (give or take the test's 10 ms polling). The router's periodic
refresh is a minute long, so these changes reached it by push.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from consent.agreement import AgreementState
from consent.subject import ConsentStatus
from hub.auth.roles import Role
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId, SubjectToken
from tests.e2e.hub import RunningHub, agreement_body, hub_settings, running_hub

pytestmark = pytest.mark.e2e

CHILD = SubjectToken("st1_FAKEe2eEffectSubject0001")
POLL_SLACK_MS = 250  # router_holds polls every 10 ms, on an event loop the router and the API share


def _consent(hub: RunningHub, subject: SubjectToken) -> ConsentStatus | None:
    policy = hub.router.tables.policy
    held = None if policy is None else policy.consent.get(subject)
    return None if held is None else held.status


def _applied(hub: RunningHub) -> list[tuple[object, ...]]:
    """Every ``policy.applied`` row, for a failure message."""
    with hub.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, at, agreement_id, subject_token, detail FROM audit_event WHERE kind = 'policy.applied'")
        )
        return [tuple(row) for row in rows]


async def _effects(hub: RunningHub, viewer: dict[str, str], kind: str, count: int) -> tuple[dict[str, Any], float]:
    """The figures of ``kind`` once ``count`` are reported, and when (Unix ms) they first were."""
    for _ in range(500):
        response = await hub.client.get("/ops/policy-effect", headers=viewer)
        visible = time.time() * 1000
        assert response.status_code == 200, response.text
        figures: dict[str, Any] = response.json()[kind]
        if figures["count"] >= count:
            return figures, visible
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind} effect time was reported")


async def _measured_once(hub: RunningHub, viewer: dict[str, str], kind: str, asked: float) -> dict[str, Any]:
    """Just after the router was seen enforcing a change asked for at ``asked`` (ms): its one ``kind`` figure.

    It is under 3 s, no longer than the test saw from request to figure, and names the reload by
    which the router enforced it.
    """
    seen = time.time() * 1000
    figures, visible = await _effects(hub, viewer, kind, 1)
    assert figures["count"] == 1, _applied(hub)
    assert 0 < figures["last_ms"] < 3_000
    assert figures["last_ms"] <= visible - asked, "no longer than the test saw, request to figure"
    applied_ms = datetime.fromisoformat(figures["last_at"]).timestamp() * 1000
    assert seen <= applied_ms + POLL_SLACK_MS, "the router enforced it by the reload the figure names"
    return figures


async def test_revocation_and_withdrawal_effect_times(kafka_bootstrap: str, tmp_path: Path) -> None:
    police = AgencyKeyPair.generate(AgencyId("e2e-effect-county-police"))
    council = AgencyKeyPair.generate(AgencyId("lb-e2e-effect-borough-csc"))
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        viewer = {"Authorization": f"Bearer {hub.issuer.mint(subject='e2e-ops', roles=[Role.OPS_VIEWER])}"}
        await hub.register(police, "police")
        await hub.register(council, "children-services")
        await hub.agree(agreement_body("isa-e2e-effect", police.agency, council.agency))
        before = (await hub.client.get("/ops/policy-effect", headers=viewer)).json()
        assert before["revocation"]["count"] == before["withdrawal"]["count"] == 0
        assert before["other"]["count"] >= 1, "the proposal and approvals were announced and applied too"

        # 1. Revoke: measure from just before the request to the moment the router is seen enforcing it.
        asked = time.time() * 1000
        revoked = await hub.client.post("/agreements/isa-e2e-effect/revoke", headers=hub.admin(police.agency))
        assert revoked.status_code == 200, revoked.text
        await hub.router_holds(lambda: hub.router_agreement("isa-e2e-effect") is AgreementState.REVOKED, "revoke")
        revocation = await _measured_once(hub, viewer, "revocation", asked)
        assert revocation["max_ms"] == revocation["last_ms"] == revocation["p50_ms"]

        # 2. Withdraw consent for one young person.
        asked = time.time() * 1000
        withdrawn = await hub.client.post(
            f"/consents/{CHILD}",
            json={"status": "withdrawn", "agency_id": str(council.agency), "recorded_by": "e2e-staff-0042"},
            headers=hub.admin(council.agency),
        )
        assert withdrawn.status_code == 201, withdrawn.text
        await hub.router_holds(lambda: _consent(hub, CHILD) is ConsentStatus.WITHDRAWN, "the withdrawal")
        await _measured_once(hub, viewer, "withdrawal", asked)

        # The figures are the router's own: one policy.applied row per reload the announcements caused.
        after = (await hub.client.get("/ops/policy-effect", headers=viewer)).json()
        assert after["revocation"]["count"] == 1, "the withdrawal is not counted as a revocation"
        assert hub.router.stats.policy_reloads >= 2
        refused = await hub.client.get("/ops/policy-effect", headers=hub.admin(police.agency))
        assert refused.status_code == 403, "agency admins do not see ops figures"
