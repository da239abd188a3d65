"""Synthetic, obviously fake message bodies for the demo, tests and benchmarks. Never real people."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

FAKE_GIVEN = ("Testchild", "Samplekid", "Dummyyouth", "Fakeperson")
FAKE_FAMILY = ("Fakename", "Notreal", "Examplesurname", "Syntheticson")


def referral(seed: int = 0, *, concern_summary: str | None = None) -> dict[str, Any]:
    """A master referral about a made-up young person, from a made-up police officer."""
    given = FAKE_GIVEN[seed % len(FAKE_GIVEN)]
    family = FAKE_FAMILY[seed % len(FAKE_FAMILY)]
    return {
        "referral_id": str(uuid.UUID(int=seed + 1)),
        "submitted_at": datetime.now(UTC),
        "urgency": "SAME_DAY",
        "requested_service": "INTERVENTION",
        "child": {
            "given_name": given,
            "family_name": family,
            "known_as": [f"{given[:4]}y"],
            "date_of_birth": date(2010, 1 + seed % 12, 1 + seed % 28),
            "gender": "NOT_KNOWN",
            "home_address": {"line1": "1 Example Street", "town": "Testtown", "postcode": "ZZ99 9ZZ"},
            "responsible_authority": "lb-demo-borough-csc",
        },
        "concern_categories": ["CRIMINAL_EXPLOITATION", "COUNTY_LINES"],
        "concern_summary": concern_summary
        or "Synthetic example: found out of area with cash and two phones; previously missing twice.",
        "exploitation": {
            "indicators": ["FOUND_OUT_OF_AREA", "MULTIPLE_PHONES", "UNEXPLAINED_MONEY_OR_GIFTS"],
            "county_lines_suspected": True,
            "nrm_status": "REASONABLE_GROUNDS_POSITIVE",
        },
        "referrer": {
            "kind": "PROFESSIONAL",
            "name": "PC Example Officer",
            "agency_id": "demo-county-police",
            "role": "Response officer",
        },
        "consent": {"status": "NOT_SOUGHT_RISK_TO_CHILD", "lawful_basis": "UK GDPR 6(1)(e); DPA 2018 Sch 8 para 4"},
    }


SYNTHETIC_SUBJECT = "st1_SYNTHETICsubjectToken000"


def alert(seed: int = 0, *, subject_token: str = SYNTHETIC_SUBJECT) -> dict[str, Any]:
    """A 'found out of area' alert about a made-up young person."""
    now = datetime.now(UTC)
    return {
        "alert_id": str(uuid.UUID(int=10_000 + seed)),
        "kind": "FOUND_OUT_OF_AREA",
        "subject_token": subject_token,
        "occurred_at": now,
        "reported_at": now,
        "location": {"description": "Railway station (synthetic)", "town": "Testtown", "postcode": "ZZ1"},
        "risk_level": "HIGH",
        "details": "Synthetic example alert: found with cash; returned home.",
        "contact": {"name": "Duty Sergeant Example", "phone": "01632 960000"},
    }
