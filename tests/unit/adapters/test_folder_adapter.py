"""The folder adapter end to end over a real temporary folder and its real SQLite ledger.

Only the outbox is a fake (an in-memory ``Outbound``): good files, a file with a bad row, a file
missing a column, a file still being written, a crash part-way through a file, the same file
dropped twice, and received messages written out.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.adapters.base import AdapterContext, OutboundRequest
from connectors.adapters.folder import (
    ALREADY_PROCESSED,
    BAD_OPTIONS,
    BAD_SUBJECT_TOKEN,
    NO_SUBJECT_TOKEN,
    NOT_SENT,
    SENT,
    UNKNOWN_CONTRACT,
    FolderAdapter,
    factory,
)
from connectors.adapters.folder_mapping import BAD_DATE, BAD_MAPPING, MISSING_COLUMN
from onedoor.errors import Forbidden, Unavailable, ValidationFailed
from onedoor.files import write_atomically
from onedoor.ids import AgencyId
from tests.unit.adapters.folder_world import COLUMNS, DEFAULTS, HEADER, SUBJECT_COLUMN, csv_line, row
from tests.unit.triage.world import received

DESK = "test-triage-desk"


class Outbox:
    """Records what the adapter queues; can fail after a number of rows."""

    def __init__(self, *, crash_after: int | None = None, failure: Exception | None = None) -> None:
        self.requests: list[OutboundRequest] = []
        self.crash_after = crash_after
        self.failure = failure or Crash("the connector died")

    async def __call__(self, request: OutboundRequest) -> None:
        if self.crash_after is not None and len(self.requests) >= self.crash_after:
            raise self.failure
        self.requests.append(request)


class Crash(Exception):
    """Stands for the process being killed mid-file."""


def options(**changes: Any) -> dict[str, Any]:
    return {
        "folder": "drop",
        "recipients": [DESK],
        "columns": COLUMNS,
        "subject_token": SUBJECT_COLUMN,
        "defaults": DEFAULTS,
        "date_format": "%d/%m/%Y",
        "poll_seconds": 0.01,
        **changes,
    }


def build(tmp_path: Path, **changes: Any) -> FolderAdapter:
    context = AdapterContext(agency=AgencyId("test-county-police"), data_dir=tmp_path / "data", base_dir=tmp_path)
    return factory("drop", options(**changes), context)


def drop(adapter: FolderAdapter, name: str, lines: list[str]) -> bytes:
    data = ("\n".join(lines) + "\n").encode()
    (adapter.incoming / name).write_bytes(data)
    return data


def good(n: int) -> list[str]:
    return [",".join(HEADER), *(csv_line(row(First_name=f"Testy{i}")) for i in range(n))]


def reported(adapter: FolderAdapter, name: str, kind: str = "report") -> list[Path]:
    """The ``<file>.<hash>[.again-<time>].<kind>.csv`` files for ``name``, oldest first."""
    found = adapter.root.joinpath("reports").glob(f"{name}.*.{kind}.csv")
    return sorted(found, key=lambda p: p.stat().st_mtime_ns)


def report(adapter: FolderAdapter, name: str) -> list[dict[str, str]]:
    text = reported(adapter, name)[-1].read_text()
    return list(csv.DictReader(io.StringIO(text)))


async def settle(adapter: FolderAdapter, outbox: Outbox) -> list[Any]:
    """Two scans: the first notes each file's size, the second processes those unchanged."""
    await adapter.scan(outbox)
    return await adapter.scan(outbox)


