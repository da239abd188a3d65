"""Synthetic labelled pairs of obviously fake people, to measure matching quality.

Names are drawn from short invented lists of common given names and surnames; dates of birth
and postcode districts are random. Matching pairs get the noise real records have (nickname,
transliteration, typo, case and spacing, hyphenated or swapped names, day/month swap, a move,
a missing postcode); non-matching pairs are mostly *hard*: siblings, twins and namesakes.

The noise tables here are written independently of the matcher's own tables (the nickname list
and transliteration rows in ``normalise.py``), so the evaluation is not graded on its own answers.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from connectors.identity.identifiers import Identifiers
from onedoor.errors import ValidationFailed

HEADER = (
    "given_name_a",
    "family_name_a",
    "date_of_birth_a",
    "postcode_a",
    "given_name_b",
    "family_name_b",
    "date_of_birth_b",
    "postcode_b",
    "same_person",
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GIVEN = _words(
    "Oliver Jack Harry George Noah Charlie Jacob Alfie Freddie Oscar Leo Logan Archie Theo Thomas James Joshua Henry "
    "William Max Lucas Ethan Arthur Mason Isaac Harrison Teddy Finley Daniel Riley Edward Joseph Alexander Adam "
    "Reggie Samuel Jaxon Sebastian Elijah Harley Toby Arlo Dylan Jude Benjamin Rory Tommy Jake Louie Carter Jenson "
    "Hugo Bobby Frankie Ollie Zachary David Albie Lewis Luca Ronnie Jasper Ellis Matthew Michael Nathan Robert "
    "Jonathan Christopher Anthony Patrick Stephen Kieran Tyler Callum Connor Kai Reuben Mohammed Yusuf Ibrahim Omar "
    "Ali Hamza Ayaan Zain Bilal Tariq Kwame Kofi Chidi Emeka Tunde Oluwaseun Arjun Rohan Vikram Dev Aarav Krzysztof "
    "Piotr Jakub Mateusz Aleksander Dmitri Andrei Luis Diego Mateo Olivia Amelia Isla Ava Mia Ivy Lily Isabella "
    "Rosie Sophia Grace Willow Freya Florence Emily Ella Poppy Evie Elsie Charlotte Evelyn Sienna Daisy Phoebe "
    "Sophie Alice Harper Ruby Matilda Millie Isabelle Maya Emilia Hannah Esme Eliza Imogen Erin Scarlett Jessica "
    "Lucy Elizabeth Katherine Rebecca Abigail Samantha Victoria Jennifer Margaret Deborah Susan Aisha Fatima Zainab "
    "Maryam Amira Layla Noor Hafsa Khadija Amara Chioma Ngozi Adaeze Folake Priya Ananya Kavya Zofia Agnieszka "
    "Natalia Anastasia Daria Lucia Valentina Carmen Niamh Siobhan Aoife"
)

_MULTI_WORD_FAMILY = ("St John", "De Souza", "Van Dijk", "Du Plessis", "Ó Briain", "Müller", "Sánchez", "Nuñez")
FAMILY = _MULTI_WORD_FAMILY + _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker White Roberts "
    "Green Hall Wood Jackson Clarke Patel Khan Ahmed Hussain Ali Begum Shah Singh Kaur Sharma Okafor Adeyemi Mensah "
    "Osei Nwosu Okonkwo Mbeki Kowalski Nowak Wisniewski Lewandowski Ivanova Petrov Popescu Murphy Kelly O'Brien "
    "O'Connor O'Sullivan McDonald MacLeod Fitzgerald Harris Martin Cooper King Lee Ward Turner Hill Moore Baker "
    "Harrison Morgan Young Allen Mitchell Bell Carter Phillips Hughes Edwards Collins Stewart Morris Rogers Reed "
    "Cook Bailey Parker Price Bennett Richardson Shaw Chapman Ellis Mason Hunt Palmer Holmes Mills Barnes Knight "
    "Lloyd Butler Russell Barker Fisher Stevens Jenkins Dixon Fletcher Fernandes Santos Silva Costa Nguyen Tran Chen "
    "Wang Li Kim Rahman Chowdhury Miah Uddin Ibrahim Mahmood Iqbal Malik Akhtar Bibi Yilmaz Demir "
    "Łukaszewicz"
)

DISTRICTS = _words(
    "NR1 NR2 NR3 NR5 NR14 IP1 IP4 CB1 CB4 PE1 PE13 LN1 LN6 E1 E8 E15 N1 N17 SE1 SE15 SE28 SW2 SW9 W2 W10 NW1 NW10 "
    "BR1 CR0 CR7 EN3 IG1 RM1 UB1 HA0 TW3 KT1 SM1 DA1 ME1 CT1 BN1 GU1 RG1 OX1 MK1 LU1 SG1 CM1 CO1 SS1 B1 B23 M1 M14 "
    "L1 L8 LS1 LS9 S1 S2 NG1 NG7 LE1 DE1 CV1 WV1 BD1 HU1 TS1 NE1 SR1 DH1 BS1 BS5 CF10 PL1 EX1"
)

# Formal name -> nicknames a record might hold instead (written here, not taken from the matcher's list).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Jonathan": ("Jon", "Jonny", "Johnny"),
    "Robert": ("Rob", "Bob", "Bobby", "Robbie"),
    "William": ("Will", "Bill", "Billy", "Liam"),
    "Thomas": ("Tom", "Tommy"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Alexander": ("Alex", "Sandy", "Xander"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Samuel": ("Sam", "Sammy"),
    "Benjamin": ("Ben", "Benji", "Benny"),
    "Joseph": ("Joe", "Joey"),
    "Matthew": ("Matt", "Matty"),
    "Michael": ("Mike", "Mikey", "Mick"),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"),
    "Anthony": ("Tony", "Ant"),
    "Patrick": ("Pat", "Paddy"),
    "Stephen": ("Steve", "Stevie"),
    "Zachary": ("Zach", "Zack"),
    "David": ("Dave", "Davey"),
    "Henry": ("Harry", "Hal"),
    "Nathan": ("Nate", "Nat"),
    "Elizabeth": ("Liz", "Lizzie", "Beth", "Betty", "Eliza"),
    "Katherine": ("Kate", "Katie", "Kathy", "Kat"),
    "Rebecca": ("Becky", "Becca"),
    "Abigail": ("Abby", "Abbie", "Gail"),
    "Samantha": ("Sam", "Sammie"),
    "Victoria": ("Vicky", "Tori"),
    "Jennifer": ("Jen", "Jenny"),
    "Margaret": ("Maggie", "Meg", "Peggy"),
    "Deborah": ("Debbie", "Deb"),
    "Susan": ("Sue", "Susie"),
    "Isabella": ("Bella", "Izzy"),
    "Charlotte": ("Lottie", "Charlie"),
    "Olivia": ("Liv", "Livvy"),
    "Matilda": ("Tilly", "Tilda"),
    "Florence": ("Flo", "Florrie"),
    "Jessica": ("Jess", "Jessie"),
    "Frederick": ("Fred", "Freddie"),
}
# Spellings of the same name across transliterations.
TRANSLITERATIONS: tuple[tuple[str, ...], ...] = (
    ("Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed"),
    ("Yusuf", "Yousef", "Youssef", "Yousuf"),
    ("Ibrahim", "Ebrahim", "Ibraheem"),
    ("Aisha", "Ayesha", "Aysha"),
    ("Fatima", "Fatimah"),
    ("Zainab", "Zaynab"),
    ("Omar", "Umar", "Omer"),
    ("Hamza", "Hamzah"),
    ("Khadija", "Khadijah", "Khadeeja"),
    ("Maryam", "Mariam", "Maryum"),
    ("Aleksander", "Alexander", "Aleksandr"),
    ("Dmitri", "Dmitry", "Dimitri"),
    ("Andrei", "Andrey", "Andrej"),
    ("Anastasia", "Anastasiya"),
    ("Daria", "Darya", "Dariya"),
    ("Katherine", "Catherine", "Kathryn"),
    ("Sophia", "Sofia"),
    ("Krzysztof", "Kristof"),
    ("Oluwaseun", "Seun"),
)
_TRANSLIT_OF = {row[0]: row[1:] for row in TRANSLITERATIONS}
NOISES = (
    "nickname",
    "transliteration",
    "typo_given",
    "typo_family",
    "case_spacing",
    "hyphenated",
    "swapped_names",
    "day_month_swap",
    "moved",
    "missing_postcode",
    "dob_typo",
    "accents",
)
_NOISE_WEIGHTS = (10, 8, 12, 10, 10, 10, 6, 8, 12, 10, 3, 4)
_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_LATEST = date(2024, 1, 1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NEGATIVES = ("sibling", "twin", "namesake", "stranger")
_NEGATIVE_WEIGHTS = (30, 30, 30, 10)


@dataclass(frozen=True, slots=True)
class Person:
    """One side of a pair, as text a record would hold (postcode "" when missing)."""

    given_name: str
    family_name: str
    date_of_birth: str
    postcode: str

    def __repr__(self) -> str:
        return "Person(<redacted>)"


@dataclass(frozen=True, slots=True)
class Pair:
    """Two records and whether they are the same person; ``label`` says which noise or which hard negative."""

    a: Person
    b: Person
    same_person: bool
    label: str = ""


def generate_pairs(n: int, seed: int) -> list[Pair]:
    """``n`` labelled pairs, half the same person with noise, half hard negatives; the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible synthetic data, not a secret
    pairs: list[Pair] = []
    for i in range(n):
        base = _person(rng)
        if i % 2 == 0:
            count = rng.choice((1, 1, 1, 2, 2, 3))
            noises = rng.choices(NOISES, weights=_NOISE_WEIGHTS, k=count)
            other = base
            for noise in dict.fromkeys(noises):
                other = _NOISE[noise](rng, other)
            pairs.append(Pair(base, other, True, "+".join(dict.fromkeys(noises))))
        else:
            kind = rng.choices(_NEGATIVES, weights=_NEGATIVE_WEIGHTS)[0]
            other = _NEGATIVE[kind](rng, base)
            if rng.random() < 0.3:
                other = _NOISE[rng.choice(("case_spacing", "missing_postcode", "moved"))](rng, other)
            pairs.append(Pair(base, other, False, kind))
    return pairs


