"""A synthetic police records system: nominals, occurrences, intelligence flags (every record made up).

Its own schema, as a force's records management system might hold it, plus two tables where
the connector writes what partners send (``partner_referrals``, ``partner_alerts``) and one view
(``onedoor_status``) the force's IT staff made for the status index.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Final

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

from connectors.reference.people import people_for

metadata = MetaData()

nominals = Table(
    "nominals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nominal_ref", String(20), nullable=False, unique=True),
    Column("forename", String(60), nullable=False),
    Column("surname", String(60), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("postcode", String(10)),
    Column("home_area", String(60), nullable=False),
    Column("oic_role", String(60)),
    Column("oic_unit", String(80)),
    Column("oic_phone", String(20)),
    Column("created_on", Date, nullable=False),
)
occurrences = Table(
    "occurrences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("occurrence_ref", String(24), nullable=False, unique=True),
    Column("nominal_id", Integer, ForeignKey("nominals.id"), nullable=False),
    Column("occurrence_type", String(30), nullable=False),
    Column("nominal_role", String(12), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("location_area", String(60), nullable=False),
    Column("status", String(10), nullable=False),
)
intelligence_flags = Table(
    "intelligence_flags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nominal_id", Integer, ForeignKey("nominals.id"), nullable=False),
    Column("flag_code", String(12), nullable=False),
    Column("raised_on", Date, nullable=False),
    Column("active", Boolean, nullable=False),
)
partner_referrals = Table(
    "partner_referrals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("sender", String(64), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("referral_id", String(36), nullable=False),
    Column("forename", String(60), nullable=False),
    Column("surname", String(60), nullable=False),
    Column("date_of_birth", Date),
    Column("concerns", String(400)),
    Column("summary", Text, nullable=False),
    Column("review_status", String(12), nullable=False, server_default="NEW"),
)
partner_alerts = Table(
    "partner_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("sender", String(64), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("alert_id", String(36), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("risk_level", String(10)),
    Column("town", String(60)),
    Column("details", Text),
)

OCCURRENCE_TYPES: Final = {
    "MISSING_PERSON": "MISSING",
    "FOUND_OUT_OF_AREA": "SUBJECT",
    "DRUGS_POSSESSION": "SUSPECT",
    "POSSESSION_OF_WEAPON": "SUSPECT",
    "ASSAULT": "VICTIM",
    "ROBBERY": "VICTIM",
    "MODERN_SLAVERY": "VICTIM",
}
"""Occurrence type and the young person's usual role in it."""
FLAG_CODES: Final = ("CCE", "CSE", "CL_VICTIM", "MISSING_RISK", "GANG_ASSOC")
"""Intelligence flags: child criminal / sexual exploitation, county lines victim, missing risk, gang associate."""
UNITS: Final = ("Exploitation team", "Missing persons unit", "Safeguarding hub (MASH)", "Neighbourhood team")


def status_view(dialect: str) -> str:
    """The ``onedoor_status`` view: one row per nominal with what a status check needs."""
    since = "date('now', '-90 day')" if dialect == "sqlite" else "CURRENT_DATE - 90"
    return f"""CREATE VIEW onedoor_status AS
SELECT n.nominal_ref, n.forename, n.surname, n.date_of_birth, n.postcode, n.oic_role, n.oic_unit, n.oic_phone,
  (SELECT COUNT(*) FROM occurrences o WHERE o.nominal_id = n.id AND o.occurrence_type = 'MISSING_PERSON'
     AND o.occurred_on >= {since}) AS missing_90d,
  CASE WHEN EXISTS (SELECT 1 FROM occurrences o WHERE o.nominal_id = n.id AND o.occurrence_type = 'MISSING_PERSON'
     AND o.status = 'OPEN') THEN 'Y' ELSE 'N' END AS missing_now,
  CASE WHEN EXISTS (SELECT 1 FROM intelligence_flags f WHERE f.nominal_id = n.id AND f.active
     AND f.flag_code IN ('CCE', 'CSE', 'CL_VICTIM')) THEN 'Y' ELSE 'N' END AS exploitation_flag,
  CASE WHEN EXISTS (SELECT 1 FROM occurrences o WHERE o.nominal_id = n.id AND o.status = 'OPEN')
     THEN 'OPEN' ELSE 'CLOSED' END AS investigation
FROM nominals n"""  # noqa: S608 - a fixed statement; only the dialect's date expression varies


def rows(count: int, *, seed: int, as_of: dt.date) -> dict[str, list[dict[str, Any]]]:
    """The force's rows, table by table: the same for the same ``count``, ``seed`` and ``as_of``."""
    rnd = random.Random(seed * 10 + 7)  # noqa: S311 - reproducible fake data, nothing secret
    made: dict[str, list[dict[str, Any]]] = {"nominals": [], "occurrences": [], "intelligence_flags": []}
    occurrence_number = 0
    for number, person in enumerate(people_for("police", count, seed=seed, as_of=as_of), 1):
        phone = rnd.randrange(1000)
        made["nominals"].append(
            {
                "id": number,
                "nominal_ref": f"NOM-{number:06d}",
                "forename": person.given_name,
                "surname": person.family_name,
                "date_of_birth": person.date_of_birth,
                "postcode": person.postcode,
                "home_area": person.home_area,
                "oic_role": rnd.choice(("Detective Constable", "Police Sergeant", "Police Constable")),
                "oic_unit": f"{rnd.choice(UNITS)}, {person.home_area}",
                "oic_phone": f"01632 960{phone:03d}",
                "created_on": as_of - dt.timedelta(days=rnd.randrange(30, 1500)),
            }
        )
        for _ in range(rnd.choice((0, 1, 1, 2, 3, 4))):
            occurrence_number += 1
            kind = rnd.choice(tuple(OCCURRENCE_TYPES))
            occurred = as_of - dt.timedelta(days=rnd.randrange(0, 400))
            recent = (as_of - occurred).days < 14
            made["occurrences"].append(
                {
                    "id": occurrence_number,
                    "occurrence_ref": f"OCC-{occurred.year}-{occurrence_number:06d}",
                    "nominal_id": number,
                    "occurrence_type": kind,
                    "nominal_role": OCCURRENCE_TYPES[kind],
                    "occurred_on": occurred,
                    "location_area": rnd.choice((person.home_area, rnd.choice(("Norfolk", "Kent", "Essex")))),
                    "status": "OPEN" if recent or rnd.random() < 0.2 else rnd.choice(("FILED", "CLOSED")),
                }
            )
        if rnd.random() < 0.35:
            for code in rnd.sample(FLAG_CODES, rnd.choice((1, 1, 2))):
                made["intelligence_flags"].append(
                    {
                        "id": len(made["intelligence_flags"]) + 1,
                        "nominal_id": number,
                        "flag_code": code,
                        "raised_on": as_of - dt.timedelta(days=rnd.randrange(1, 700)),
                        "active": rnd.random() < 0.8,
                    }
                )
    return made
