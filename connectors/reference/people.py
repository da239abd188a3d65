"""Synthetic young people for the reference agencies: deterministic, plausible, obviously fake.

Every person here is made up. Given names come from Faker's ``en_GB`` locale; every family name
is marked ``Fake-`` (``Fake-Walker``), postcodes are in the ``ZZ99`` pseudo-district, phone
numbers in Ofcom's drama range (01632 960xxx) and email addresses at ``example.org``.

``shared_people(seed, n)`` are the children both the police and the council know (the same
synthetic identity in both systems, so a status check finds them across the two);
``own_people(seed, system, n)`` are those only one system knows.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Final

from faker import Faker

LONDON_BOROUGHS: Final = (
    "Barking and Dagenham", "Barnet", "Bexley", "Brent", "Bromley", "Camden", "Croydon", "Ealing", "Enfield",
    "Greenwich", "Hackney", "Hammersmith and Fulham", "Haringey", "Harrow", "Havering", "Hillingdon", "Hounslow",
    "Islington", "Kensington and Chelsea", "Kingston upon Thames", "Lambeth", "Lewisham", "Merton", "Newham",
    "Redbridge", "Richmond upon Thames", "Southwark", "Sutton", "Tower Hamlets", "Waltham Forest", "Wandsworth",
    "Westminster",
)  # fmt: skip
"""The 32 London boroughs (the City of London aside)."""
COUNTY_AREAS: Final = (
    "Norfolk", "Suffolk", "Essex", "Kent", "Surrey", "Sussex", "Hertfordshire", "Cambridgeshire", "Thames Valley",
    "Hampshire", "Bedfordshire", "Northamptonshire", "Lincolnshire", "Devon and Cornwall",
)  # fmt: skip
"""County areas where county lines reach (police force areas)."""
AREAS: Final = LONDON_BOROUGHS + COUNTY_AREAS
FAKE_MARK: Final = "Fake-"
"""Every synthetic family name starts with this."""
SHARED_SHARE: Final = 4
"""One child in this many (at least one) is known to both reference systems."""


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic young person."""

    given_name: str
    family_name: str
    date_of_birth: dt.date
    postcode: str | None
    home_area: str
    """A London borough or a county area."""


def shared_count(count: int) -> int:
    """How many of a system's ``count`` people are shared with the other system."""
    return max(1, count // SHARED_SHARE) if count else 0


def shared_people(seed: int, count: int, *, as_of: dt.date) -> list[Person]:
    """The first ``count`` children known to both systems: the same for the same ``seed`` and ``as_of``."""
    return _people(seed * 10 + 1, count, as_of=as_of, areas=LONDON_BOROUGHS)


def own_people(seed: int, system: str, count: int, *, as_of: dt.date) -> list[Person]:
    """``count`` children only ``system`` knows."""
    stream = {"police": 2, "council": 3}[system]
    areas = AREAS if system == "police" else LONDON_BOROUGHS
    return _people(seed * 10 + stream, count, as_of=as_of, areas=areas)


def people_for(system: str, count: int, *, seed: int, as_of: dt.date) -> list[Person]:
    """The ``count`` people of one system: the shared ones first, then its own."""
    shared = shared_count(count)
    return shared_people(seed, shared, as_of=as_of) + own_people(seed, system, count - shared, as_of=as_of)


def _people(stream: int, count: int, *, as_of: dt.date, areas: tuple[str, ...]) -> list[Person]:
    fake = Faker("en_GB")
    fake.seed_instance(stream)
    rnd = random.Random(stream)  # noqa: S311 - reproducible fake data, nothing secret
    found = []
    for _ in range(count):
        age_days = rnd.randrange(10 * 365, 18 * 365 - 1)  # aged 10 to 17
        postcode = f"ZZ99 {rnd.randrange(10)}{rnd.choice('ABDEFGHJLNPQRSTUWXYZ')}{rnd.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        found.append(
            Person(
                given_name=fake.first_name(),
                family_name=f"{FAKE_MARK}{fake.last_name()}",
                date_of_birth=as_of - dt.timedelta(days=age_days),
                postcode=postcode if rnd.random() < 0.85 else None,
                home_area=rnd.choice(areas),
            )
        )
    return found
