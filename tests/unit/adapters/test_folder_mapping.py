"""CSV rows to MasterReferral bodies: a table of rows, each with the sentence it stands for and the code it gets."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.adapters.folder_mapping import (
    BAD_BOOLEAN,
    BAD_DATE,
    BAD_MAPPING,
    BAD_NUMBER,
    MISSING_COLUMN,
    MISSING_VALUE,
    NO_IDENTIFIER,
    UNKNOWN_VALUE,
    ColumnMapping,
    RowProblem,
)
from connectors.triage.referral import referral_schema
from onedoor.errors import ValidationFailed
from tests.unit.adapters.folder_world import COLUMNS, DEFAULTS, HEADER, mapping, row


def test_a_good_row_becomes_a_referral_with_typed_values() -> None:
    body = mapping().map_row(row(), 2, row_key="abc:2")
    assert isinstance(body, dict)
    assert body["child"]["given_name"] == "Testy"
    assert body["child"]["date_of_birth"] == dt.date(2010, 3, 14)
    assert body["urgency"] == "SAME_DAY", "enum cells are matched ignoring case, spaces as underscores"
    assert body["concern_categories"] == ["COUNTY_LINES", "MISSING"]
    assert body["exploitation"]["county_lines_suspected"] is True
    assert (body["referrer"]["kind"], body["referrer"]["name"]) == ("PROFESSIONAL", "Officer Fakename")
    assert body["consent"]["status"] == "NOT_SOUGHT_RISK_TO_CHILD", "an empty cell keeps the default"


def test_the_referral_id_is_the_same_for_the_same_file_and_row_and_differs_otherwise() -> None:
    m = mapping()
    first = m.map_row(row(), 2, row_key="abc:2")
    again = m.map_row(row(), 2, row_key="abc:2")
    other = m.map_row(row(), 3, row_key="abc:3")
    assert isinstance(first, dict)
    assert isinstance(again, dict)
    assert isinstance(other, dict)
    assert first["referral_id"] == again["referral_id"] != other["referral_id"]


CASES = [
    (
        "A date of birth written the American way cannot be read.",
        {"Date_of_birth": "03/14/2010"},
        "Date of birth",
        BAD_DATE,
    ),
    (
        "A date of birth that is not a date at all is refused.",
        {"Date_of_birth": "last spring"},
        "Date of birth",
        BAD_DATE,
    ),
    ("An urgency not on the form's list is an unknown value.", {"Urgency": "whenever"}, "Urgency", UNKNOWN_VALUE),
    (
        "One unknown concern among known ones rejects the row.",
        {"Concerns": "county lines; bad vibes"},
        "Concerns",
        UNKNOWN_VALUE,
    ),
    ("An estimated age in words is not a number.", {"Age": "fifteen"}, "Age", BAD_NUMBER),
    ("County lines must be yes or no.", {"County_lines": "maybe"}, "County lines", BAD_BOOLEAN),
    ("A row without an urgency misses a required value.", {"Urgency": ""}, "Urgency", MISSING_VALUE),
    ("A row without any concern misses a required value.", {"Concerns": " "}, "Concerns", MISSING_VALUE),
    ("A row without a summary misses a required value.", {"Summary": ""}, "Summary", MISSING_VALUE),
    ("A row with no name at all cannot identify the child.", {"First_name": "", "Last_name": ""}, "", NO_IDENTIFIER),
]


@pytest.mark.parametrize(("sentence", "cells", "column", "code"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_row_is_rejected_with_its_column_and_code(
    sentence: str, cells: dict[str, str], column: str, code: str
) -> None:
    bad = row(**cells)
    problems = mapping().map_row(bad, 7, row_key="abc:7")
    assert isinstance(problems, list), sentence
    assert [(p.row, p.column, p.code) for p in problems] == [(7, column, code)], sentence
    for value in (v for v in bad.values() if len(v) > 3):
        assert value not in problems[0].message, f"{sentence}: the message must not quote a cell"


def test_every_bad_cell_of_a_row_is_reported_not_just_the_first() -> None:
    problems = mapping().map_row(row(Date_of_birth="31/02/2010", Urgency="later"), 4, row_key="abc:4")
    assert isinstance(problems, list)
    assert {(p.column, p.code) for p in problems} == {("Date of birth", BAD_DATE), ("Urgency", UNKNOWN_VALUE)}
    assert "DD/MM/YYYY" in next(p.message for p in problems if p.code == BAD_DATE)


def test_a_header_missing_a_required_column_is_a_file_problem_but_an_optional_one_is_not() -> None:
    m = mapping()
    without_urgency = [c for c in HEADER if c != "Urgency"]
    assert m.header_problems(without_urgency) == [
        RowProblem(1, "Urgency", MISSING_COLUMN, "the required column 'Urgency' is missing from the header")
    ]
    assert m.header_problems([c for c in HEADER if c != "Age"]) == [], "Age maps an optional field"


MAPPINGS = [
    ("A column mapped to a field the contract does not have.", {**COLUMNS, "Shoe size": "child.shoe_size"}, DEFAULTS),
    (
        "A column mapped to a list of records cannot be filled from one cell.",
        {**COLUMNS, "Team": "professional_network"},
        DEFAULTS,
    ),
    (
        "No column and no default for a required field (urgency).",
        {k: v for k, v in COLUMNS.items() if v != "urgency"},
        DEFAULTS,
    ),
    ("No column and no default for the referrer's kind.", COLUMNS, {"consent.status": "GIVEN"}),
]


@pytest.mark.parametrize(("sentence", "columns", "defaults"), MAPPINGS, ids=[m[0] for m in MAPPINGS])
def test_a_bad_mapping_is_refused_when_the_adapter_is_built(
    sentence: str, columns: dict[str, str], defaults: dict[str, str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        ColumnMapping(referral_schema(), columns, defaults=defaults, adapter="drop")
    assert refused.value.code == BAD_MAPPING, sentence
    assert "adapter drop" in refused.value.message
