"""A contract version as the engine sees it: which fields a set of classes allows, and value shapes."""

from __future__ import annotations

from consent import AccessLevel, DataClass, TaggedContract
from consent.contract import Kind, MapOf
from tests.unit.consent.world import ALERT, REFERRAL

ALL = frozenset(DataClass)


def test_every_field_under_full_access() -> None:
    assert REFERRAL.fields_for(ALL) == frozenset(REFERRAL.tags)
    assert REFERRAL.classes == ALL


def test_a_field_needs_its_records_class_too() -> None:
    """The child's phone is contact data, but it sits in the child record (identity)."""
    contact = REFERRAL.fields_for(frozenset({DataClass.CONTACT}))
    assert "professional_network.phone" in contact
    assert "child.phone" not in contact
    assert "professional_network.role" not in contact  # operational, not asked for
    assert "child.phone" in REFERRAL.fields_for(frozenset({DataClass.CONTACT, DataClass.IDENTITY}))


def test_allowed_sets_are_closed_under_parents() -> None:
    for level in AccessLevel:
        allowed = REFERRAL.fields_for(level.classes)
        for path in allowed:
            parent = path.rpartition(".")[0]
            assert not parent or parent in allowed


def test_closure_keeps_only_fields_with_their_parents() -> None:
    assert REFERRAL.closure({"child.phone", "referral_id", "nope"}) == {"referral_id"}
    assert REFERRAL.closure({"child", "child.phone"}) == {"child", "child.phone"}


def test_shapes_of_the_referral() -> None:
    assert REFERRAL.shapes["child"] is Kind.RECORD
    assert REFERRAL.shapes["child.home_address"] is Kind.RECORD  # ["null", Address]
    assert REFERRAL.shapes["parents_carers"] is Kind.RECORD  # array of records
    assert REFERRAL.shapes["child.known_as"] is Kind.SCALAR  # array of strings
    assert REFERRAL.shapes["urgency"] is Kind.SCALAR


def test_from_tags_treats_parents_as_records() -> None:
    by_tags = TaggedContract.from_tags("test.consent.Thing", 1, {"a": DataClass.IDENTITY, "a.b": DataClass.CONTACT})
    assert by_tags.shapes == {"a": Kind.RECORD, "a.b": Kind.SCALAR}
    assert by_tags.key[:2] == ("test.consent.Thing", 1)
    assert MapOf(Kind.RECORD) == MapOf(Kind.RECORD)


def test_limited_alert_keeps_the_duty_contact_but_not_the_token() -> None:
    allowed = ALERT.fields_for(AccessLevel.LIMITED.classes)
    assert {"alert_id", "kind", "risk_level", "contact", "contact.phone", "contact.role"} <= allowed
    assert not {"subject_token", "location", "offence", "police_reference"} & allowed
