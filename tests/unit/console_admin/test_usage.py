"""Which agreements may share which fields of each contract version."""

from __future__ import annotations

from hub.agreements.lifecycle import VersionState
from hub.console.admin.usage import AgreementRef, fields_of, usage
from tests.unit.console_admin.cases import CONTRACTS, REFERRAL, body


def test_fields_per_version_with_pins() -> None:
    limited = AgreementRef("isa-limited", 1, VersionState.ACTIVE, body(id="isa-limited"))
    full = AgreementRef(
        "isa-full",
        2,
        VersionState.PROPOSED,
        body(id="isa-full", provisions=[{"effect": "permit", "access_level": "full"}], contract_versions={}),
    )
    [v1, v2] = usage(CONTRACTS, [limited, full])
    assert (v1.contract, v1.version) == (REFERRAL, 1)
    assert v1.agreements == ("isa-limited v1 (active)", "isa-full v2 (proposed)")
    users = {f.path: f.agreements for f in v1.fields}
    assert users["concern"] == ("isa-limited v1 (active)", "isa-full v2 (proposed)")
    assert users["child.name"] == ("isa-full v2 (proposed)",)
    assert users["health_notes"] == ("isa-full v2 (proposed)",)
    # Version 2 adds found_at (location) and status (operational). The limited agreement is pinned to
    # version 1: new operational fields are shared at once, new sensitive ones only after an amendment.
    users2 = {f.path: f for f in v2.fields}
    assert users2["status"].agreements == ("isa-limited v1 (active)", "isa-full v2 (proposed)")
    assert users2["found_at"].agreements == ("isa-full v2 (proposed)",)
    assert users2["found_at"].withheld == ()


def test_a_pinned_agreement_withholds_new_sensitive_fields_it_would_cover() -> None:
    full_pinned = body(provisions=[{"effect": "permit", "access_level": "full"}])  # pinned to version 1
    shared, withheld = fields_of(full_pinned, REFERRAL, 2, CONTRACTS)
    assert "found_at" in withheld
    assert "found_at" not in shared
    assert "status" in shared
    shared1, withheld1 = fields_of(full_pinned, REFERRAL, 1, CONTRACTS)
    assert withheld1 == frozenset()
    assert "health_notes" in shared1


def test_a_contract_the_agreement_does_not_name_is_not_used() -> None:
    assert fields_of(body(), "test.console.Other", 1, {"test.console.Other": {1: {"id": "operational"}}}) == (
        frozenset(),
        frozenset(),
    )
