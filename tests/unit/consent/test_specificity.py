"""Which provision wins: reference cases with a sentence each, and properties that hold for any provisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from consent import (
    ALWAYS,
    ANYONE,
    Action,
    Actor,
    AgreementIndex,
    Catalog,
    DataClass,
    Effect,
    GroupName,
    Member,
    Period,
    Provision,
    decide,
)
from consent.rules import Level, Verdict, flatten, resolve
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, Purpose
from tests.unit.consent.world import NOW, REFERRAL, agreement, ms, request

S_ID, R_ID, X_ID = AgencyId("fake-sender-force"), AgencyId("fake-recipient-council"), AgencyId("fake-other-charity")
S_GROUP, R_GROUP, X_GROUP = (
    GroupName("fake-senders-group"),
    GroupName("fake-recipients-group"),
    GroupName("fake-others"),
)
SENDER = Member(S_ID, "police", frozenset({S_GROUP}))
RECIPIENT = Member(R_ID, "children-services", frozenset({R_GROUP}))
OTHER = Member(X_ID, "charity", frozenset({X_GROUP}))
A, B = Purpose("safeguarding-referral"), Purpose("case-coordination")
PURPOSES = frozenset({A, B})
H, OP, SG = DataClass.HEALTH, DataClass.OPERATIONAL, DataClass.SAFEGUARDING
PAST = Period(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
CURRENT = Period(NOW - timedelta(days=30), NOW + timedelta(days=30))
FUTURE = Period(datetime(2030, 1, 1, tzinfo=UTC))

permit, deny = Provision.permit, Provision.deny
s_agency, r_agency, x_agency = Actor.agency(S_ID), Actor.agency(R_ID), Actor.agency(X_ID)
s_kind, r_kind = Actor.kind("police"), Actor.kind("children-services")
s_group, r_group = Actor.group(S_GROUP), Actor.group(R_GROUP)


def verdict(provisions: Sequence[Provision], action: Action = Action.SEND, purpose: Purpose = A) -> Verdict:
    rules = flatten(provisions, PURPOSES)
    return resolve(rules, sender=SENDER, recipient=RECIPIENT, action=action, purpose=purpose, at_ms=ms(NOW))


def outcome(v: Verdict, klass: DataClass) -> bool | None:
    """True: permitted; False: a deny won; None: no provision covers it."""
    return True if klass in v.permitted else False if klass in v.denied else None


@dataclass(frozen=True)
class Case:
    id: str
    provisions: list[Provision]
    expect: dict[DataClass, bool | None]
    why: str
    action: Action = Action.SEND


CASES = [
    Case("single-permit", [permit(classes=[H])], {H: True, OP: None}, "A permit covers only the classes it names."),
    Case(
        "deny-of-a-class-same-actors", [permit(), deny(classes=[H])], {H: False, OP: True},
        "Same actors, so equally specific: the deny wins for health and the permit holds for the rest.",
    ),
    Case(
        "agency-permit-beats-group-deny", [deny(recipients=r_group), permit(recipients=r_agency)], {OP: True},
        "Naming the recipient agency is more specific than naming a group it belongs to.",
    ),
    Case(
        "group-deny-ties-kind-permit", [permit(recipients=r_kind), deny(recipients=r_group)], {OP: False},
        "A kind and a group are equally specific, so deny wins.",
    ),
    Case(
        "kind-deny-beats-anyone-permit", [permit(), deny(recipients=r_kind)], {OP: False},
        "Naming a kind is more specific than naming no one.",
    ),
    Case(
        "kind-permit-beats-anyone-deny", [deny(), permit(recipients=r_kind)], {OP: True},
        "Specificity decides before effect: a more specific permit beats a general deny.",
    ),
    Case(
        "exception-permit-inside-deny", [deny(provisions=[permit(classes=[OP])])], {OP: True, H: False},
        "Deny everything except operational data: the nested exception beats its parent.",
    ),
    Case(
        "exception-deny-inside-permit", [permit(provisions=[deny(classes=[H])])], {H: False, OP: True},
        "Permit everything except health.",
    ),
    Case(
        "exception-of-an-exception", [deny(provisions=[permit(classes=[OP, H], provisions=[deny(classes=[H])])])],
        {OP: True, H: False, SG: False},
        "The deepest exception wins along its chain: operational permitted, health denied again.",
    ),
    Case(
        "inherited-rank-ties-a-sibling",
        [permit(recipients=r_group, provisions=[deny(classes=[H])]), permit(recipients=r_kind, classes=[H])],
        {H: False},
        "The exception inherits its parent's group rank; against an unrelated kind-level permit that is a "
        "tie, and deny wins.",
    ),
    Case(
        "agency-permit-beats-unrelated-exception",
        [permit(provisions=[deny(recipients=r_kind)]), permit(recipients=r_agency)],
        {OP: True},
        "Nesting only beats the parent: a separate permit naming the agency outranks a kind-level exception "
        "elsewhere.",
    ),
    Case(
        "incomparable-ranks-deny-wins",
        [permit(senders=s_agency, recipients=r_group), deny(senders=s_group, recipients=r_agency)],
        {OP: False},
        "Each names one side more precisely than the other: neither is more specific, so deny wins.",
    ),
    Case(
        "both-sides-named-beats-either",
        [deny(senders=s_agency), deny(recipients=r_agency), permit(senders=s_agency, recipients=r_agency)],
        {OP: True},
        "Naming both agencies is at least as specific on each side as either deny, and more on one.",
    ),
    Case(
        "other-recipient-ignored", [permit(), deny(recipients=x_agency)], {OP: True},
        "A deny for another agency does not touch this flow.",
    ),
    Case(
        "other-purpose-ignored", [permit(purposes=[A]), deny(purposes=[B])], {OP: True},
        "A deny for another purpose does not touch this flow.",
    ),
    Case(
        "other-action-ignored", [permit(actions=[Action.SEND]), deny(actions=[Action.QUERY])], {OP: True},
        "A deny for status checks does not touch a sent message.",
    ),
    Case(
        "deny-outside-its-period-ignored", [permit(), deny(period=PAST)], {OP: True},
        "A deny that ended last year no longer applies.",
    ),
    Case(
        "permit-inside-its-period", [permit(period=CURRENT)], {OP: True}, "A permit applies during its period.",
    ),
    Case(
        "query-permit-does-not-permit-send", [permit(actions=[Action.QUERY])], {OP: None},
        "Answering status checks does not allow pushing messages.",
    ),
    Case("nothing-matches", [], {OP: None, H: None}, "With no provision nothing is permitted: a closed list."),
    Case(
        "exception-only-where-its-parent-applies",
        [deny(recipients=x_agency, provisions=[permit(recipients=r_kind)])], {OP: None},
        "The exception is nested in a provision about another agency, so it never applies to this recipient.",
    ),
]  # fmt: skip


def test_there_are_enough_specificity_cases() -> None:
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_specificity_case(case: Case) -> None:
    v = verdict(case.provisions, case.action)
    for klass, expected in case.expect.items():
        assert outcome(v, klass) is expected, f"{klass}: {v}"


# --- properties ----------------------------------------------------------------------------------

ACTOR_POOL = [
    s_agency,
    r_agency,
    x_agency,
    s_kind,
    r_kind,
    Actor.kind("charity"),
    s_group,
    r_group,
    Actor.group(X_GROUP),
]
CLASS_LIST = sorted(DataClass)
PERIODS = [ALWAYS, PAST, CURRENT, FUTURE]


def _maybe_subset(draw: st.DrawFn, universe: Sequence[object]) -> frozenset[object] | None:
    if draw(st.booleans()):
        return None
    return frozenset(draw(st.lists(st.sampled_from(list(universe)), min_size=1, max_size=3)))


@st.composite
def provisions(draw: st.DrawFn, depth: int = 0, parent: Provision | None = None) -> Provision:
    """Any provision, with exceptions that stay inside it."""

    def narrowed(name: str, universe: Sequence[object]) -> frozenset[object] | None:
        within = getattr(parent, name) if parent is not None else None
        return _maybe_subset(draw, sorted(within, key=str) if within is not None else universe)

    period = draw(st.sampled_from(PERIODS)) if parent is None or parent.period is ALWAYS else ALWAYS
    shell = Provision(
        effect=draw(st.sampled_from(list(Effect))),
        senders=_maybe_subset(draw, ACTOR_POOL),  # type: ignore[arg-type]
        recipients=_maybe_subset(draw, ACTOR_POOL),  # type: ignore[arg-type]
        actions=narrowed("actions", list(Action)),  # type: ignore[arg-type]
        purposes=narrowed("purposes", sorted(PURPOSES)),  # type: ignore[arg-type]
        classes=narrowed("classes", CLASS_LIST),  # type: ignore[arg-type]
        period=period,
    )
    if depth >= 2:
        return shell
    children = draw(st.lists(provisions(depth + 1, shell), max_size=2))
    try:
        return replace(shell, provisions=tuple(children))
    except ValidationFailed:
        reject()


@st.composite
def unrelated(draw: st.DrawFn) -> Provision:
    """A provision (with exceptions) that cannot match the flow from SENDER to RECIPIENT for purpose A at NOW."""
    base = draw(provisions(depth=1))
    away = draw(st.sampled_from(["sender", "recipient", "purpose", "action", "period"]))
    try:
        base = replace(base, provisions=())
        if away == "sender":
            return replace(base, senders=frozenset({x_agency}))
        if away == "recipient":
            return replace(base, recipients=frozenset({Actor.group(X_GROUP)}))
        if away == "purpose":
            return replace(base, purposes=frozenset({B}))
        if away == "action":
            return replace(base, actions=frozenset({Action.QUERY}))
        return replace(base, period=draw(st.sampled_from([PAST, FUTURE])))
    except ValidationFailed:
        reject()


def checked(provision_list: Sequence[Provision]) -> Verdict:
    try:
        return verdict(provision_list)
    except ValidationFailed:
        reject()


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
SMALL_CATALOG = Catalog.of([SENDER, RECIPIENT, OTHER], [REFERRAL])


def index_of(provision_list: Sequence[Provision]) -> AgreementIndex:
    ag = agreement(
        "isa-fake-property",
        [s_agency, r_agency, x_agency],
        provision_list,
        purposes=PURPOSES,
    )
    return AgreementIndex.build([ag], SMALL_CATALOG)


@PROPERTY
@given(st.lists(provisions(), max_size=4), unrelated(), st.data())
def test_unrelated_provisions_never_turn_a_deny_into_a_permit(
    base: list[Provision], extra: Provision, data: st.DataObject
) -> None:
    """Adding provisions for other actors, purposes, actions or times changes nothing for this flow."""
    before = checked(base)
    event(f"before: {'some permitted' if before.permitted else 'nothing permitted'}")
    position = data.draw(st.integers(0, len(base)))
    after = checked([*base[:position], extra, *base[position:]])
    assert after == before
    try:
        before_decision = decide(request(S_ID, R_ID), index_of(base))
        after_decision = decide(request(S_ID, R_ID), index_of([*base[:position], extra, *base[position:]]))
    except ValidationFailed:
        reject()
    if not before_decision.permitted:
        assert not after_decision.permitted
    assert after_decision.allowed_fields == before_decision.allowed_fields


@PROPERTY
@given(st.lists(provisions(), min_size=1, max_size=4), st.data())
def test_adding_a_deny_never_widens_what_is_permitted(base: list[Provision], data: st.DataObject) -> None:
    """A new deny anywhere (at the top or as an exception) can only take classes away."""
    before = checked(base)
    target = data.draw(st.integers(0, len(base)))
    if target == len(base):
        extra = data.draw(provisions(depth=2))
        changed = [*base, replace(extra, effect=Effect.DENY)]
    else:
        parent = base[target]
        child = data.draw(provisions(depth=2, parent=parent))
        child = replace(child, effect=Effect.DENY)
        try:
            grown = replace(parent, provisions=(*parent.provisions, child))
        except ValidationFailed:
            reject()
        changed = [*base[:target], grown, *base[target + 1 :]]
    after = checked(changed)
    event(f"the deny {'took classes away' if after.permitted < before.permitted else 'changed nothing'}")
    assert after.permitted <= before.permitted


SAME_RANK_SENDERS = [s_kind, s_group]
SAME_RANK_RECIPIENTS = [r_kind, r_group]


@st.composite
def same_rank(draw: st.DrawFn) -> Provision:
    """A top-level provision naming the sender and recipient by kind or group: all equally specific."""
    return Provision(
        effect=draw(st.sampled_from(list(Effect))),
        senders=frozenset({draw(st.sampled_from(SAME_RANK_SENDERS))}),
        recipients=frozenset({draw(st.sampled_from(SAME_RANK_RECIPIENTS))}),
        classes=frozenset(draw(st.lists(st.sampled_from(CLASS_LIST), min_size=1, max_size=4))),
    )


@PROPERTY
@given(st.lists(same_rank(), min_size=1, max_size=6), st.sampled_from(CLASS_LIST), st.randoms())
def test_deny_beats_permit_at_equal_specificity_in_any_order(
    provision_list: list[Provision], klass: DataClass, rnd: object
) -> None:
    deny_of_class = Provision(
        effect=Effect.DENY, senders=frozenset({s_group}), recipients=frozenset({r_kind}), classes=frozenset({klass})
    )
    provision_list = [*provision_list, deny_of_class]
    first = checked(provision_list)
    assert klass not in first.permitted
    assert klass in first.denied
    for _ in range(5):
        shuffled = list(provision_list)
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        assert checked(shuffled) == first


@PROPERTY
@given(st.lists(provisions(), max_size=5), st.randoms())
def test_order_of_provisions_never_matters(provision_list: list[Provision], rnd: object) -> None:
    first = checked(provision_list)
    shuffled = list(provision_list)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert checked(shuffled) == first


@PROPERTY
@given(st.frozensets(st.sampled_from([*ACTOR_POOL, ANYONE]), min_size=1), st.sampled_from([SENDER, RECIPIENT, OTHER]))
def test_compiled_levels_rank_actors_as_the_actors_do(actors: frozenset[Actor], member: Member) -> None:
    """The index's set-based matching agrees with ``Actor.matches`` and ``Actor.rank``."""
    expected = max((a.rank for a in actors if a.matches(member)), default=-1)
    assert Level.of(actors).rank(member) == expected
