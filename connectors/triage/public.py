"""A public referral (``PublicReferralForm``, opened in the triage connector) as a MasterReferral.

Pure. The referral id is derived from the public reference, so a redelivered submission maps
to the same referral. What the public form cannot know (care status, NRM, consent) takes the
contract's "not known" values; consent is recorded as not sought, since the reporter is not
the child's parent or the child in most cases and triage decides what happens next.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

from onedoor.envelope.intake_form import ParentKnows, PublicReferralForm, Relationship

_NAMESPACE: Final = uuid.UUID("6f1d3c52-4a55-4b1e-9b7e-0e1d00d0a001")
_REFERRER_KINDS: Final = {
    Relationship.FAMILY: "FAMILY",
    Relationship.FRIEND: "FRIEND",
    Relationship.NEIGHBOUR: "COMMUNITY",
    Relationship.PROFESSIONAL: "PROFESSIONAL",
    Relationship.YOUNG_PERSON: "SELF",
    Relationship.OTHER: "COMMUNITY",
}
_RELATIONSHIP_WORDS: Final = {
    Relationship.FAMILY: "family member",
    Relationship.FRIEND: "friend",
    Relationship.NEIGHBOUR: "neighbour or community member",
    Relationship.PROFESSIONAL: "professional (via the public form)",
    Relationship.YOUNG_PERSON: "the young person",
    Relationship.OTHER: "other",
}
_PARENT_AWARE: Final = {ParentKnows.YES: True, ParentKnows.NO: False, ParentKnows.NOT_SURE: None}


def referral_id_for(reference: str) -> str:
    """The MasterReferral id of the public referral with this reference (stable across redelivery)."""
    return str(uuid.uuid5(_NAMESPACE, reference))


def public_to_master(form: PublicReferralForm, *, reference: str, received_at: dt.datetime) -> dict[str, Any]:
    """The MasterReferral record for a public referral, ready to store, show and route."""
    child, referrer = form.child, form.referrer
    anonymous = referrer.name is None and referrer.contact is None
    contact = referrer.contact or ""
    extra = []
    if child.area:
        extra.append(f"Area given by the reporter: {child.area}.")
    if form.parent_carer_knows is not ParentKnows.NOT_SURE:
        knows = "knows" if form.parent_carer_knows is ParentKnows.YES else "does not know"
        extra.append(f"The reporter says a parent or carer {knows} about this referral.")
    return {
        "referral_id": referral_id_for(reference),
        "submitted_at": received_at,
        "urgency": form.urgency,
        "requested_service": "NOT_SURE",
        "child": {
            "given_name": child.given_name or "",
            "family_name": child.family_name or "",
            "known_as": [child.known_as] if child.known_as else [],
            "date_of_birth": child.date_of_birth,
            "estimated_age": child.estimated_age,
            "school": child.school,
        },
        "concern_categories": list(form.concern_categories),
        "concern_summary": form.concern_summary,
        "referrer": {
            "kind": "ANONYMOUS" if anonymous else _REFERRER_KINDS[referrer.relationship],
            "name": referrer.name,
            "relationship_to_child": _RELATIONSHIP_WORDS[referrer.relationship],
            "phone": None if "@" in contact else referrer.contact,
            "email": referrer.contact if "@" in contact else None,
        },
        "consent": {
            "status": "NOT_SOUGHT_OTHER",
            "reason_not_sought": f"Public referral {reference} through the One Front Door form",
            "recorded_at": received_at,
        },
        "actions_taken": " ".join(extra) or None,
    }


def parent_aware(form: PublicReferralForm) -> bool | None:
    """Whether the reporter says a parent or carer knows (``None``: not sure)."""
    return _PARENT_AWARE[form.parent_carer_knows]
