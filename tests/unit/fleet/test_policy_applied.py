"""The router's ``policy.applied`` row: effect time, what the change was, and its key (no more)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent import AgreementIndex, AgreementState, ConsentState
from hub.fleet.effect import POLICY_APPLIED, applied_row, classify, parse_detail
from hub.policy.bus import PolicyEvent
from hub.policy.changes import ChangeKind
from hub.router.decide import Limits
from hub.router.policy import RoutingPolicy
from hub.router.service import Router, RouterConfig
from hub.router.tables import RoutingTables
from onedoor.topics import TopicNames
from tests.factories import World
from tests.unit.consent.world import CATALOG, COUNTY_POLICE, TESTBOROUGH, agency, agreement

ISA = "isa-test-police-testborough"
TOKEN = "st1_FAKEtokenForTestsOnly00"
OTHER_TOKEN = "st1_FAKEtokenForTestsOnly01"


def _tables(state: AgreementState, consent: dict[str, ConsentState]) -> RoutingTables:
    isa = agreement(ISA, [agency(COUNTY_POLICE), agency(TESTBOROUGH)], [], state=state)
    index = AgreementIndex.build([isa], CATALOG, version=1)
    return replace(World.make().tables(), policy=RoutingPolicy(index=index, consent=consent))


def _withdrawn() -> ConsentState:
    return ConsentState.withdrawn(datetime.now(UTC) - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("event", "state", "expected"),
    [
        pytest.param(PolicyEvent(ChangeKind.AGREEMENT, ISA, 0), AgreementState.REVOKED, "revocation", id="revoked"),
        pytest.param(PolicyEvent(ChangeKind.AGREEMENT, ISA, 0), AgreementState.ACTIVE, "other", id="approved"),
        pytest.param(PolicyEvent(ChangeKind.AGREEMENT, ISA, 0), AgreementState.SUSPENDED, "other", id="suspended"),
        pytest.param(PolicyEvent(ChangeKind.AGREEMENT, "Not An Id", 0), AgreementState.REVOKED, "other", id="bad key"),
        pytest.param(PolicyEvent(ChangeKind.CONSENT, TOKEN, 0), AgreementState.ACTIVE, "withdrawal", id="withdrawn"),
        pytest.param(PolicyEvent(ChangeKind.CONSENT, OTHER_TOKEN, 0), AgreementState.ACTIVE, "other", id="given"),
        pytest.param(PolicyEvent(ChangeKind.REGISTRY, "met-police", 0), AgreementState.ACTIVE, "other", id="registry"),
    ],
)
def test_classify_by_the_state_the_router_loaded(event: PolicyEvent, state: AgreementState, expected: str) -> None:
    consent = {TOKEN: _withdrawn(), OTHER_TOKEN: ConsentState.given(datetime.now(UTC))}
    assert classify(event, _tables(state, consent)) == expected


def test_without_a_policy_everything_is_other() -> None:
    assert classify(PolicyEvent(ChangeKind.CONSENT, TOKEN, 0), World.make().tables()) == "other"


def test_the_row_carries_the_effect_time_and_the_key_the_event_names() -> None:
    tables = _tables(AgreementState.REVOKED, {TOKEN: _withdrawn()})
    revoked = applied_row(PolicyEvent(ChangeKind.AGREEMENT, ISA, 1_000), tables, finished_ms=1_250, reloaded=True)
    assert (revoked["kind"], revoked["agreement_id"], revoked["subject_token"]) == (POLICY_APPLIED, ISA, None)
    assert parse_detail(revoked["detail"]) == ("revocation", 250)
    assert revoked["at"] == datetime.fromtimestamp(1.25, tz=UTC)
    withdrawn = applied_row(PolicyEvent(ChangeKind.CONSENT, TOKEN, 1_000), tables, finished_ms=1_900, reloaded=False)
    assert (withdrawn["agreement_id"], withdrawn["subject_token"]) == (None, TOKEN)
    assert parse_detail(withdrawn["detail"]) == ("withdrawal", 900)
    assert "reloaded=false" in withdrawn["detail"]


def test_details_of_other_rows_are_not_effect_times() -> None:
    assert parse_detail("request_id=abc; roles=auditor") is None
    assert parse_detail(None) is None


async def test_the_router_appends_one_row_per_announcement_after_reloading() -> None:
    rows: list[dict[str, Any]] = []
    loads: list[float] = []

    def load() -> RoutingTables:
        loads.append(time.time())
        return _tables(AgreementState.REVOKED, {})

    config = RouterConfig(
        bootstrap_servers="127.0.0.1:9",  # never contacted: start() is not called
        topics=TopicNames("t"),
        limits=Limits(max_envelope_bytes=1 << 20, max_ttl_ms=3_600_000, clock_skew_ms=60_000),
        refresh_interval_s=60.0,
    )
    router = Router(config, load_tables=load, audit=rows.extend)
    committed_ms = int(time.time() * 1000) - 40  # the API stamped the change 40 ms ago
    await router._on_policy_change(PolicyEvent(ChangeKind.AGREEMENT, ISA, committed_ms))
    assert len(loads) == 1, "the announcement caused a reload"
    assert [r["kind"] for r in rows] == [POLICY_APPLIED]
    parsed = parse_detail(rows[0]["detail"])
    assert parsed is not None
    kind, effect_ms = parsed
    assert kind == "revocation"
    assert 40 <= effect_ms < 5_000
    assert effect_ms >= int(loads[0] * 1000) - committed_ms, "measured after the reload, not before it"


async def test_a_change_already_in_the_tables_on_arrival_is_timed_to_the_arrival() -> None:
    rows: list[dict[str, Any]] = []
    loads: list[float] = []

    def load() -> RoutingTables:
        loads.append(time.time())
        if len(loads) == 2:
            time.sleep(0.2)  # the announcement's own reload is slow: the change was in force long before it ends
        return _tables(AgreementState.REVOKED, {})

    config = RouterConfig(
        bootstrap_servers="127.0.0.1:9",
        topics=TopicNames("t"),
        limits=Limits(max_envelope_bytes=1 << 20, max_ttl_ms=3_600_000, clock_skew_ms=60_000),
        refresh_interval_s=60.0,
    )
    router = Router(config, load_tables=load, audit=rows.extend)
    committed_ms = int(time.time() * 1000) - 5
    await asyncio.sleep(0.01)
    await router._refresh(force=True)  # e.g. the periodic reload: it read the database after the commit
    await asyncio.sleep(0.2)  # the announcement arrives later (the listener was busy)
    await router._on_policy_change(PolicyEvent(ChangeKind.AGREEMENT, ISA, committed_ms))
    assert len(loads) == 2, "the router still reloads for the announcement"
    [row] = rows
    parsed = parse_detail(row["detail"])
    assert parsed is not None
    assert parsed[1] <= int(loads[1] * 1000) - committed_ms + 1, "timed to the arrival, not to the slow reload's end"
    assert row["at"].timestamp() <= loads[1] + 0.001
