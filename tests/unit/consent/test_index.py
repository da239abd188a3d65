"""The index: lookups, the memo's time windows, and replacing agreements with a new version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent import (
    Actor,
    AgreementId,
    AgreementIndex,
    AgreementState,
    ConsentState,
    DataClass,
    Provision,
    TaggedContract,
    decide,
)
from contracts.catalog import bundled_contract
from onedoor.errors import ValidationFailed
from tests.unit.consent.world import (
    AGREEMENTS,
    CATALOG,
    COUNTY_POLICE,
    NOW,
    REFERRAL,
    TESTBOROUGH,
    YOT,
    agency,
    agreement,
    index,
    request,
    with_state,
)

BILATERAL = AgreementId("isa-county-police-testborough")
PILOT_START, PILOT_END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)


def test_candidates_are_the_agreements_both_agencies_are_party_to() -> None:
    idx = index()
    assert [c.agreement.id for c in idx.candidates(COUNTY_POLICE, TESTBOROUGH)] == [BILATERAL]
    assert idx.candidates(COUNTY_POLICE, TESTBOROUGH, AgreementId("isa-metro-london")) == ()
    assert len(idx) == len(AGREEMENTS)
    assert idx.get(BILATERAL) is not None
    assert {a.id for a in idx} == {a.id for a in AGREEMENTS}


def test_a_revocation_takes_effect_in_the_next_index_version() -> None:
    """Revoking builds a new version of the index; its empty memo means no stale permit survives."""
    first = index(version=1)
    assert decide(request(COUNTY_POLICE, TESTBOROUGH), first).permitted
    revoked = with_state(first.get(BILATERAL), AgreementState.REVOKED)  # type: ignore[arg-type]
    second = first.updated(upsert=[revoked], version=2)
    decision = decide(request(COUNTY_POLICE, TESTBOROUGH), second)
    assert decision.codes == ("agreement.revoked",)
    assert decision.agreement_version == 2
    assert decide(request(COUNTY_POLICE, TESTBOROUGH), first).permitted  # the old snapshot is unchanged
    assert second.get(AgreementId("isa-metro-london")) is first.get(AgreementId("isa-metro-london"))


def test_a_late_older_version_does_not_undo_a_newer_one() -> None:
    first = index(version=1)
    active = first.get(BILATERAL)
    assert active is not None
    revoked = with_state(active, AgreementState.REVOKED)  # version 2
    second = first.updated(upsert=[revoked], version=2)
    third = second.updated(upsert=[active], version=3)  # version 1 arrives late
    assert decide(request(COUNTY_POLICE, TESTBOROUGH), third).codes == ("agreement.revoked",)
    suspended = with_state(revoked, AgreementState.SUSPENDED, version=2)  # same version, new state
    assert decide(request(COUNTY_POLICE, TESTBOROUGH), third.updated(upsert=[suspended], version=4)).codes == (
        "agreement.suspended",
    )


def test_removing_an_agreement() -> None:
    second = index().updated(remove=[BILATERAL], version=2)
    assert decide(request(COUNTY_POLICE, TESTBOROUGH), second).codes == ("agreement.none",)


def test_versions_must_increase() -> None:
    with pytest.raises(ValueError, match="must increase"):
        index(version=3).updated(version=3)


def test_withdrawing_consent_needs_no_invalidation() -> None:
    """Consent is applied after the memo, so the very next decision sees the withdrawal."""
    idx = index()
    assert decide(request(COUNTY_POLICE, TESTBOROUGH, consent=ConsentState.given(NOW)), idx).permitted
    withdrawn = ConsentState.withdrawn(NOW + timedelta(seconds=1))
    later = NOW + timedelta(seconds=2)
    assert decide(request(COUNTY_POLICE, TESTBOROUGH, consent=withdrawn, at=later), idx).codes == ("consent.withdrawn",)


def test_a_warm_memo_still_sees_a_provision_period_end() -> None:
    """The memo remembers when an outcome stops being true: the pilot's end is inside the window."""
    idx = index()
    during = decide(request(COUNTY_POLICE, YOT, at=PILOT_END - timedelta(milliseconds=1)), idx)
    after = decide(request(COUNTY_POLICE, YOT, at=PILOT_END), idx)
    assert DataClass.CRIMINAL_INTELLIGENCE in during.allowed_classes
    assert DataClass.CRIMINAL_INTELLIGENCE not in after.allowed_classes
    before = decide(request(COUNTY_POLICE, YOT, at=PILOT_START - timedelta(milliseconds=1)), idx)
    assert DataClass.CRIMINAL_INTELLIGENCE not in before.allowed_classes


def test_a_warm_memo_still_sees_the_review_date() -> None:
    idx = index()
    review = datetime(2030, 1, 1, tzinfo=UTC)
    assert (
        "agreement.review_overdue"
        not in decide(request(COUNTY_POLICE, TESTBOROUGH, at=review - timedelta(days=1)), idx).codes
    )
    assert "agreement.review_overdue" in decide(request(COUNTY_POLICE, TESTBOROUGH, at=review), idx).codes


def test_the_memo_is_bounded() -> None:
    idx = AgreementIndex.build(AGREEMENTS, CATALOG, memo_limit=3)
    for minutes in range(10):
        decide(request(COUNTY_POLICE, TESTBOROUGH, purpose="strategy-discussion"), idx)
        decide(request(TESTBOROUGH, COUNTY_POLICE, at=NOW + timedelta(minutes=minutes)), idx)
        decide(request(COUNTY_POLICE, YOT), idx)
        decide(request(YOT, COUNTY_POLICE), idx)
    assert len(idx.memo) <= 3


def test_memo_keys_on_the_contract_version_and_digest() -> None:
    """Two versions of a contract (or two tag maps under one version) never share a memo entry."""
    idx = index()
    v2 = TaggedContract.from_tags(str(REFERRAL.name), 2, {"referral_id": DataClass.OPERATIONAL})
    first = decide(request(COUNTY_POLICE, TESTBOROUGH), idx)
    second = decide(request(COUNTY_POLICE, TESTBOROUGH, contract=v2), idx)
    assert second.allowed_fields == {"referral_id"}
    assert first.allowed_fields == frozenset(REFERRAL.tags)
    assert v2 != REFERRAL
    assert TaggedContract.from_schema(bundled_contract("onedoor.referral.MasterReferral").raw, 1) == REFERRAL


def test_decisions_are_shared_objects_once_warm() -> None:
    """A warm decision allocates nothing new: the same request gets the very same Decision object."""
    idx = index()
    consent = ConsentState.not_recorded()
    first = decide(request(COUNTY_POLICE, TESTBOROUGH, consent=consent), idx)
    assert decide(request(COUNTY_POLICE, TESTBOROUGH, consent=consent), idx) is first


def test_an_index_can_leave_out_agreements_that_no_longer_check() -> None:
    """A group deleted after approval: the agreement is left out (it permits nothing), not the whole hub."""
    stale = agreement(
        "isa-fake-stale", [agency(COUNTY_POLICE), Actor.group("fake-deleted-group")], [Provision.permit()]
    )
    with pytest.raises(ValidationFailed):
        AgreementIndex.build([*AGREEMENTS, stale], CATALOG)
    idx = AgreementIndex.build([*AGREEMENTS, stale], CATALOG, skip_invalid=True)
    assert [(ident, exc.code) for ident, exc in idx.rejected] == [("isa-fake-stale", "actor.unknown")]
    assert idx.get(AgreementId("isa-fake-stale")) is None
    assert decide(request(COUNTY_POLICE, TESTBOROUGH), idx).permitted
