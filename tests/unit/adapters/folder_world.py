"""A folder adapter's column mapping for MasterReferral, and CSV rows about obviously fake children."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.adapters.folder_mapping import ColumnMapping
from connectors.triage.referral import referral_schema

COLUMNS = {
    "First name": "child.given_name",
    "Last name": "child.family_name",
    "Date of birth": "child.date_of_birth",
    "Age": "child.estimated_age",
    "Urgency": "urgency",
    "Concerns": "concern_categories",
    "Summary": "concern_summary",
    "County lines": "exploitation.county_lines_suspected",
    "Referrer": "referrer.name",
    "Consent": "consent.status",
}
DEFAULTS: dict[str, Any] = {"referrer.kind": "PROFESSIONAL", "consent.status": "NOT_SOUGHT_RISK_TO_CHILD"}
SUBJECT_COLUMN = "Subject token"
"""The column with the young person's st1_ token (the folder's ``subject_token`` option): not a body field."""
HEADER = [*COLUMNS, SUBJECT_COLUMN]
OPTIONS_COLUMNS = dict(COLUMNS)


def folder_adapter(folder: Path, recipient: str) -> dict[str, Any]:
    """The ``adapters.yaml`` entry of a folder adapter reading the world's CSV in ``folder``, for ``recipient``."""
    return {
        "kind": "folder",
        "name": "referrals-drop",
        "options": {
            "folder": str(folder),
            "recipients": [recipient],
            "columns": COLUMNS,
            "subject_token": SUBJECT_COLUMN,
            "defaults": DEFAULTS,
            "date_format": "%d/%m/%Y",
            "poll_seconds": 0.2,
        },
    }


def mapping(**options: Any) -> ColumnMapping:
    """The mapping with UK dates (DD/MM/YYYY)."""
    return ColumnMapping(
        referral_schema(), COLUMNS, defaults=DEFAULTS, date_format=options.pop("date_format", "%d/%m/%Y"), **options
    )


def row(**cells: str) -> dict[str, str]:
    """A good row about Testy McFakeface, with ``cells`` changed (keys: column names with _ for spaces)."""
    good = {
        "First name": "Testy",
        "Last name": "McFakeface",
        "Date of birth": "14/03/2010",
        "Age": "",
        "Urgency": "Same day",
        "Concerns": "county lines; missing",
        "Summary": "Seen at a station far from home with older men.",
        "County lines": "yes",
        "Referrer": "Officer Fakename",
        "Consent": "",
        SUBJECT_COLUMN: "st1_SYNTHETICfolderToken0001",
    }
    good.update({k.replace("_", " "): v for k, v in cells.items()})
    return good


def csv_line(cells: dict[str, str]) -> str:
    """One CSV line of ``cells`` in header order (quoted)."""
    return ",".join('"' + cells[c].replace('"', '""') + '"' for c in HEADER)
