"""Consent decisions per second and per-decision latency over a synthetic federation.

``measure()`` builds 400 agencies and 10,000 agreements (obviously fake), draws a mix of
flows, warms the index's memo once, then measures the steady state the hub and the
connectors see: agreement-level outcomes from the memo, the subject's consent applied on
every call. ``python -m bench.consent`` also prints the cold (memo miss) cost and the build time.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from consent import (
    AccessLevel,
    Action,
    Actor,
    Agreement,
    AgreementId,
    AgreementIndex,
    AgreementState,
    Article6,
    Article9,
    Catalog,
    ConsentState,
    DataClass,
    DecisionRequest,
    DpaCondition,
    EmergencyOverride,
    GroupName,
    LawfulBasis,
    Member,
    Period,
    Provision,
    Statute,
    TaggedContract,
    decide,
)
from consent.purposes import PURPOSES
from contracts.catalog import bundled_contract
from onedoor.ids import AgencyId, Purpose

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
KINDS = (  # roughly England's mix, scaled to 400
    ("police", 43),
    ("children-services", 150),
    ("youth-offending", 100),
    ("education", 60),
    ("health", 20),
    ("charity", 27),
)
SAFEGUARDING = LawfulBasis(
    Article6.PUBLIC_TASK,
    Article9.SUBSTANTIAL_PUBLIC_INTEREST,
    frozenset({DpaCondition.SCH1_PARA18, DpaCondition.SCH8_PARA4}),
    frozenset({Statute.CHILDREN_ACT_2004_S11}),
)
CONSENT = LawfulBasis(Article6.CONSENT, Article9.EXPLICIT_CONSENT, frozenset({DpaCondition.SCH1_PARA29}))
STATES = [AgreementState.ACTIVE] * 92 + [AgreementState.REVOKED] * 3 + [AgreementState.SUSPENDED] * 2
STATES += [AgreementState.PROPOSED] * 2 + [AgreementState.EXPIRED]


def metric(value: float, unit: str, conditions: str) -> dict[str, Any]:
    """The same shape as ``bench.__main__.metric`` (not imported: that module starts Kafka tooling)."""
    return {"value": round(value, 3), "unit": unit, "conditions": conditions}


@dataclass
class Federation:
    index: AgreementIndex
    requests: list[DecisionRequest]
    build_s: float


def _members(count: int, rnd: random.Random) -> list[Member]:
    total = sum(n for _, n in KINDS)
    members: list[Member] = []
    for kind, share in KINDS:
        for i in range(max(1, share * count // total)):
            groups = {GroupName(f"fake-region-{rnd.randrange(9)}")}
            if kind == "children-services" and i < 32:
                groups.add(GroupName("fake-london-boroughs"))
            members.append(Member(AgencyId(f"fake-{kind}-{i:03d}"), kind, frozenset(groups)))
    return members[:count]


def _bilateral(n: int, a: AgencyId, b: AgencyId, contracts: list[TaggedContract], rnd: random.Random) -> Agreement:
    purposes = rnd.sample(sorted(PURPOSES), rnd.randint(1, 3))
    forward = rnd.choice([AccessLevel.FULL, AccessLevel.LIMITED])
    exceptions = []
    if forward is AccessLevel.FULL and rnd.random() < 0.3:
        exceptions.append(Provision.deny(classes=[DataClass.HEALTH, DataClass.CRIMINAL_INTELLIGENCE]))
    provisions = [
        Provision.permit(senders=Actor.agency(a), recipients=Actor.agency(b), classes=forward, provisions=exceptions),
        Provision.permit(
            senders=Actor.agency(b),
            recipients=Actor.agency(a),
            classes=rnd.choice([AccessLevel.LIMITED.classes, {DataClass.OPERATIONAL, DataClass.SAFEGUARDING}]),
        ),
    ]
    if rnd.random() < 0.2:
        provisions.append(Provision.permit(actions=[Action.QUERY], classes=[DataClass.OPERATIONAL]))
    state = rnd.choice(STATES)
    period = Period(None, NOW - timedelta(days=30)) if state is AgreementState.EXPIRED else Period()
    return Agreement(
        id=AgreementId(f"isa-fake-{n:05d}"),
        version=rnd.randint(1, 3),
        state=AgreementState.ACTIVE if state is AgreementState.EXPIRED else state,
        parties=frozenset({Actor.agency(a), Actor.agency(b)}),
        contracts=frozenset(c.name for c in contracts[: rnd.randint(2, 3)]),
        purposes=frozenset(Purpose(p) for p in purposes),
        provisions=tuple(provisions),
        lawful_basis=CONSENT if rnd.random() < 0.1 else SAFEGUARDING,
        retention=timedelta(days=365),
        review_date=date(2027, 1, 1),
        period=period,
    )


def _group(n: int, a: AgencyId, group: GroupName, contracts: list[TaggedContract], rnd: random.Random) -> Agreement:
    return Agreement(
        id=AgreementId(f"isa-fake-group-{n:05d}"),
        version=1,
        state=AgreementState.ACTIVE,
        parties=frozenset({Actor.agency(a), Actor.group(group)}),
        contracts=frozenset(c.name for c in contracts[:2]),
        purposes=frozenset({Purpose("safeguarding-referral"), Purpose("safeguarding-alert")}),
        provisions=(
            Provision.permit(senders=Actor.agency(a), recipients=Actor.group(group), classes=AccessLevel.LIMITED),
            Provision.permit(
                senders=Actor.group(group),
                recipients=Actor.agency(a),
                classes=[DataClass.OPERATIONAL, DataClass.SAFEGUARDING],
            ),
            Provision.deny(recipients=Actor.kind("charity"), classes=[DataClass.CONTACT]),
        ),
        lawful_basis=SAFEGUARDING,
        retention=timedelta(days=365),
        review_date=date(2025, 12, 1) if rnd.random() < 0.1 else date(2027, 1, 1),
    )


def _consent(rnd: random.Random) -> ConsentState | None:
    roll = rnd.random()
    if roll < 0.2:
        return None
    if roll < 0.6:
        return ConsentState.given(NOW - timedelta(days=10))
    if roll < 0.75:
        return ConsentState.not_recorded()
    if roll < 0.85:
        return ConsentState.not_sought_risk(NOW - timedelta(days=3), justification="Synthetic.", recorded_by="fake-dsl")
    if roll < 0.93:
        return ConsentState.refused(NOW - timedelta(days=5))
    override = EmergencyOverride(
        "Synthetic.", "fake-worker", "fake-manager", NOW - timedelta(hours=2), NOW + timedelta(hours=20)
    )
    return ConsentState.withdrawn(NOW - timedelta(days=1)).with_override(override)


def federation(agencies: int = 400, agreements: int = 10_000, flows: int = 20_000, seed: int = 7) -> Federation:
    """A synthetic federation, its index, and ``flows`` decision requests to replay."""
    rnd = random.Random(seed)
    members = _members(agencies, rnd)
    ids = [m.agency for m in members]
    police = [m.agency for m in members if m.kind == "police"]
    groups = sorted({g for m in members for g in m.groups})
    contracts = [
        TaggedContract.from_schema(bundled_contract(name), 1)
        for name in ("onedoor.referral.MasterReferral", "onedoor.alert.Alert", "onedoor.ack.Acknowledgement")
    ]
    group_count = max(1, agreements // 50)
    built: list[Agreement] = [
        _group(n, rnd.choice(police), rnd.choice(groups), contracts, rnd) for n in range(group_count)
    ]
    for n in range(agreements - group_count):
        a, b = rnd.sample(ids, 2)
        built.append(_bilateral(n, a, b, contracts, rnd))
    catalog = Catalog.of(members, contracts)
    started = time.perf_counter()
    index = AgreementIndex.build(built, catalog, version=1)
    build_s = time.perf_counter() - started

    requests: list[DecisionRequest] = []
    members_of = {g: [m.agency for m in members if g in m.groups] for g in groups}
    for _ in range(flows):
        if rnd.random() < 0.85:
            ag = rnd.choice(built)
            parties = [
                rnd.choice(members_of[GroupName(p.name)]) if p.scope == "group" else AgencyId(p.name)
                for p in ag.parties
            ]
            sender, recipient = rnd.sample(parties, 2) if len(set(parties)) == 2 else (parties[0], rnd.choice(ids))
            purpose = rnd.choice(sorted(ag.purposes)) if rnd.random() < 0.8 else rnd.choice(sorted(PURPOSES))
        else:
            sender, recipient = rnd.sample(ids, 2)
            purpose = rnd.choice(sorted(PURPOSES))
        contract = rnd.choices(contracts, weights=[60, 35, 5])[0]
        requests.append(
            DecisionRequest(
                sender=sender,
                recipient=recipient,
                contract=contract,
                purpose=purpose,
                at_ms=NOW_MS + rnd.randrange(60_000),
                consent=_consent(rnd),
                action=Action.QUERY if rnd.random() < 0.1 else Action.SEND,
            )
        )
    return Federation(index, requests, build_s)


def _throughput(index: AgreementIndex, requests: list[DecisionRequest], seconds: float) -> float:
    run = decide
    done = 0
    started = time.perf_counter()
    while True:
        for request in requests:
            run(request, index)
        done += len(requests)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def _latencies(index: AgreementIndex, requests: list[DecisionRequest], samples: int) -> list[int]:
    run, clock = decide, time.perf_counter_ns
    found: list[int] = []
    while len(found) < samples:
        for request in requests:
            started = clock()
            run(request, index)
            found.append(clock() - started)
    found.sort()
    return found


def measure(
    agencies: int = 400, agreements: int = 10_000, *, seconds: float = 2.0, samples: int = 200_000, extra: bool = False
) -> dict[str, dict[str, Any]]:
    """Steady-state decisions/s and p99 latency (µs); with ``extra``, also the cold cost and the build time."""
    fed = federation(agencies, agreements)
    started = time.perf_counter()
    outcomes = [decide(r, fed.index) for r in fed.requests]  # warm the memo: every flow once
    cold_us = (time.perf_counter() - started) / len(fed.requests) * 1e6
    gc.collect()
    rate = max(_throughput(fed.index, fed.requests, seconds / 2) for _ in range(2))
    latencies = _latencies(fed.index, fed.requests, samples)
    p99_us = latencies[int(len(latencies) * 0.99) - 1] / 1000
    permitted = sum(o.permitted for o in outcomes) / len(outcomes)
    cond = (
        f"{agencies} agencies, {agreements} agreements, {len(fed.requests)} distinct flows "
        f"({permitted:.0%} permitted; consent states mixed), memo warm, one CPython thread"
    )
    metrics = {
        "consent.decisions_per_s": metric(rate, "decisions/s", cond + f", best of 2 x {seconds / 2:.1f}s"),
        "consent.decision_p99_us": metric(
            p99_us, "us", cond + f", {len(latencies)} calls timed one by one (perf_counter_ns, overhead included)"
        ),
    }
    if extra:
        metrics["consent.decision_cold_us"] = metric(cold_us, "us", "first decision of each flow: memo miss, mean")
        metrics["consent.index_build_s"] = metric(fed.build_s, "s", f"check and compile {agreements} agreements")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.consent")
    parser.add_argument("--agencies", type=int, default=400)
    parser.add_argument("--agreements", type=int, default=10_000)
    args = parser.parse_args()
    for name, m in measure(args.agencies, args.agreements, extra=True).items():
        print(f"{name:<28} {m['value']:>14,.3f}  {m['unit']:<12} {m['conditions']}")


if __name__ == "__main__":
    main()
