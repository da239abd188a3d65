"""Subject tokens derived from identifiers: deterministic, keyed, over the canonical forms, never identity tokens."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.identity import Identifiers, MatchingKey, derive_tokens
from connectors.identity.subject import (
    DOMAIN,
    UNDERSPECIFIED,
    SubjectColumns,
    UnderivableSubject,
    canonical_family,
    canonical_given,
    subject_token,
    subject_token_from_row,
)
from connectors.identity.tokens import DOMAIN as IDENTITY_DOMAIN
from onedoor.errors import ValidationFailed
from onedoor.ids import SubjectToken

KEY = MatchingKey(b"synthetic-test-matching-key-0001" * 2)
OTHER_KEY = MatchingKey(b"synthetic-test-matching-key-0002" * 2)
TODAY = dt.date(2026, 3, 2)
COLUMNS = SubjectColumns("forename", "surname", "dob")


def ids(given: str, family: str, dob: str = "2010-04-03") -> Identifiers:
    return Identifiers.parse(given, family, dob, today=TODAY)


def token(given: str, family: str, dob: str = "2010-04-03", key: MatchingKey = KEY) -> SubjectToken:
    return subject_token(key, ids(given, family, dob))


def test_the_token_is_deterministic_and_has_the_subject_token_shape() -> None:
    first = token("Testy", "McFakeface")
    assert first == token("Testy", "McFakeface")
    assert isinstance(first, SubjectToken)
    assert SubjectToken.pattern.fullmatch(str(first))
    assert str(first).startswith("st1_")
    assert len(str(first)) == 4 + 43, "the whole 256-bit HMAC, base64url without padding"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("Testy", "McFakeface"), ("TESTY", "mcfakeface")),
        (("Synthia", "smith-okafor"), ("synthia", "Smith-Okafor")),
        (("Synthia", "Smith-Okafor"), (" Synthia ", "Smith Okafor")),
        (("Zoë", "O'Fakename"), ("Zoe", "OFakename")),
        (("Mohammed", "Testperson"), ("Muhammad", "Testperson")),
        (("Testy Marie", "McFakeface"), ("Testy", "McFakeface")),
        (("Mary-Testa", "Example"), ("MARY-TESTA", "Example")),
    ],
    ids=["case", "hyphenated-case", "hyphen-or-space", "accent-apostrophe", "transliteration", "middle-name", "hyphen"],
)
def test_spellings_the_canonical_form_absorbs_give_the_same_token(one: tuple[str, str], other: tuple[str, str]) -> None:
    assert token(*one) == token(*other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("Jon", "Smith"), ("Jonathan", "Smith")),
        (("Testy", "Smith-Okafor"), ("Testy", "Smith")),
        (("Testy", "McFakeface"), ("Testy", "McFakefase")),
        (("Mary-Testa", "Example"), ("Mary Testa", "Example")),
    ],
    ids=["nickname", "one-part-of-a-double-barrelled-name", "typo", "hyphenated-or-middle-name"],
)
def test_spellings_the_canonical_form_does_not_absorb_give_another_token(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    # What the module documents: such a child has two networks until linked (the identity tokens still match them).
    assert token(*one) != token(*other)
    assert derive_tokens(ids(*one), KEY).all() & derive_tokens(ids(*other), KEY).all(), "status matching still agrees"


def test_the_canonical_forms_are_those_of_the_normalise_module() -> None:
    assert canonical_given("  Zoë-Marie ") == "zoemarie"
    assert canonical_given("  Zoë Marie ") == "zoe"  # a middle name is not part of it
    assert canonical_given("Mohamed") == "muhammad"
    assert canonical_family("Smith-Okafor") == "smithokafor"
    assert canonical_family("Mc Fakeface") == canonical_family("McFakeface") == "mcfakeface"


def test_twins_with_hyphenated_given_names_never_share_a_token() -> None:
    # Same family name and birthday: "mary" for both would merge two children's consent and networks.
    assert token("Mary-Testa", "Example") != token("Mary-Fakea", "Example")


def test_another_date_of_birth_or_a_swapped_day_and_month_gives_another_token() -> None:
    base = token("Testy", "McFakeface", "2010-04-03")
    assert token("Testy", "McFakeface", "2010-04-04") != base
    assert token("Testy", "McFakeface", "2010-03-04") != base, "the date is exact: no day/month swap"
    assert token("Testy", "McFakeface", "03/04/2010") == base, "day-first text is the same date"


def test_another_key_gives_another_token() -> None:
    assert token("Testy", "McFakeface", key=OTHER_KEY) != token("Testy", "McFakeface")


def test_a_subject_token_is_never_one_of_the_identity_tokens() -> None:
    assert DOMAIN != IDENTITY_DOMAIN
    person = ids("Testy", "McFakeface")
    subject = str(subject_token(KEY, person))
    identity = derive_tokens(person, KEY).all()
    assert subject not in identity
    assert subject.removeprefix("st1_") not in identity
    assert all(not subject.removeprefix("st1_").startswith(t) for t in identity), "not even as a prefix"


@pytest.mark.parametrize(
    "person",
    [
        Identifiers("", "McFakeface", dt.date(2010, 4, 3)),
        Identifiers("Testy", " - ", dt.date(2010, 4, 3)),
        Identifiers("Testy", "McFakeface", None),  # type: ignore[arg-type]
    ],
    ids=["no-given-name", "family-name-without-letters", "no-date-of-birth"],
)
def test_missing_identifiers_are_refused_with_a_stable_code_naming_the_field(person: Identifiers) -> None:
    with pytest.raises(ValidationFailed) as caught:
        subject_token(KEY, person)
    assert caught.value.code == UNDERSPECIFIED
    assert "McFakeface" not in caught.value.message
    assert "Testy" not in caught.value.message


def test_a_row_gives_the_same_token_from_a_date_or_from_text() -> None:
    expected = token("Testy", "McFakeface", "2010-04-03")
    from_date = {"forename": "Testy", "surname": "McFakeface", "dob": dt.date(2010, 4, 3)}
    from_time = {"forename": "Testy", "surname": "McFakeface", "dob": dt.datetime(2010, 4, 3, 0, 0)}
    from_text = {"forename": "TESTY", "surname": "mcfakeface", "dob": "03/04/2010"}
    for row in (from_date, from_time, from_text):
        assert subject_token_from_row(KEY, COLUMNS, row, today=TODAY) == expected


@pytest.mark.parametrize(
    ("row", "column", "code"),
    [
        ({"forename": None, "surname": "McFakeface", "dob": "2010-04-03"}, "forename", UNDERSPECIFIED),
        ({"forename": "Testy", "surname": "  ", "dob": "2010-04-03"}, "surname", UNDERSPECIFIED),
        ({"forename": "Testy", "surname": "McFakeface"}, "dob", UNDERSPECIFIED),
        ({"forename": "123", "surname": "McFakeface", "dob": "2010-04-03"}, "forename", UNDERSPECIFIED),
        ({"forename": "Testy", "surname": "McFakeface", "dob": "2010-13-45"}, "dob", "identity.invalid_date_of_birth"),
        ({"forename": "Testy", "surname": "McFakeface", "dob": "2030-01-01"}, "dob", "identity.invalid_date_of_birth"),
    ],
    ids=["null-given", "blank-family", "no-dob-column", "given-without-letters", "not-a-date", "future-date"],
)
def test_a_row_that_cannot_give_a_token_names_the_column_never_the_value(
    row: dict[str, object], column: str, code: str
) -> None:
    with pytest.raises(UnderivableSubject) as caught:
        subject_token_from_row(KEY, COLUMNS, row, today=TODAY)
    assert (caught.value.code, caught.value.column) == (code, column)
    assert column in caught.value.message
    for value in row.values():
        if isinstance(value, str) and value.strip():
            assert value not in caught.value.message