async def test_a_good_file_is_sent_row_by_row_reported_and_moved_to_done(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    drop(adapter, "monday.csv", good(3))
    [outcome] = await settle(adapter, outbox)
    assert (outcome.status, outcome.sent, outcome.rejected) == ("processed", 3, 0)
    assert [r.body["child"]["given_name"] for r in outbox.requests] == ["Testy0", "Testy1", "Testy2"]
    first = outbox.requests[0]
    assert (first.contract, first.version, first.recipients, first.purpose) == (
        "onedoor.referral.MasterReferral",
        1,
        (AgencyId(DESK),),
        "safeguarding-referral",
    )
    assert first.source == f"drop:{outcome.digest[:16]}:2", "source names the file by hash, not by name"
    assert first.subject_token == "st1_SYNTHETICfolderToken0001", "the row's token goes to the header"
    assert [(r["row"], r["code"]) for r in report(adapter, "monday.csv")] == [("2", SENT), ("3", SENT), ("4", SENT)]
    assert not reported(adapter, "monday.csv", "rejected")
    assert not (adapter.incoming / "monday.csv").exists()
    assert (adapter.root / "done" / "monday.csv").exists()


async def test_a_row_with_a_bad_date_is_rejected_with_a_report_and_the_others_are_sent(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    bad = csv_line(row(First_name="Synthia", Last_name="Example", Date_of_birth="2010-13-45"))
    drop(adapter, "tuesday.csv", [*good(1), bad, csv_line(row(First_name="Testy9"))])
    [outcome] = await settle(adapter, outbox)
    assert (outcome.sent, outcome.rejected) == (2, 1)
    lines = report(adapter, "tuesday.csv")
    assert [(r["row"], r["column"], r["code"]) for r in lines] == [
        ("2", "", SENT),
        ("3", "Date of birth", BAD_DATE),
        ("4", "", SENT),
    ]
    assert "Synthia" not in json.dumps(lines), "no personal data in the report"
    assert "2010-13-45" not in json.dumps(lines)
    rejected = reported(adapter, "tuesday.csv", "rejected")[0].read_text()
    assert list(csv.reader(io.StringIO(rejected))) == [HEADER, next(csv.reader(io.StringIO(bad)))]

    # Staff fix the date in the rejected file and drop it again: only that row is sent.
    fixed = rejected.replace("2010-13-45", "14/03/2010")
    (adapter.incoming / "tuesday-fixed.csv").write_text(fixed)
    [again] = await settle(adapter, outbox)
    assert (again.sent, again.rejected) == (1, 0)
    assert outbox.requests[-1].body["child"]["given_name"] == "Synthia"


async def test_a_file_missing_a_required_column_is_rejected_whole(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    header = [c for c in HEADER if c != "Urgency"]
    lines = [",".join(header), ",".join(f'"{row()[c]}"' for c in header)]
    data = drop(adapter, "no-urgency.csv", lines)
    [outcome] = await settle(adapter, outbox)
    assert (outcome.status, outbox.requests) == ("rejected", [])
    assert [(r["row"], r["column"], r["code"]) for r in report(adapter, "no-urgency.csv")] == [
        ("1", "Urgency", MISSING_COLUMN)
    ]
    assert reported(adapter, "no-urgency.csv", "rejected")[0].read_bytes() == data
    assert (adapter.root / "done" / "no-urgency.csv").exists()


async def test_a_file_still_being_written_is_left_until_it_stops_changing(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    path = adapter.incoming / "growing.csv"
    path.write_text(",".join(HEADER) + "\n")
    assert await adapter.scan(outbox) == []
    with path.open("a") as handle:
        handle.write(csv_line(row()) + "\n")
    assert await adapter.scan(outbox) == [], "it changed since the last poll"
    (adapter.incoming / "half.csv.part").write_text("not yet")
    (adapter.incoming / ".~lock.growing.csv#").write_text("a spreadsheet's lock file")
    [outcome] = await adapter.scan(outbox)
    assert outcome.sent == 1
    assert (adapter.incoming / "half.csv.part").exists(), "only *.csv files are read"


async def test_a_crash_part_way_through_a_file_loses_no_row_and_sends_none_twice(tmp_path: Path) -> None:
    first_run = build(tmp_path)
    crashing = Outbox(crash_after=4)
    drop(first_run, "big.csv", good(10))
    await first_run.scan(crashing)
    with pytest.raises(Crash):
        await first_run.scan(crashing)
    await first_run.close()
    assert len(crashing.requests) == 4
    assert (first_run.incoming / "big.csv").exists(), "the file stays until every row is in the outbox"

    restarted = build(tmp_path)
    outbox = Outbox()
    [outcome] = await settle(restarted, outbox)
    assert [r.body["child"]["given_name"] for r in outbox.requests] == [f"Testy{i}" for i in range(4, 10)]
    sent = [r.body["referral_id"] for r in crashing.requests + outbox.requests]
    assert len(sent) == len(set(sent)) == 10
    assert outcome.sent == 10
    assert all(r["code"] == SENT for r in report(restarted, "big.csv"))


async def test_an_outbox_that_is_down_leaves_the_file_for_the_next_poll(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    down = Outbox(crash_after=2, failure=Unavailable("outbox.unavailable", "the outbox database is down"))
    drop(adapter, "wednesday.csv", good(5))
    assert await settle(adapter, down) == []
    assert (adapter.incoming / "wednesday.csv").exists()
    down.crash_after = None
    [outcome] = await adapter.scan(down)
    assert outcome.sent == 5
    assert [r.body["child"]["given_name"] for r in down.requests] == [f"Testy{i}" for i in range(5)]


async def test_a_row_the_connector_refuses_for_good_is_reported_not_retried(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    refusing = Outbox(crash_after=0, failure=Forbidden("sharing.denied", "no agreement permits it"))
    drop(adapter, "thursday.csv", good(1))
    [outcome] = await settle(adapter, refusing)
    assert (outcome.sent, outcome.rejected) == (0, 1)
    [line] = report(adapter, "thursday.csv")
    assert (line["code"], "sharing.denied" in line["message"]) == (NOT_SENT, True)


async def test_the_same_file_dropped_again_sends_nothing(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    lines = good(2)
    drop(adapter, "friday.csv", lines)
    await settle(adapter, outbox)
    drop(adapter, "friday.csv", lines)
    [outcome] = await settle(adapter, outbox)
    assert (outcome.status, len(outbox.requests)) == ("duplicate", 2)
    assert [r["code"] for r in report(adapter, "friday.csv")] == [ALREADY_PROCESSED]
    first, again = reported(adapter, "friday.csv")
    assert [r["code"] for r in csv.DictReader(io.StringIO(first.read_text()))] == [SENT, SENT], "first report kept"
    assert ".again-" in again.name
    assert len(list((adapter.root / "done").iterdir())) == 2, "the second copy is kept beside the first"


async def test_received_messages_are_written_as_json_when_asked(tmp_path: Path) -> None:
    adapter = build(tmp_path, received={"contracts": ["onedoor.alert.Alert"]})
    alert = received("onedoor.alert.Alert", {"alert_id": "a-1", "kind": "MISSING_EPISODE"})
    assert await adapter.deliver(alert) is True
    assert await adapter.deliver(received("onedoor.referral.MasterReferral", {})) is False
    path = adapter.root / "received" / f"{alert.header.message_id}.json"
    written = json.loads(path.read_text())
    assert (written["message_id"], written["body"]["kind"]) == (alert.header.message_id, "MISSING_EPISODE")
    assert path.stat().st_mode & 0o077 == 0


BAD = [
    ("An unknown option is refused by name.", {"colour": "blue"}, BAD_OPTIONS, "colour"),
    ("Recipients are required.", {"recipients": []}, BAD_OPTIONS, "recipients"),
    ("A recipient must be an agency id.", {"recipients": ["Not An Agency"]}, BAD_OPTIONS, "recipients[0]"),
    (
        "A contract this connector does not know.",
        {"contract": "onedoor.nothing.Here"},
        UNKNOWN_CONTRACT,
        "onedoor.nothing",
    ),
    (
        "A column mapped to a field that does not exist.",
        {"columns": {**COLUMNS, "X": "child.x"}},
        BAD_MAPPING,
        "child.x",
    ),
]


@pytest.mark.parametrize(("sentence", "changes", "code", "named"), BAD, ids=[b[0] for b in BAD])
def test_bad_options_are_refused_with_a_code_naming_the_option(
    tmp_path: Path, sentence: str, changes: dict[str, Any], code: str, named: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        build(tmp_path, **changes)
    assert refused.value.code == code, sentence
    assert named in refused.value.message, sentence


async def test_rows_carry_their_subject_token_and_rows_without_one_are_rejected(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    lines = [
        ",".join(HEADER),
        csv_line(row(First_name="Testy", Subject_token="st1_SYNTHETICfolderToken0042")),
        csv_line(row(First_name="Synthia", Subject_token="")),
        csv_line(row(First_name="Fakey", Subject_token="Fakey McFakerson")),
    ]
    drop(adapter, "tokens.csv", lines)
    [outcome] = await settle(adapter, outbox)
    assert (outcome.sent, outcome.rejected) == (1, 2)
    assert [r.subject_token for r in outbox.requests] == ["st1_SYNTHETICfolderToken0042"]
    lines_out = report(adapter, "tokens.csv")
    assert [(r["row"], r["column"], r["code"]) for r in lines_out] == [
        ("2", "", SENT),
        ("3", SUBJECT_COLUMN, NO_SUBJECT_TOKEN),
        ("4", SUBJECT_COLUMN, BAD_SUBJECT_TOKEN),
    ]
    assert "McFakerson" not in json.dumps(lines_out), "the report never quotes a cell"


async def test_a_file_without_the_subject_token_column_is_rejected_whole(tmp_path: Path) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    header = [c for c in HEADER if c != SUBJECT_COLUMN]
    drop(adapter, "no-token.csv", [",".join(header), ",".join(f'"{row()[c]}"' for c in header)])
    [outcome] = await settle(adapter, outbox)
    assert (outcome.status, outbox.requests) == ("rejected", [])
    assert [(r["column"], r["code"]) for r in report(adapter, "no-token.csv")] == [(SUBJECT_COLUMN, MISSING_COLUMN)]


def test_a_folder_of_a_contract_about_a_child_must_name_its_subject_token_column(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as refused:
        build(tmp_path, subject_token=None)
    assert refused.value.code == NO_SUBJECT_TOKEN
    assert "subject_token" in refused.value.message


async def test_an_alert_folder_takes_the_header_token_from_the_bodys_own_field(tmp_path: Path) -> None:
    columns = {"Alert": "alert_id", "Token": "subject_token", "When": "occurred_at", "Reported": "reported_at"}
    adapter = build(
        tmp_path,
        contract="onedoor.alert.Alert",
        columns=columns,
        defaults={"kind": "MISSING_EPISODE"},
        subject_token=None,
    )
    outbox = Outbox()
    token = "st1_SYNTHETICalertToken00001"
    drop(adapter, "alerts.csv", ["Alert,Token,When,Reported", f"a-1,{token},01/06/2026,01/06/2026"])
    [outcome] = await settle(adapter, outbox)
    assert outcome.sent == 1, outcome.problems
    assert outbox.requests[0].subject_token == token


async def test_reports_and_rejected_rows_are_owner_only_and_a_later_file_of_the_same_name_keeps_them(
    tmp_path: Path,
) -> None:
    adapter = build(tmp_path)
    outbox = Outbox()
    for sub in ("incoming", "reports", "done"):
        assert (adapter.root / sub).stat().st_mode & 0o777 == 0o700, sub
    bad = csv_line(row(First_name="Synthia", Date_of_birth="2010-13-45"))
    drop(adapter, "daily.csv", [*good(1), bad])
    await settle(adapter, outbox)
    drop(adapter, "daily.csv", [*good(2), bad])  # the next day's file, the same name
    await settle(adapter, outbox)
    assert len(reported(adapter, "daily.csv")) == 2, "the first day's report is kept"
    rejected = reported(adapter, "daily.csv", "rejected")
    assert len(rejected) == 2
    for path in [*rejected, *reported(adapter, "daily.csv")]:
        assert path.stat().st_mode & 0o777 == 0o600, path.name
    assert not [p for p in (adapter.root / "reports").iterdir() if p.name.endswith(".tmp")]


def test_a_symlink_planted_at_a_temporary_name_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    (tmp_path / ".report.csv.tmp").symlink_to(outside)
    write_atomically(target, b"row,column,code,message\n")
    assert outside.read_text() == "untouched"
    assert target.read_bytes() == b"row,column,code,message\n"
    assert target.stat().st_mode & 0o777 == 0o600
