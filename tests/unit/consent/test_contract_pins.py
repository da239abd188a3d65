"""Agreements pin the contract versions their parties approved: a newer version's sensitive fields wait.

One synthetic contract in three versions: v2 adds a health field, an operational field, and a
clinic record (tagged health) with an operational child; v3 re-tags v2's operational
``priority`` as safeguarding. Each pair of agencies shares under one agreement pinned to a
different version, so each row is one flow and a sentence saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import (
    Actor,
    Agreement,
    AgreementIndex,
    Catalog,
    DataClass,
    Decision,
    DecisionRequest,
    Effect,
    Member,
    Provision,
    ReasonCode,
    TaggedContract,
    decide,
)
from consent.contract import SENSITIVE
from onedoor.ids import AgencyId, ContractName, Purpose
from tests.unit.consent.world import NOW, REFERRAL_PURPOSE, agreement

OPS, IDENT, SAFE, H = DataClass.OPERATIONAL, DataClass.IDENTITY, DataClass.SAFEGUARDING, DataClass.HEALTH
NAME = "test.pins.Referral"
V1_TAGS = {"referral_id": OPS, "sent_at": OPS, "child": IDENT, "child.given_name": IDENT, "concern": SAFE}
V2_TAGS = {
    **V1_TAGS,
    "health_notes": H,
    "priority": OPS,
    "clinic": H,
    "clinic.name": H,
    "clinic.reference": OPS,
}
V3_TAGS = {**V2_TAGS, "priority": SAFE}
V1 = TaggedContract.from_tags(NAME, 1, V1_TAGS)
V2 = TaggedContract.from_tags(NAME, 2, V2_TAGS)
V3 = TaggedContract.from_tags(NAME, 3, V3_TAGS)
CONTRACTS = {1: V1, 2: V2, 3: V3}

PAIRS = {
    "v1": ("fake-police-a", "fake-council-a"),
    "v2": ("fake-police-b", "fake-council-b"),
    "none": ("fake-police-c", "fake-council-c"),
    "health-v1": ("fake-police-d", "fake-council-d"),
    "amended": ("fake-police-e", "fake-council-e"),
}
MEMBERS = [Member(AgencyId(a), "police" if "police" in a else "children-services") for p in PAIRS.values() for a in p]
CATALOG = Catalog.of(MEMBERS, CONTRACTS.values())


def _pinned(key: str, pin: int | None, *, classes: Iterable[DataClass] | None = None, version: int = 1) -> Agreement:
    a, b = PAIRS[key]
    made = agreement(
        f"isa-pins-{key}",
        [Actor.agency(a), Actor.agency(b)],
        [Provision.permit(classes=classes)],
        contracts=(V1,),
        version=version,
    )
    return made if pin is None else replace(made, contract_versions={ContractName(NAME): pin})


AGREEMENTS = (
    _pinned("v1", 1),
    _pinned("v2", 2),
    _pinned("none", None),
    _pinned("health-v1", 1, classes=[H]),
    _pinned("amended", 2, version=2),
)


@dataclass(frozen=True)
class Case:
    id: str
    pair: str
    version: int
    effect: Effect
    codes: tuple[str, ...]
    why: str
    not_approved: str = ""
    """The ``fields.not_approved`` reason's detail: the withheld field paths."""
    includes: frozenset[str] = field(default_factory=frozenset)
    excludes: frozenset[str] = field(default_factory=frozenset)


def fields(*paths: str) -> frozenset[str]:
    return frozenset(paths)


PERMITS, NOT_APPROVED = "agreement.permits", "fields.not_approved"

