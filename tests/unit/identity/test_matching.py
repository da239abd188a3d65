"""Identity tokens and matching: reference cases, each with the sentence it stands for."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.identity import MATCH_THRESHOLD, Identifiers, IdentityTokens, MatchingKey, derive_tokens, match
from onedoor.errors import ValidationFailed

KEY = MatchingKey(b"synthetic-test-matching-key-0001" * 2)
TODAY = date(2026, 3, 2)

Row = tuple[str, str, str, str | None]

SAME_PERSON: list[tuple[str, Row, Row, str]] = [
    (
        "A nickname matches its formal name.",
        ("Jon", "Smith", "2010-04-03", None),
        ("Jonathan", "Smith", "2010-04-03", None),
        "given name (as a variant)",
    ),
    (
        "Transliterations of one name match.",
        ("Mohammed", "Testperson", "2011-07-19", "NR2 4AB"),
        ("Muhammad", "Testperson", "2011-07-19", "NR2"),
        "given name (as a variant)",
    ),
    (
        "A typo inside the given name still matches.",
        ("Olvier", "Fakename", "2012-02-21", None),
        ("Oliver", "Fakename", "2012-02-21", None),
        "given name (spelling differs slightly)",
    ),
    (
        "A typo inside the family name still matches.",
        ("Amara", "Zyxwellington", "2012-02-21", None),
        ("Amara", "Zyxwelington", "2012-02-21", None),
        "family name",
    ),
    (
        "Given and family names typed the wrong way round match.",
        ("Smith", "Ava", "2009-10-30", None),
        ("Ava", "Smith", "2009-10-30", None),
        "given and family names (swapped)",
    ),
    (
        "A hyphenated family name matches one of its parts.",
        ("Priya", "Examplesworth-Okafor", "2013-05-28", None),
        ("Priya", "Examplesworth", "2013-05-28", None),
        "part of a hyphenated",
    ),
    (
        "Day and month swapped in the date of birth still match.",
        ("Leo", "Madeupson", "2014-03-07", "SE15"),
        ("Leo", "Madeupson", "2014-07-03", "SE15"),
        "date of birth (day and month swapped)",
    ),
    (
        "A child who moved (another postcode district) still matches.",
        ("Isla", "Notreal", "2015-11-11", "NR2"),
        ("Isla", "Notreal", "2015-11-11", "M14"),
        "date of birth",
    ),
    (
        "Case, spacing, accents and apostrophes do not matter.",
        ("  zoë ", "o'connor-smith", "2008-01-02", None),
        ("ZOE", "OConnor Smith", "02/01/2008", None),
        "family name",
    ),
    (
        "One mistyped digit of the date of birth still matches on exact names.",
        ("Freya", "Fictional", "2010-06-14", None),
        ("Freya", "Fictional", "2010-06-15", None),
        "one of day, month",
    ),
]

DIFFERENT_PEOPLE: list[tuple[str, Row, Row]] = [
    (
        "Twins share family name, birthday and address but not a given name.",
        ("Oscar", "Testfamily", "2012-09-09", "NR2"),
        ("Willow", "Testfamily", "2012-09-09", "NR2"),
    ),
    (
        "Siblings share family name and address, not given name or birthday.",
        ("Theo", "Testfamily", "2012-09-09", "NR2"),
        ("Daisy", "Testfamily", "2015-01-20", "NR2"),
    ),
    (
        "Namesakes share a name but were born on different days.",
        ("Jack", "Commonname", "2012-09-09", "NR2"),
        ("Jack", "Commonname", "2007-04-23", "NR2"),
    ),
    ("Strangers share nothing.", ("Noah", "Alpha", "2012-09-09", None), ("Ruby", "Beta", "2006-12-01", None)),
]


def tokens(row: Row, key: MatchingKey = KEY) -> IdentityTokens:
    return derive_tokens(Identifiers.parse(*row, today=TODAY), key)


@pytest.mark.parametrize(("sentence", "a", "b", "agreed"), SAME_PERSON, ids=[c[0] for c in SAME_PERSON])
def test_same_person_matches(sentence: str, a: Row, b: Row, agreed: str) -> None:
    found = match(tokens(a), tokens(b))
    assert found is not None, sentence
    assert MATCH_THRESHOLD <= found.confidence <= 1.0
    assert any(agreed in words for words in found.agreed), (sentence, found.agreed)
    assert match(tokens(b), tokens(a)) == found, "match is symmetric"


@pytest.mark.parametrize(("sentence", "a", "b"), DIFFERENT_PEOPLE, ids=[c[0] for c in DIFFERENT_PEOPLE])
def test_different_people_do_not_match(sentence: str, a: Row, b: Row) -> None:
    assert match(tokens(a), tokens(b)) is None, sentence


def test_the_officer_reads_which_identifiers_agreed() -> None:
    found = match(tokens(("Jon", "Smith", "2010-04-03", "NR2 4AB")), tokens(("Jonathan", "Smith", "2010-04-03", "NR2")))
    assert found is not None
    assert found.agreed == ("given name (as a variant)", "family name", "date of birth", "postcode district")


INVALID: list[tuple[str, tuple[str, str, str, str | None], str]] = [
    ("An empty given name is refused.", ("", "Smith", "2010-01-01", None), "identity.empty_name"),
    ("A family name of only punctuation is refused.", ("Ava", " - ' ", "2010-01-01", None), "identity.empty_name"),
    ("A missing date of birth is refused.", ("Ava", "Smith", "", None), "identity.invalid_date_of_birth"),
    ("A date in another format is refused.", ("Ava", "Smith", "2010.01.01x", None), "identity.invalid_date_of_birth"),
    ("A date that does not exist is refused.", ("Ava", "Smith", "2010-02-30", None), "identity.invalid_date_of_birth"),
    (
        "A day-first date that does not exist is refused.",
        ("Ava", "Smith", "31/04/2010", None),
        "identity.invalid_date_of_birth",
    ),
    (
        "A date of birth in the future is refused.",
        ("Ava", "Smith", "2027-01-01", None),
        "identity.invalid_date_of_birth",
    ),
    (
        "A date of birth 150 years ago is refused.",
        ("Ava", "Smith", "1876-01-01", None),
        "identity.invalid_date_of_birth",
    ),
    (
        "A postcode that is not a UK postcode is refused.",
        ("Ava", "Smith", "2010-01-01", "12345"),
        "identity.invalid_postcode",
    ),
]


@pytest.mark.parametrize(("sentence", "row", "code"), INVALID, ids=[c[0] for c in INVALID])
def test_bad_input_is_refused_with_a_stable_code_and_no_echo(
    sentence: str, row: tuple[str, str, str, str | None], code: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Identifiers.parse(*row, today=TODAY)
    assert caught.value.code == code, sentence
    for value in row:
        if value and value.strip(" -'"):
            assert value not in str(caught.value)


def test_day_first_dates_and_postcode_districts_are_understood() -> None:
    ids = Identifiers.parse("Ava", "Smith", "03/04/2010", "nr24ab", today=TODAY)
    assert ids.date_of_birth == date(2010, 4, 3)
    assert ids.postcode == "NR2"
    assert Identifiers.parse("Ava", "Smith", "2010-04-03", " sw1a 1aa ", today=TODAY).postcode == "SW1A"
    assert Identifiers.parse("Ava", "Smith", "2010-04-03", "", today=TODAY).postcode is None
    assert "Ava" not in repr(ids)
    assert "Smith" not in repr(ids)


def test_tokens_never_contain_the_plaintext() -> None:
    row = ("Jonathan", "Madeupson", "2010-04-03", "NR2 4AB")
    derived = tokens(row)
    wire = json.dumps(derived.to_json())
    for secret in ("jonathan", "madeupson", "2010-04-03", "20100403", "2010", "nr2", "jn0n"):
        assert secret not in wire.lower()
        assert not any(secret in value.lower() for value in derived.all())
    assert IdentityTokens.from_json(json.loads(wire)) == derived


def test_kinds_are_domain_separated() -> None:
    # The same word as given and as family name must give no common token across kinds.
    derived = tokens(("Jordan", "Jordan", "2010-04-03", None))
    seen: dict[str, str] = {}
    for kind in derived:
        for value in derived[kind]:
            assert seen.setdefault(value, kind) == kind


def test_different_keys_share_no_token() -> None:
    row = ("Jonathan", "Madeupson", "2010-04-03", "NR2")
    other = MatchingKey.generate()
    assert tokens(row).all().isdisjoint(tokens(row, other).all())
    assert match(tokens(row), tokens(row, other)) is None


def test_wire_form_is_checked() -> None:
    with pytest.raises(ValidationFailed) as caught:
        IdentityTokens.from_json([{"kind": "given.exact~dob", "value": "Jonathan"}])
    assert caught.value.code == "identity.invalid_tokens"
    with pytest.raises(ValidationFailed):
        IdentityTokens.from_json({"kind": "x"})


def test_matching_key_file_is_private_and_never_shown(tmp_path: Path) -> None:
    key = MatchingKey.generate()
    path = tmp_path / "keys" / "matching.key"
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert MatchingKey.load(path) == key
    assert key.secret.hex() not in repr(key)
    with pytest.raises(FileExistsError):
        key.save(path)
    path.chmod(0o644)
    with pytest.raises(ValidationFailed):
        MatchingKey.load(path)
    with pytest.raises(ValidationFailed):
        MatchingKey(b"short")


names = st.text(alphabet=st.characters(categories=("L",), max_codepoint=0x17F), min_size=1, max_size=20)
dobs = st.dates(min_value=date(1910, 1, 1), max_value=TODAY)
postcodes = st.sampled_from([None, "NR2", "SE15 4AB", "M1"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(given_name=names, family_name=names, dob=dobs, postcode=postcodes)
def test_a_person_always_matches_themselves(given_name: str, family_name: str, dob: date, postcode: str | None) -> None:
    try:
        ids = Identifiers.parse(given_name, family_name, dob.isoformat(), postcode, today=TODAY)
    except ValidationFailed:
        return  # letters outside what folds to a-z (e.g. Greek) leave an empty name: refused, not matched
    derived = derive_tokens(ids, KEY)
    found = match(derived, derive_tokens(ids, KEY))
    assert found is not None
    assert found.confidence >= 0.95
