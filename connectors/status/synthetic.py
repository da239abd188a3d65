"""Synthetic, obviously fake status records for tests, demos and benchmarks. Never real people.

Given names are ordinary (so nickname and transliteration handling has something to do);
family names are made up (``Fakeley``, ``Testwood``...); postcodes are in the ``ZZ99``
pseudo-district; phone numbers are in Ofcom's drama range (01632 960xxx); emails are at
``example.org``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Final

from connectors.identity import Identifiers
from connectors.status.index import StatusRecord
from connectors.status.messages import LeadProfessional, NrmStage, StatusFlag

GIVEN: Final = (
    "Jonathan", "Muhammad", "Aisha", "Oliver", "Amelia", "Kwame", "Zainab", "Tyler", "Chloe", "Yusuf",
    "Katherine", "Daniel", "Fatima", "Liam", "Sophia", "Reece", "Ibrahim", "Jade", "Connor", "Precious",
)  # fmt: skip
FAMILY: Final = (
    "Fakeley", "Testwood", "Examplesmith", "Notrealson", "Dummington", "Samplefield", "Mockridge",
    "Placeholder-Jones", "Fictionby", "Madeupova", "Synthetico", "Pretendwell", "Imaginary-Okafor",
    "Testerton", "Bogusford", "Fauxman", "Nonesuch", "Dreamland", "Trialworth", "Unrealy",
)  # fmt: skip
TEAMS: Final = (
    "Testborough adolescent safeguarding team",
    "Sampleton children's social care duty team",
    "Fakeshire exploitation hub",
)
ROLES: Final = ("allocated social worker", "exploitation lead", "YOT case manager", "team manager")


def synthetic_records(count: int, *, seed: int = 0, prefix: str = "fake-rec") -> list[StatusRecord]:
    """``count`` made-up records, the same for the same ``seed``; about a third are exploitation victims."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible fake data, nothing secret
    records = []
    for number in range(count):
        born = date(2007, 1, 1) + timedelta(days=rnd.randrange(365 * 8))
        postcode = f"ZZ99 {rnd.randrange(10)}ZZ" if rnd.random() < 0.8 else None
        identifiers = Identifiers.parse(rnd.choice(GIVEN), rnd.choice(FAMILY), born.isoformat(), postcode)
        records.append(_record(f"{prefix}-{seed:03d}-{number:06d}", identifiers, rnd))
    return records


def known_victim(reference: str = "fake-rec-victim-0001") -> StatusRecord:
    """A fixed record for demos and tests: a suspected exploitation victim with NRM reasonable grounds."""
    return StatusRecord(
        record_reference=reference,
        identifiers=Identifiers.parse("Jonathan", "Testwood-Fakeley", "2010-03-14", "ZZ99 3ZZ"),
        flags=frozenset({StatusFlag.SUSPECTED_EXPLOITATION_VICTIM, StatusFlag.RECENT_MISSING_EPISODES}),
        nrm_stage=NrmStage.REASONABLE_GROUNDS_POSITIVE,
        missing_episodes_last_90_days=3,
        case_open=True,
        lead_professional=LeadProfessional(
            role="allocated social worker",
            team="Testborough adolescent safeguarding team",
            phone="01632 960123",
            email="duty.adolescents@example.org",
        ),
    )


def _record(reference: str, identifiers: Identifiers, rnd: random.Random) -> StatusRecord:
    flags: set[StatusFlag] = set()
    stage = NrmStage.NOT_REFERRED
    roll = rnd.random()
    if roll < 0.15:
        flags.add(StatusFlag.KNOWN_EXPLOITATION_VICTIM)
        stage = rnd.choice([NrmStage.REASONABLE_GROUNDS_POSITIVE, NrmStage.CONCLUSIVE_GROUNDS_POSITIVE])
    elif roll < 0.35:
        flags.add(StatusFlag.SUSPECTED_EXPLOITATION_VICTIM)
        stage = rnd.choice([NrmStage.NOT_REFERRED, NrmStage.REFERRED_AWAITING_DECISION])
    if rnd.random() < 0.2:
        flags.add(StatusFlag.CHILD_PROTECTION_PLAN)
    elif rnd.random() < 0.2:
        flags.add(StatusFlag.CHILD_IN_NEED)
    if rnd.random() < 0.15:
        flags.add(StatusFlag.LOOKED_AFTER)
    missing = rnd.choice([0, 0, 0, 1, 2, 4])
    if missing:
        flags.add(StatusFlag.RECENT_MISSING_EPISODES)
    if rnd.random() < 0.03:
        flags.add(StatusFlag.CURRENTLY_MISSING)
    number = rnd.randrange(1000)
    return StatusRecord(
        record_reference=reference,
        identifiers=identifiers,
        flags=frozenset(flags),
        nrm_stage=stage,
        missing_episodes_last_90_days=missing,
        case_open=bool(flags) or rnd.random() < 0.3,
        lead_professional=LeadProfessional(
            role=rnd.choice(ROLES),
            team=rnd.choice(TEAMS),
            phone=f"01632 960{number:03d}",
            email=f"duty.team{number:03d}@example.org",
        ),
    )