CASES = [
    Case(
        "v2-health-field-under-v1-pin", "v1", 2, Effect.PERMIT, (PERMITS, NOT_APPROVED),
        "v2 adds health_notes (health): the parties approved v1, which had no such field, so it is withheld.",
        not_approved="clinic, clinic.name, clinic.reference, health_notes",
        includes=fields("referral_id", "child.given_name", "concern"), excludes=fields("health_notes"),
    ),
    Case(
        "v2-operational-field-under-v1-pin", "v1", 2, Effect.PERMIT, (PERMITS, NOT_APPROVED),
        "v2's new priority is operational (what the exchange itself needs), so it flows without re-approval.",
        not_approved="clinic, clinic.name, clinic.reference, health_notes", includes=fields("priority"),
    ),
    Case(
        "v2-nested-record-under-v1-pin", "v1", 2, Effect.PERMIT, (PERMITS, NOT_APPROVED),
        "The new clinic record is health, so it is withheld, and with it every field inside it, even its "
        "operational reference: a part of a record that may not be shared is not shared either.",
        not_approved="clinic, clinic.name, clinic.reference, health_notes",
        excludes=fields("clinic", "clinic.name", "clinic.reference"),
    ),
    Case(
        "v1-message-under-v2-pin", "v2", 1, Effect.PERMIT, (PERMITS,),
        "A message written with an older version than the pinned one holds nothing the parties did not see.",
        includes=fields(*V1_TAGS),
    ),
    Case(
        "v1-message-under-v1-pin", "v1", 1, Effect.PERMIT, (PERMITS,),
        "A message on the pinned version itself is unaffected.", includes=fields(*V1_TAGS),
    ),
    Case(
        "v2-message-under-v2-pin", "v2", 2, Effect.PERMIT, (PERMITS,),
        "Pinned to v2, the parties approved the health field and the clinic record: everything flows.",
        includes=fields(*V2_TAGS),
    ),
    Case(
        "v2-message-under-amendment-pinned-to-v2", "amended", 2, Effect.PERMIT, (PERMITS,),
        "An amendment pinned to v2, approved by every party, lets the new health field flow.",
        includes=fields("health_notes", "clinic.reference"),
    ),
    Case(
        "v2-message-without-pin", "none", 2, Effect.PERMIT, (PERMITS,),
        "An agreement without a pin (made before pins existed) covers every version as it is.",
        includes=fields(*V2_TAGS),
    ),
    Case(
        "v3-retagged-field-under-v2-pin", "v2", 3, Effect.PERMIT, (PERMITS, NOT_APPROVED),
        "v3 re-tags priority as safeguarding: the parties approved it as operational, so it waits too.",
        not_approved="priority", includes=fields("health_notes"), excludes=fields("priority"),
    ),
    Case(
        "v3-under-v1-pin-collects-every-addition", "v1", 3, Effect.PERMIT, (PERMITS, NOT_APPROVED),
        "Against v1, every sensitive field added by v2 or v3 is withheld, whichever version added it.",
        not_approved="clinic, clinic.name, clinic.reference, health_notes, priority",
        excludes=fields("priority", "health_notes"),
    ),
    Case(
        "only-new-fields-permitted", "health-v1", 2, Effect.DENY, (NOT_APPROVED,),
        "The agreement permits only health, and v1 had no health field: everything it would allow in v2 is "
        "new, so nothing may flow until it is amended.",
        not_approved="clinic, clinic.name, health_notes",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def index() -> AgreementIndex:
    return AgreementIndex.build(AGREEMENTS, CATALOG)


def run(case: Case, index: AgreementIndex) -> Decision:
    sender, recipient = PAIRS[case.pair]
    flow = DecisionRequest(AgencyId(sender), AgencyId(recipient), CONTRACTS[case.version], REFERRAL_PURPOSE, _NOW_MS)
    return decide(flow, index)


_NOW_MS = int(NOW.timestamp() * 1000)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_pin_case(case: Case, index: AgreementIndex) -> None:
    decision = run(case, index)
    assert decision.effect is case.effect, decision.explain()
    assert decision.codes == case.codes, decision.explain()
    details = [r.detail for r in decision.reasons if r.code is ReasonCode.NOT_APPROVED]
    assert details == ([case.not_approved] if case.not_approved else [])
    assert case.includes <= decision.allowed_fields, case.includes - decision.allowed_fields
    assert not case.excludes & decision.allowed_fields
    assert decision.allowed_classes == {CONTRACTS[case.version].tags[p] for p in decision.allowed_fields}
    if decision.permitted:
        assert all(p.rpartition(".")[0] in {"", *decision.allowed_fields} for p in decision.allowed_fields)
    # The second call comes from the memo, and says the same.
    assert run(case, index) == decision


def test_the_reason_says_what_to_do() -> None:
    assert "amended and re-approved" in ReasonCode.NOT_APPROVED.sentence


def test_an_amendment_upserted_into_the_index_takes_effect() -> None:
    """The hub's update path: approve an amendment pinned to v2 and the health field flows."""
    old = AgreementIndex.build(AGREEMENTS, CATALOG)
    amended = replace(AGREEMENTS[0], version=2, contract_versions={ContractName(NAME): 2})
    new = old.updated(upsert=[amended], version=1)
    case = CASES[0]
    assert "health_notes" not in run(case, old).allowed_fields
    after = run(case, new)
    assert "health_notes" in after.allowed_fields
    assert after.agreement_version == 2
    assert after.codes == (PERMITS,)


def test_a_pin_to_a_version_the_catalogue_lacks_is_rejected_not_fatal() -> None:
    stray = replace(AGREEMENTS[0], contract_versions={ContractName(NAME): 7})
    index = AgreementIndex.build([stray, *AGREEMENTS[1:]], CATALOG, skip_invalid=True)
    [(rejected, error)] = index.rejected
    assert (rejected, error.code) == ("isa-pins-v1", "agreement.contract_version_unknown")
    assert error.http_status == 422
    assert not run(CASES[0], index).permitted


# --- the property: nothing sensitive that the pinned version lacks is ever allowed -------------

_TOPS = ("a", "b", "c", "d")
_CHILDREN = ("x", "y")
_UNIVERSE = [*_TOPS, *(f"{t}.{c}" for t in _TOPS for c in _CHILDREN)]
_CLASSES = sorted(DataClass)
_PROPERTY_PAIR = (AgencyId("fake-police-p"), AgencyId("fake-council-p"))
_PROPERTY_MEMBERS = [Member(_PROPERTY_PAIR[0], "police"), Member(_PROPERTY_PAIR[1], "children-services")]


def _closed(paths: set[str]) -> set[str]:
    """``paths`` without those whose parent is missing (contracts have no orphan fields)."""
    return {p for p in paths if "." not in p or p.rpartition(".")[0] in paths}


@st.composite
def versions(draw: st.DrawFn) -> tuple[dict[str, DataClass], dict[str, DataClass]]:
    """A contract's v1 and a v2 that adds, keeps or re-tags fields (v2 keeps every v1 path)."""
    new_paths = _closed(set(draw(st.lists(st.sampled_from(_UNIVERSE), min_size=1, unique=True))) | {"a"})
    old_paths = _closed(set(draw(st.lists(st.sampled_from(sorted(new_paths)), unique=True))) | {"a"})
    v2 = {p: draw(st.sampled_from(_CLASSES)) for p in sorted(new_paths)}
    v1 = {p: v2[p] if draw(st.booleans()) else draw(st.sampled_from(_CLASSES)) for p in sorted(old_paths)}
    return v1, v2


@given(versions(), st.sets(st.sampled_from(_CLASSES), min_size=1), st.sampled_from([None, 1, 2]), st.data())
def test_no_unapproved_sensitive_field_is_ever_allowed(
    tags: tuple[dict[str, DataClass], dict[str, DataClass]],
    permitted: set[DataClass],
    pin: int | None,
    data: st.DataObject,
) -> None:
    v1_tags, v2_tags = tags
    v1, v2 = TaggedContract.from_tags(NAME, 1, v1_tags), TaggedContract.from_tags(NAME, 2, v2_tags)
    classes = frozenset(permitted) & (v1.classes | v2.classes) or frozenset({v2_tags["a"]})
    base = agreement(
        "isa-pins-property",
        [Actor.agency(_PROPERTY_PAIR[0]), Actor.agency(_PROPERTY_PAIR[1])],
        [Provision.permit(classes=classes)],
        contracts=(v1,),
    )
    pinned = base if pin is None else replace(base, contract_versions={ContractName(NAME): pin})
    catalog = Catalog.of(_PROPERTY_MEMBERS, [v1, v2])
    message = data.draw(st.sampled_from([v1, v2]), label="message version")
    flow = DecisionRequest(*_PROPERTY_PAIR, message, Purpose(REFERRAL_PURPOSE), _NOW_MS)
    under_pin = decide(flow, AgreementIndex.build([pinned], catalog))
    unpinned = decide(flow, AgreementIndex.build([base], catalog))

    if pin == 1 and message is v2:
        unapproved = {p for p, k in v2_tags.items() if k in SENSITIVE and v1_tags.get(p) != k}
        assert not under_pin.allowed_fields & unapproved
        # Nothing else is lost: exactly what provisions allow, less the unapproved fields and what is inside them.
        expected = {p for p in unpinned.allowed_fields if not any(p == u or p.startswith(u + ".") for u in unapproved)}
        assert under_pin.allowed_fields == expected
        if unpinned.permitted and not expected:
            assert under_pin.codes == (NOT_APPROVED,)
    else:
        assert under_pin == unpinned
    assert all(p.rpartition(".")[0] in {"", *under_pin.allowed_fields} for p in under_pin.allowed_fields)


def test_sensitive_is_everything_but_operational() -> None:
    assert frozenset(DataClass) - SENSITIVE == {DataClass.OPERATIONAL}
