"""Stable codes for invalid agreements, provisions, lawful bases and consent records.

Expected outcomes of a decision are ``Decision`` objects with reason codes (``reasons.py``).
These codes are for *definitions* that cannot be right: they are raised as
``ValidationFailed`` when an agreement, a consent record or an index is built, so a bad
definition is refused when it is proposed, never discovered message by message.
"""

from __future__ import annotations

from enum import StrEnum

from onedoor.errors import ValidationFailed


class Invalid(StrEnum):
    """Why a definition was refused. Never rename a code; add a new one."""

    EMPTY_SET = "provision.empty_set"
    """A provision lists no actors, actions, purposes or classes: it could never match. Leave it unset for "any"."""
    OUTSIDE_PARENT = "provision.outside_parent"
    """A nested provision reaches beyond its parent (purpose, class, action or period): that part could never apply."""
    PURPOSE_NOT_IN_AGREEMENT = "provision.purpose_not_in_agreement"
    """A provision names a purpose the agreement does not list."""
    CONFLICT = "provision.conflict"
    """A permit is fully covered by a deny for the same actors at the same level, so it can never apply."""
    BAD_PERIOD = "period.invalid"
    """A period ends before it starts, or uses a time without a time zone."""
    BAD_VERSION = "agreement.invalid_version"
    """Agreement versions start at 1."""
    PARTIES = "agreement.invalid_parties"
    """Parties must be agencies or groups: at least two, or one group whose members share among themselves."""
    NOTHING_AGREED = "agreement.nothing_agreed"
    """An agreement lists no contract or no purpose."""
    BAD_RETENTION = "agreement.invalid_retention"
    """Retention must be a positive period."""
    DUPLICATE = "agreement.duplicate"
    """The same agreement id appears twice in one index."""
    CLASS_NOT_IN_CONTRACT = "agreement.class_not_in_contract"
    """A provision names a data class that none of the agreement's contracts carries."""
    NO_SPECIAL_CATEGORY_CONDITION = "agreement.no_special_category_condition"
    """Health data is permitted without a UK GDPR Art. 9 or DPA 2018 Sch. 8 condition."""
    NO_CRIMINAL_OFFENCE_CONDITION = "agreement.no_criminal_offence_condition"
    """Criminal intelligence is permitted without a DPA 2018 Sch. 1 or Sch. 8 condition."""
    CONTRACT_VERSION_UNKNOWN = "agreement.contract_version_unknown"
    """An agreement is pinned to a contract version that is not registered (not in the catalogue)."""
    PIN_NOT_COVERED = "agreement.pinned_contract_not_covered"
    """An agreement pins the version of a contract it does not cover, or pins a version below 1."""
    UNKNOWN_PURPOSE = "purpose.unknown"
    """A purpose that is not in the catalogue."""
    UNKNOWN_CONTRACT = "contract.unknown"
    """An agreement names a contract the index does not know."""
    UNKNOWN_DATA_CLASS = "data_class.unknown"
    """A data class (sensitivity tag) that is not one of the eight."""
    UNKNOWN_ACCESS_LEVEL = "access_level.unknown"
    """An access level other than ``full`` or ``limited``."""
    UNKNOWN_ACTOR = "actor.unknown"
    """An actor or party names an agency, agency kind or group the directory does not know."""
    ACTOR_NOT_PARTY = "actor.not_party"
    """A provision names an agency that is not a party, nor a member of a party group."""
    BAD_ACTOR = "actor.invalid"
    """An actor without a name, or "anyone" used as a party."""
    AMBIGUOUS_TAG = "contract.conflicting_tags"  # the same code contracts.sensitivity.field_tags raises
    """Two branches of a union give the same field path different tags: the engine cannot tell which applies."""
    BASIS_MISMATCH = "lawful_basis.condition_mismatch"
    """A DPA 2018 Sch. 1 condition paired with an Art. 9 condition it does not serve."""
    BASIS_CONTRADICTION = "lawful_basis.consent_contradiction"
    """Consent named together with a condition that applies only to processing without consent."""
    STATUTE_REQUIRED = "lawful_basis.statute_required"
    """Art. 6(1)(c) legal obligation without naming the statute that imposes it."""
    CONSENT_RECORD = "consent.invalid_record"
    """A consent record without the time, person or justification its status needs."""
    OVERRIDE = "consent.invalid_override"
    """An emergency override not reviewed by a second person, or not time-boxed."""


def invalid(code: Invalid, message: str) -> ValidationFailed:
    """A ``ValidationFailed`` with ``code``, to raise."""
    return ValidationFailed(code.value, message)
