"""The status index: token lookups find the agency's own records, near-misses do not, and files load."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.identity import Identifiers, MatchingKey, derive_tokens
from connectors.status import NrmStage, StatusFlag, StatusIndex, StatusRecord
from connectors.status.index import CSV_COLUMNS, read_records, write_records
from connectors.status.synthetic import known_victim, synthetic_records
from onedoor.errors import ValidationFailed

KEY = MatchingKey(b"synthetic-test-matching-key-0123456789")
VICTIM = known_victim()
SIBLING = StatusRecord(
    "fake-rec-sibling-0002", Identifiers.parse("Daniel", "Testwood-Fakeley", "2012-07-02", "ZZ99 3ZZ")
)
SWAPPED_DOB = StatusRecord("fake-rec-swapped-0003", Identifiers.parse("Amelia", "Mockridge", "2009-03-04"))


@pytest.fixture(scope="module")
def index() -> StatusIndex:
    return StatusIndex.build([VICTIM, SIBLING, SWAPPED_DOB, *synthetic_records(300, seed=7)], KEY)


@dataclass(frozen=True)
class Case:
    name: str
    query: tuple[str, str, str, str | None]
    expected: str | None
    why: str


CASES = [
    Case("exact", ("Jonathan", "Testwood-Fakeley", "2010-03-14", "ZZ99 3ZZ"), VICTIM.record_reference,
         "Every identifier agrees."),
    Case("nickname-and-part", ("Jon", "Testwood", "14/03/2010", None), VICTIM.record_reference,
         "A nickname, one part of a double-barrelled name and a day-first date still find the record."),
    Case("moved", ("Jonathan", "Testwood-Fakeley", "2010-03-14", "NR2"), VICTIM.record_reference,
         "A different postcode district is no evidence against: children are moved."),
    Case("day-month-swapped", ("Amelia", "Mockridge", "2009-04-03", None), SWAPPED_DOB.record_reference,
         "Day and month swapped in the date of birth."),
    Case("sibling", ("Daniel", "Testwood-Fakeley", "2012-07-02", "ZZ99 3ZZ"), SIBLING.record_reference,
         "The victim's sibling (same family name and address) is found as the sibling, not as the victim."),
    Case("sibling-name-victim-dob", ("Daniel", "Testwood-Fakeley", "2010-03-14", "ZZ99 3ZZ"), None,
         "The sibling's given name with the victim's date of birth matches neither of them."),
    Case("namesake", ("Jonathan", "Testwood-Fakeley", "2013-08-22", None), None,
         "Same name, another date of birth entirely: a namesake, not a match."),
    Case("stranger", ("Precious", "Nonexistentson", "2011-11-11", None), None, "Nobody by that name."),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_lookup(index: StatusIndex, case: Case) -> None:
    found = [r.record_reference for r, _ in index.lookup(derive_tokens(Identifiers.parse(*case.query), KEY))]
    if case.expected is not None:
        assert found[:1] == [case.expected], case.why
    others = {VICTIM.record_reference, SIBLING.record_reference, SWAPPED_DOB.record_reference} - {case.expected}
    assert not others & set(found), case.why


def test_best_first_with_confidence_and_agreed_identifiers(index: StatusIndex) -> None:
    twin = StatusRecord("fake-rec-near-0004", Identifiers.parse("Jonathan", "Testwood-Fakeley", "2010-04-14"))
    both = StatusIndex.build([twin, VICTIM], KEY)
    found = both.lookup(derive_tokens(VICTIM.identifiers, KEY))
    assert [r.record_reference for r, _ in found] == [VICTIM.record_reference, twin.record_reference]
    (_, best), (_, near) = found
    assert best.confidence == 1.0 > near.confidence
    assert "date of birth" in best.agreed


def test_every_synthetic_record_finds_itself(index: StatusIndex) -> None:
    for record in index.records[::37]:
        found = index.lookup(derive_tokens(record.identifiers, KEY))
        best = [r.record_reference for r, m in found if m.confidence == found[0][1].confidence]
        assert record.record_reference in best


def test_synthetic_records_are_reproducible_and_obviously_fake() -> None:
    first, again = synthetic_records(50, seed=3), synthetic_records(50, seed=3)
    assert [r.to_json() for r in first] == [r.to_json() for r in again]
    for record in first:
        lead = record.lead_professional
        assert lead is not None
        assert lead.phone is not None
        assert lead.phone.startswith("01632 960")
        assert lead.email is not None
        assert lead.email.endswith("@example.org")
        assert record.identifiers.postcode in {None, "ZZ99"}


def test_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    write_records(path, [VICTIM, SIBLING])
    assert [r.to_json() for r in read_records(path)] == [VICTIM.to_json(), SIBLING.to_json()]
    assert len(StatusIndex.load(path, KEY)) == 2


def test_csv_records(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        writer.writerow(
            {
                "record_reference": "fake-rec-csv-0001",
                "given_name": "Aisha",
                "family_name": "Samplefield",
                "date_of_birth": "2011-05-06",
                "postcode": "",
                "flags": "KNOWN_EXPLOITATION_VICTIM;LOOKED_AFTER",
                "nrm_stage": "CONCLUSIVE_GROUNDS_POSITIVE",
                "missing_episodes_last_90_days": "2",
                "case_open": "1",
                "lead_role": "exploitation lead",
                "lead_team": "Fakeshire exploitation hub",
                "lead_phone": "01632 960001",
                "lead_email": "",
            }
        )
    (record,) = read_records(path)
    assert record.flags == {StatusFlag.KNOWN_EXPLOITATION_VICTIM, StatusFlag.LOOKED_AFTER}
    assert record.nrm_stage is NrmStage.CONCLUSIVE_GROUNDS_POSITIVE
    assert record.missing_episodes_last_90_days == 2
    assert record.case_open is True
    assert record.lead_professional is not None
    assert record.lead_professional.email is None
    assert record.identifiers.postcode is None


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({**VICTIM.to_json(), "date_of_birth": "31/02/2010"}, "identity.invalid_date_of_birth"),
        ({**VICTIM.to_json(), "given_name": "  "}, "identity.empty_name"),
        ({**VICTIM.to_json(), "flags": ["VERY_SECRET_FLAG"]}, "status.invalid_records"),
        ({**VICTIM.to_json(), "record_reference": ""}, "status.invalid_records"),
        ({**VICTIM.to_json(), "missing_episodes_last_90_days": -1}, "status.invalid_records"),
    ],
)
def test_a_bad_record_is_refused_by_position_without_its_values(
    tmp_path: Path, item: dict[str, object], code: str
) -> None:
    path = tmp_path / "records.json"
    path.write_text(json.dumps([VICTIM.to_json(), item]))
    with pytest.raises(ValidationFailed) as caught:
        read_records(path)
    assert caught.value.code == code
    assert caught.value.message.startswith("record 2:")
    for value in ("Jonathan", "Testwood", "2010", "VERY_SECRET"):
        assert value not in caught.value.message


def test_a_record_never_shows_its_identifiers() -> None:
    assert "Jonathan" not in repr(VICTIM)
    assert "2010" not in repr(VICTIM)
