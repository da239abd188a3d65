"""A synthetic council children's social care system: children, plans, missing episodes, NRM referrals.

Every record is made up. Its own schema, as a case management system might hold it, plus two
tables where the connector writes what partners send (``contacts``: a referral becomes a new
contact for the front door to screen; ``partner_alerts``) and the ``onedoor_status`` view the
council's IT staff made for the status index.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Final

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

from connectors.reference.people import people_for

metadata = MetaData()

children = Table(
    "children",
    metadata,
    Column("person_id", Integer, primary_key=True),
    Column("lcs_ref", String(20), nullable=False, unique=True),
    Column("forename", String(60), nullable=False),
    Column("surname", String(60), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("postcode", String(10)),
    Column("local_authority", String(60), nullable=False),
    Column("case_status", String(10), nullable=False),
    Column("worker_role", String(60)),
    Column("team", String(80)),
    Column("team_phone", String(20)),
    Column("team_email", String(80)),
)
plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("children.person_id"), nullable=False),
    Column("plan_type", String(4), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
)
missing_episodes = Table(
    "missing_episodes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("children.person_id"), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("returned_at", DateTime),
    Column("return_interview_done", Boolean, nullable=False),
)
nrm_referrals = Table(
    "nrm_referrals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("children.person_id"), nullable=False),
    Column("referred_on", Date, nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("decision_date", Date),
)
contacts = Table(
    "contacts",
    metadata,
    Column("contact_id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("source_agency", String(64), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("referral_id", String(36), nullable=False),
    Column("urgency", String(20), nullable=False),
    Column("requested_service", String(30)),
    Column("subject_token", String(64)),
    Column("child_forename", String(60)),  # empty when an agreement shares status, not the child's name
    Column("child_surname", String(60)),
    Column("child_dob", Date),
    Column("child_postcode", String(10)),
    Column("concern_categories", String(400)),
    Column("concern_summary", Text, nullable=False),
    Column("nrm_status", String(40)),
    Column("contact_status", String(12), nullable=False, server_default="NEW"),
)
partner_alerts = Table(
    "partner_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("source_agency", String(64), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("alert_id", String(36), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("risk_level", String(10)),
    Column("town", String(60)),
    Column("details", Text),
    Column("contact_name", String(80)),
    Column("contact_phone", String(30)),
)

PLAN_TYPES: Final = ("CIN", "CP", "LAC")
"""Child in need, child protection, looked after."""
NRM_OUTCOMES: Final = ("PENDING", "RG_POS", "RG_NEG", "CG_POS", "CG_NEG")
TEAMS: Final = ("Adolescent safeguarding team", "Children in care team", "Child in need team", "Exploitation hub")
ROLES: Final = ("Allocated social worker", "Exploitation lead", "Team manager", "Personal adviser")


def status_view(dialect: str) -> str:
    """The ``onedoor_status`` view: one row per child with what a status check needs."""
    since = "datetime('now', '-90 day')" if dialect == "sqlite" else "LOCALTIMESTAMP - INTERVAL '90 days'"
    return f"""CREATE VIEW onedoor_status AS
SELECT c.lcs_ref, c.forename, c.surname, c.date_of_birth, c.postcode, c.case_status,
  c.worker_role, c.team, c.team_phone, c.team_email,
  (SELECT p.plan_type FROM plans p WHERE p.person_id = c.person_id AND p.end_date IS NULL
     ORDER BY p.start_date DESC LIMIT 1) AS current_plan,
  (SELECT r.outcome FROM nrm_referrals r WHERE r.person_id = c.person_id
     ORDER BY r.referred_on DESC LIMIT 1) AS nrm_outcome,
  (SELECT COUNT(*) FROM missing_episodes m WHERE m.person_id = c.person_id AND m.started_at >= {since}) AS missing_90d,
  CASE WHEN EXISTS (SELECT 1 FROM missing_episodes m WHERE m.person_id = c.person_id AND m.returned_at IS NULL)
     THEN 1 ELSE 0 END AS missing_now
FROM children c"""  # noqa: S608 - a fixed statement; only the dialect's date expression varies


def rows(count: int, *, seed: int, as_of: dt.date) -> dict[str, list[dict[str, Any]]]:
    """The council's rows, table by table: the same for the same ``count``, ``seed`` and ``as_of``."""
    rnd = random.Random(seed * 10 + 8)  # noqa: S311 - reproducible fake data, nothing secret
    made: dict[str, list[dict[str, Any]]] = {"children": [], "plans": [], "missing_episodes": [], "nrm_referrals": []}
    midnight = dt.datetime.combine(as_of, dt.time())
    for number, person in enumerate(people_for("council", count, seed=seed, as_of=as_of), 1):
        team = rnd.choice(TEAMS)
        extension = rnd.randrange(1000)
        open_case = rnd.random() < 0.7
        made["children"].append(
            {
                "person_id": number,
                "lcs_ref": f"LCS-{number:06d}",
                "forename": person.given_name,
                "surname": person.family_name,
                "date_of_birth": person.date_of_birth,
                "postcode": person.postcode,
                "local_authority": person.home_area,
                "case_status": "OPEN" if open_case else "CLOSED",
                "worker_role": rnd.choice(ROLES),
                "team": f"{team}, {person.home_area}",
                "team_phone": f"01632 960{extension:03d}",
                "team_email": f"duty.team{extension:03d}@example.org",
            }
        )
        if rnd.random() < 0.6:
            started = as_of - dt.timedelta(days=rnd.randrange(20, 900))
            ended = None if open_case else started + dt.timedelta(days=rnd.randrange(10, 19))
            made["plans"].append(
                {
                    "id": len(made["plans"]) + 1,
                    "person_id": number,
                    "plan_type": rnd.choice(PLAN_TYPES),
                    "start_date": started,
                    "end_date": ended if ended is None or ended < as_of else None,
                }
            )
        for _ in range(rnd.choice((0, 0, 0, 1, 2, 3, 5))):
            started_at = midnight - dt.timedelta(days=rnd.randrange(0, 300), minutes=rnd.randrange(1440))
            away = dt.timedelta(hours=rnd.randrange(3, 96))
            still_missing = started_at + away > midnight or rnd.random() < 0.02
            made["missing_episodes"].append(
                {
                    "id": len(made["missing_episodes"]) + 1,
                    "person_id": number,
                    "started_at": started_at,
                    "returned_at": None if still_missing else started_at + away,
                    "return_interview_done": (not still_missing) and rnd.random() < 0.7,
                }
            )
        if rnd.random() < 0.2:
            referred = as_of - dt.timedelta(days=rnd.randrange(5, 600))
            outcome = rnd.choice(NRM_OUTCOMES)
            decided = None if outcome == "PENDING" else min(as_of, referred + dt.timedelta(days=rnd.randrange(5, 90)))
            made["nrm_referrals"].append(
                {
                    "id": len(made["nrm_referrals"]) + 1,
                    "person_id": number,
                    "referred_on": referred,
                    "outcome": outcome,
                    "decision_date": decided,
                }
            )
    return made
