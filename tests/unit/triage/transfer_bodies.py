"""Case-transfer message bodies as the connector hands them over (decoded Avro), about an obviously fake child."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.triage.world import BOROUGH, CHARITY, DESK, POLICE

TRANSFER_ID = "0b7c2a4e-1f3d-4c5b-9a8e-2d6f7e8a9b0c"
CHILD_TOKEN = "st1_" + "T" * 43
AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def offer_body() -> dict[str, Any]:
    """A minimal ``TransferOffer``."""
    return {
        "transfer_id": TRANSFER_ID,
        "offered_at": AT,
        "age_band": "AGE_13_TO_15",
        "area": "Testshire County Council",
        "urgency": "WITHIN_24_HOURS",
        "needs": ["CRIMINAL_EXPLOITATION", "MISSING_EPISODES"],
        "lead_professional_role": "Social worker, exploitation team",
        "respond_by": None,
    }


def handover_body() -> dict[str, Any]:
    """A ``HandoverPack`` about Testy McFakeface."""
    return {
        "transfer_id": TRANSFER_ID,
        "handed_over_at": AT,
        "subject_token": CHILD_TOKEN,
        "child": {
            "given_name": "Testy",
            "family_name": "McFakeface",
            "known_as": ["T-Fake"],
            "date_of_birth": dt.date(2011, 2, 3),
            "current_address": None,
        },
        "plan": {"kind": "CHILD_PROTECTION", "summary": "Weekly visits; disruption of the line.", "next_review": None},
        "risks": [{"category": "CRIMINAL_EXPLOITATION", "level": "HIGH", "description": "Carrying for a line."}],
        "alert_history": [{"kind": "MISSING_EPISODE", "occurred_at": AT, "sender": str(POLICE), "summary": None}],
        "network": [{"agency_id": str(BOROUGH), "role": "lead"}, {"agency_id": str(POLICE), "role": "member"}],
        "previous_lead_contact": {"name": "Officer Fakename", "role": "Social worker", "phone": None, "email": None},
    }


def completed_body(audience: str = "NETWORK_MEMBER") -> dict[str, Any]:
    """A ``TransferCompleted``: the desk now leads, told to a network member (with the token) or a candidate."""
    member = audience == "NETWORK_MEMBER"
    return {
        "transfer_id": TRANSFER_ID,
        "completed_at": AT,
        "audience": audience,
        "subject_token": CHILD_TOKEN if member else None,
        "previous_lead": str(BOROUGH),
        "new_lead": str(DESK),
        "network": [str(BOROUGH), str(POLICE)] if member else [],
        "other_candidates": [str(CHARITY)],
    }