def _person(rng: random.Random) -> Person:
    given = rng.choice(GIVEN)
    if given in NICKNAMES and rng.random() < 0.2:
        given = rng.choice(tuple(NICKNAMES))
    family = rng.choice(FAMILY)
    if rng.random() < 0.08:  # some records already hold a double-barrelled name
        family = f"{family}-{rng.choice(FAMILY)}"
    if rng.random() < 0.1:
        given = f"{given} {rng.choice(GIVEN)}"
    dob = date(2004, 1, 1) + timedelta(days=rng.randrange(18 * 365))
    postcode = (
        rng.choice(DISTRICTS)
        + f" {rng.randrange(10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    )
    return Person(given, family, dob.isoformat(), postcode if rng.random() < 0.85 else "")


def _dob(person: Person) -> date:
    return date.fromisoformat(person.date_of_birth)


def _with(person: Person, **changes: str) -> Person:
    values = {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "date_of_birth": person.date_of_birth,
        "postcode": person.postcode,
    }
    values.update(changes)
    return Person(**values)


def _typo(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text + text[-1]
    i = rng.choice(letters[1:])  # the first letter is seldom mistyped
    op = rng.choice(("substitute", "transpose", "delete", "double"))
    if op == "substitute":
        return text[:i] + rng.choice("aeioulnrst".replace(text[i].lower(), "")) + text[i + 1 :]
    if op == "transpose" and i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == "delete":
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _nickname(rng: random.Random, p: Person) -> Person:
    first = p.given_name.split(" ")[0]
    if first in NICKNAMES:
        return _with(p, given_name=rng.choice(NICKNAMES[first]))
    for formal, nicks in NICKNAMES.items():
        if first in nicks:
            return _with(p, given_name=formal)
    return _case_spacing(rng, p)  # no nickname known for this name


def _transliteration(rng: random.Random, p: Person) -> Person:
    first = p.given_name.split(" ")[0]
    for row in TRANSLITERATIONS:
        if first in row:
            return _with(p, given_name=rng.choice([name for name in row if name != first]))
    return _accents(rng, p)  # no other spelling known for this name


def _typo_given(rng: random.Random, p: Person) -> Person:
    return _with(p, given_name=_typo(rng, p.given_name))


def _typo_family(rng: random.Random, p: Person) -> Person:
    return _with(p, family_name=_typo(rng, p.family_name))


def _case_spacing(rng: random.Random, p: Person) -> Person:
    style = rng.choice((str.upper, str.lower, lambda s: f"  {s} ", lambda s: s.replace("'", "").replace("-", " ")))
    return _with(p, given_name=style(p.given_name), family_name=style(p.family_name))


def _accents(rng: random.Random, p: Person) -> Person:
    table = str.maketrans("aeiouAEIOU", "áéíóúÁÉÍÓÚ") if rng.random() < 0.5 else str.maketrans("éèëöüñ", "eeeoun")
    return _with(p, family_name=p.family_name.translate(table))


def _hyphenated(rng: random.Random, p: Person) -> Person:
    if "-" in p.family_name:
        return _with(p, family_name=rng.choice(p.family_name.split("-")))
    other = rng.choice(FAMILY)
    joined = rng.choice((f"{p.family_name}-{other}", f"{other}-{p.family_name}", f"{p.family_name} {other}"))
    return _with(p, family_name=joined)


def _swapped(_: random.Random, p: Person) -> Person:
    return _with(p, given_name=p.family_name, family_name=p.given_name)


def _day_month_swap(rng: random.Random, p: Person) -> Person:
    dob = _dob(p)
    if dob.day > 12 or dob.day == dob.month:
        return _moved(rng, p)
    return _with(p, date_of_birth=date(dob.year, dob.day, dob.month).isoformat())


def _dob_typo(rng: random.Random, p: Person) -> Person:
    """One digit of the day or of the year's last two digits mistyped (the result still a past date)."""
    text = p.date_of_birth
    for _ in range(20):
        i = rng.choice((2, 3, 8, 9))
        candidate = text[:i] + rng.choice("0123456789".replace(text[i], "")) + text[i + 1 :]
        try:
            if date(2000, 1, 1) <= date.fromisoformat(candidate) < _LATEST:
                return _with(p, date_of_birth=candidate)
        except ValueError:
            continue
    return _moved(rng, p)


def _moved(rng: random.Random, p: Person) -> Person:
    return _with(p, postcode=f"{rng.choice(DISTRICTS)} {rng.randrange(10)}AB")


def _missing_postcode(_: random.Random, p: Person) -> Person:
    return _with(p, postcode="")


_NOISE = {
    "nickname": _nickname,
    "transliteration": _transliteration,
    "typo_given": _typo_given,
    "typo_family": _typo_family,
    "case_spacing": _case_spacing,
    "hyphenated": _hyphenated,
    "swapped_names": _swapped,
    "day_month_swap": _day_month_swap,
    "moved": _moved,
    "missing_postcode": _missing_postcode,
    "dob_typo": _dob_typo,
    "accents": _accents,
}


def _other_given(rng: random.Random, p: Person) -> str:
    first = p.given_name.split(" ")[0]
    while True:
        given = rng.choice(GIVEN)
        if given != first and given not in NICKNAMES.get(first, ()) and first not in NICKNAMES.get(given, ()):
            return given


def _sibling(rng: random.Random, p: Person) -> Person:
    gap = timedelta(days=rng.randrange(300, 6 * 365))
    dob = _dob(p) + gap if rng.random() < 0.5 and _dob(p) + gap < _LATEST else _dob(p) - gap
    return _with(p, given_name=_other_given(rng, p), date_of_birth=dob.isoformat())


def _twin(rng: random.Random, p: Person) -> Person:
    return _with(p, given_name=_other_given(rng, p))


def _namesake(rng: random.Random, p: Person) -> Person:
    dob = _dob(p)
    while (other := date(2004, 1, 1) + timedelta(days=rng.randrange(18 * 365))) == dob:
        pass
    postcode = rng.choice((p.postcode, f"{rng.choice(DISTRICTS)} 1AA", ""))
    return _with(p, date_of_birth=other.isoformat(), postcode=postcode)


def _stranger(rng: random.Random, _: Person) -> Person:
    return _person(rng)


_NEGATIVE = {"sibling": _sibling, "twin": _twin, "namesake": _namesake, "stranger": _stranger}


def write_csv(pairs: Iterable[Pair], out: TextIO) -> None:
    """Write pairs with the header of ``HEADER``."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for pair in pairs:
        a, b = pair.a, pair.b
        label = "1" if pair.same_person else "0"
        writer.writerow([*_cells(a), *_cells(b), label])


def _is_iso_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _cells(person: Person) -> list[str]:
    return [person.given_name, person.family_name, person.date_of_birth, person.postcode]


def read_csv(path: Path) -> list[Pair]:
    """Read pairs written by ``write_csv`` (or by hand), checking the header, dates and labels.

    Each side is also checked as the status check would check typed input (``Identifiers.parse``).

    Raises:
        ValidationFailed: ``identity.bad_pairs_file``, naming the line; the message never quotes a name.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != HEADER:
            raise ValidationFailed("identity.bad_pairs_file", f"line 1: the header must be {','.join(HEADER)}")
        pairs = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(HEADER):
                raise ValidationFailed(
                    "identity.bad_pairs_file", f"line {line}: expected {len(HEADER)} columns, found {len(row)}"
                )
            for column in (2, 6):
                if not _is_iso_date(row[column].strip()):
                    raise ValidationFailed(
                        "identity.bad_pairs_file", f"line {line}: {HEADER[column]} is not a date written YYYY-MM-DD"
                    )
            if row[8].strip() not in {"0", "1"}:
                raise ValidationFailed("identity.bad_pairs_file", f"line {line}: same_person must be 1 or 0")
            a, b = Person(*row[0:4]), Person(*row[4:8])
            for side in (a, b):
                try:
                    Identifiers.parse(side.given_name, side.family_name, side.date_of_birth, side.postcode)
                except ValidationFailed as error:
                    raise ValidationFailed(
                        "identity.bad_pairs_file", f"line {line}: {error.message} ({error.code})"
                    ) from None
            pairs.append(Pair(a, b, row[8].strip() == "1"))
    return pairs
