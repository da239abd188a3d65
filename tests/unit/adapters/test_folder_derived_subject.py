"""The folder adapter deriving subject tokens from a row's names and date of birth (real temporary folder).

Only the outbox is a fake. Every person is synthetic.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from connectors.adapters.base import AdapterContext, OutboundRequest
from connectors.adapters.folder import NO_MATCHING_KEY, SENT, UNDERIVABLE_SUBJECT, FolderAdapter, factory
from connectors.adapters.folder_mapping import BAD_DATE, MISSING_COLUMN
from connectors.identity import Identifiers, MatchingKey
from connectors.identity.subject import UNDERSPECIFIED, subject_token
from connectors.triage.referral import ALERT
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from tests.unit.adapters.folder_world import COLUMNS, DEFAULTS

KEY = MatchingKey(b"synthetic-test-matching-key-0001" * 2)
DERIVE = {"derive": {"given_name": "First name", "family_name": "Last name", "date_of_birth": "Date of birth"}}
HEADER = ["First name", "Last name", "Date of birth", "Urgency", "Concerns", "Summary"]


class Outbox:
    def __init__(self) -> None:
        self.requests: list[OutboundRequest] = []

    async def __call__(self, request: OutboundRequest) -> None:
        self.requests.append(request)


def build(tmp_path: Path, key: MatchingKey | None = KEY, **changes: Any) -> FolderAdapter:
    options: dict[str, Any] = {
        "folder": "drop",
        "recipients": ["test-triage-desk"],
        "columns": {c: p for c, p in COLUMNS.items() if c in HEADER},
        "subject_token": DERIVE,
        "defaults": DEFAULTS,
        "date_format": "%d/%m/%Y",
        **changes,
    }
    context = AdapterContext(AgencyId("test-county-police"), tmp_path / "data", tmp_path, key)
    return factory("drop", options, context)


def line(*cells: str) -> str:
    return ",".join(f'"{cell}"' for cell in cells)


def referral_row(given: str, family: str, dob: str) -> str:
    return line(given, family, dob, "Same day", "county lines", "Seen far from home.")


async def process(adapter: FolderAdapter, name: str, lines: list[str]) -> Any:
    (adapter.incoming / name).write_text("\n".join(lines) + "\n")
    outbox = Outbox()
    await adapter.scan(outbox)
    [outcome] = await adapter.scan(outbox)
    return outcome, outbox


def report(adapter: FolderAdapter, name: str) -> list[dict[str, str]]:
    [path] = adapter.root.joinpath("reports").glob(f"{name}.*.report.csv")
    return list(csv.DictReader(io.StringIO(path.read_text())))


def expected(given: str, family: str, dob: str) -> str:
    return str(subject_token(KEY, Identifiers.parse(given, family, dob)))


async def test_rows_get_the_token_derived_from_their_names_and_date_of_birth(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    rows = [
        referral_row("Testy", "McFakeface-Example", "14/03/2010"),
        referral_row("TESTY", "mcfakeface example", "14/03/2010"),
        referral_row("Synthia", "Example", "01/02/2011"),
    ]
    outcome, outbox = await process(adapter, "monday.csv", [line(*HEADER), *rows])
    assert (outcome.sent, outcome.rejected) == (3, 0)
    tokens = [r.subject_token for r in outbox.requests]
    assert tokens[0] == expected("Testy", "McFakeface-Example", "2010-03-14")
    assert tokens[1] == tokens[0], "the same child, written differently, gets the same token"
    assert tokens[2] == expected("Synthia", "Example", "2011-02-01") != tokens[0]
    assert "subject_token" not in outbox.requests[0].body, "a referral's body has no subject_token field"


async def test_a_row_without_a_usable_date_of_birth_is_rejected_naming_the_column_not_the_value(
    tmp_path: Path,
) -> None:
    adapter = build(tmp_path)
    rows = [referral_row("Testy", "McFakeface", ""), referral_row("Synthia", "Example", "31/02/2011")]
    rows.append(referral_row("Fakey", "Testperson", "14/03/2010"))
    outcome, outbox = await process(adapter, "tuesday.csv", [line(*HEADER), *rows])
    assert (outcome.sent, outcome.rejected) == (1, 2)
    lines = report(adapter, "tuesday.csv")
    assert [(r["row"], r["column"], r["code"]) for r in lines] == [
        ("2", "Date of birth", UNDERIVABLE_SUBJECT),
        ("3", "Date of birth", UNDERIVABLE_SUBJECT),
        ("3", "Date of birth", BAD_DATE),  # the mapped child.date_of_birth is refused too
        ("4", "", SENT),
    ]
    assert UNDERSPECIFIED in lines[0]["message"]
    assert "identity.invalid_date_of_birth" in lines[1]["message"]
    assert "31/02/2011" not in str(lines)
    assert outbox.requests[0].subject_token == expected("Fakey", "Testperson", "2010-03-14")


async def test_a_file_missing_a_column_the_token_is_derived_from_is_rejected_whole(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    header = [c for c in HEADER if c != "Date of birth"]  # the referral does not need it; the token does
    row = line("Testy", "McFakeface", "Same day", "county lines", "Seen far from home.")
    outcome, outbox = await process(adapter, "wed.csv", [line(*header), row])
    assert outcome.status == "rejected"
    assert not outbox.requests
    assert [(p.row, p.column, p.code) for p in outcome.problems] == [(1, "Date of birth", MISSING_COLUMN)]


async def test_an_alert_gets_the_derived_token_in_its_header_and_its_body(tmp_path: Path) -> None:
    columns = {"Alert": "alert_id", "Occurred": "occurred_at", "Reported": "reported_at"}
    adapter = build(
        tmp_path,
        contract=str(ALERT),
        purpose="safeguarding-alert",
        columns=columns,
        defaults={"kind": "MISSING_EPISODE"},
    )
    header = ["Alert", "Occurred", "Reported", "First name", "Last name", "Date of birth"]
    moment = "2026-03-01T21:00:00Z"
    row = line("0b0e8d1c-2f5a-4a51-9c1e-000000000001", moment, moment, "Testy", "McFakeface", "14/03/2010")
    outcome, outbox = await process(adapter, "alerts.csv", [line(*header), row])
    assert (outcome.sent, outcome.rejected) == (1, 0), outcome.problems
    [request] = outbox.requests
    assert request.subject_token == expected("Testy", "McFakeface", "2010-03-14")
    assert request.body["subject_token"] == request.subject_token


def test_deriving_without_the_matching_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(tmp_path, key=None)
    assert caught.value.code == NO_MATCHING_KEY


def test_a_derive_naming_an_unknown_field_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(tmp_path, subject_token={"derive": {"given_name": "First name", "family_name": "Last name"}})
    assert caught.value.code == "adapter.folder.bad_options"


async def test_a_date_not_in_the_files_format_is_refused_not_read_day_first(tmp_path: Path) -> None:
    # A month-first file: "03/04/2010" is 4 March. A row in another format is refused rather than
    # guessed day-first (which would swap day and month and give the child another token); ISO is fine.
    adapter = build(tmp_path, date_format="%m/%d/%Y")
    rows = [
        referral_row("Testy", "McFakeface", "03/14/2010"),
        referral_row("Synthia", "Example", "14.03.2010"),
        referral_row("Fakey", "Testperson", "2010-03-14"),
    ]
    outcome, outbox = await process(adapter, "us.csv", [line(*HEADER), *rows])
    assert outcome.sent >= 1
    lines = report(adapter, "us.csv")
    assert ("3", "Date of birth", UNDERIVABLE_SUBJECT) in [(r["row"], r["column"], r["code"]) for r in lines]
    assert "14.03.2010" not in str(lines)
    sent = {r.subject_token for r in outbox.requests}
    assert expected("Testy", "McFakeface", "2010-03-14") in sent
    assert expected("Synthia", "Example", "2010-03-14") not in sent
