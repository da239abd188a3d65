"""Unit fixtures for contracts: schema builders, bundled schemas as editable JSON, a registry database."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import contracts.registry.models  # noqa: F401 - registers the contract tables in the metadata
from contracts.catalog import bundled_contract

REFERRAL = "onedoor.referral.MasterReferral"
ALERT = "onedoor.alert.Alert"
ACK = "onedoor.ack.Acknowledgement"


def field(name: str, type_: Any, tag: str = "operational", **extra: Any) -> dict[str, Any]:
    """A record field with a doc and a sensitivity tag."""
    return {"name": name, "type": type_, "doc": f"The {name}.", "sensitivity": tag, **extra}


def record(*fields: dict[str, Any], name: str = "Thing", namespace: str = "test.contracts") -> dict[str, Any]:
    """A record schema named ``test.contracts.Thing`` by default."""
    return {"type": "record", "name": name, "namespace": namespace, "fields": list(fields)}


def bundled_json(name: str) -> dict[str, Any]:
    """A bundled contract as a fresh JSON object, to evolve in a test."""
    return copy.deepcopy(json.loads(bundled_contract(name).raw))


def field_named(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The field at a dotted path of a schema object, descending through inline records."""
    node: dict[str, Any] = schema
    found: dict[str, Any] = {}
    for part in dotted.split("."):
        found = next(f for f in node["fields"] if f["name"] == part)
        inner = found["type"]
        if isinstance(inner, list):
            inner = next((b for b in inner if isinstance(b, dict)), inner)
        if isinstance(inner, dict) and inner.get("type") == "array":
            inner = inner["items"]
        node = inner if isinstance(inner, dict) else {}
    return found


def referral_value() -> dict[str, Any]:
    """A master referral about a made-up young person. Obviously fake."""
    at = datetime(2025, 3, 14, 16, 20, tzinfo=UTC)
    return {
        "referral_id": "00000000-0000-4000-8000-000000000001",
        "submitted_at": at,
        "urgency": "SAME_DAY",
        "requested_service": "INTERVENTION",
        "child": {
            "given_name": "Testchild",
            "family_name": "Fakename",
            "known_as": ["Testy"],
            "date_of_birth": date(2010, 5, 17),
            "gender": "NOT_KNOWN",
            "home_address": {"line1": "1 Example Street", "town": "Testtown", "postcode": "ZZ99 9ZZ"},
            "education_status": "PERMANENTLY_EXCLUDED",
            "care_status": "CHILD_IN_NEED",
        },
        "parents_carers": [{"full_name": "Parent Fakename", "relationship": "mother", "aware_of_referral": False}],
        "concern_categories": ["CRIMINAL_EXPLOITATION", "COUNTY_LINES", "MISSING"],
        "concern_summary": "Synthetic: found out of area with cash and two phones.",
        "exploitation": {
            "indicators": ["FOUND_OUT_OF_AREA", "MULTIPLE_PHONES"],
            "county_lines_suspected": True,
            "line_names": ["Example line"],
            "missing_episodes_last_90_days": 2,
            "recent_missing_episodes": [
                {"reported_at": at, "returned_at": at, "found_location": "Exampleton station"},
            ],
            "nrm_status": "REASONABLE_GROUNDS_POSITIVE",
            "nrm_decision_date": date(2025, 2, 1),
        },
        "professional_network": [
            {"name": "Worker Example", "role": "social worker", "organisation": "Testborough CSC"},
        ],
        "referrer": {"kind": "PROFESSIONAL", "name": "PC Example", "agency_id": "test-county-police"},
        "consent": {"status": "NOT_SOUGHT_RISK_TO_CHILD", "lawful_basis": "DPA 2018 Sch.1 para 18"},
    }


def alert_value() -> dict[str, Any]:
    """A found-out-of-area alert about a made-up subject token. Obviously fake."""
    at = datetime(2025, 3, 15, 2, 5, tzinfo=UTC)
    return {
        "alert_id": "00000000-0000-4000-8000-000000000002",
        "kind": "FOUND_OUT_OF_AREA",
        "subject_token": "st1_" + "A" * 43,
        "occurred_at": at,
        "reported_at": at,
        "location": {"description": "Exampleton station", "police_force_area": "Test County Police"},
        "risk_level": "HIGH",
        "contact": {"name": "Duty Officer Example", "phone": "01632 960000"},
    }


def ack_value() -> dict[str, Any]:
    """An acceptance of a made-up message."""
    return {
        "of_message_id": "00000000-0000-4000-8000-000000000003",
        "status": "ACCEPTED",
        "acknowledged_at": datetime(2025, 3, 15, 9, 0, tzinfo=UTC),
        "handled_by": "Testborough MASH",
    }
