"""Exactly once from the adapters: a crash after the outbox took a message but before the adapter recorded it.

Real pieces: the folder adapter with its SQLite ledger, a real ``Connector`` that seals (never
started), its real outbox (SQLite) and ``registry.sender``. The crash is the ledger failing right
after the outbox took the row; the re-run sends it again under the same idempotency key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.adapters.base import AdapterContext, OutboundRequest
from connectors.adapters.folder import factory
from connectors.adapters.folder_ledger import FolderLedger
from connectors.adapters.registry import sender
from connectors.adapters.sql.events import Watermarks
from connectors.outbox import Durability
from connectors.sdk.connector import Connector
from connectors.synthetic import alert
from onedoor.envelope.opening import parse_header
from onedoor.ids import AgencyId
from tests.unit.adapters.folder_world import COLUMNS, DEFAULTS, HEADER, SUBJECT_COLUMN, csv_line, row
from tests.unit.connectors.world import COUNCIL, POLICE, Agencies


class Crash(Exception):
    """Stands for the process being killed."""


def _connector(tmp_path: Path) -> tuple[Connector, Durability]:
    durability = Durability.open(
        f"sqlite:///{tmp_path / 'connector.sqlite3'}", bootstrap_servers="unused:9092", topic="t", client_id="test"
    )
    connector = Agencies().connector(POLICE, None)
    connector.outbox = durability.outbox
    return connector, durability


async def test_a_folder_row_taken_by_the_outbox_but_not_recorded_is_not_sent_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, durability = _connector(tmp_path)
    context = AdapterContext(agency=POLICE, data_dir=tmp_path / "data", base_dir=tmp_path)
    options: dict[str, Any] = {
        "folder": "drop",
        "recipients": [str(COUNCIL)],
        "columns": COLUMNS,
        "subject_token": SUBJECT_COLUMN,
        "defaults": DEFAULTS,
        "date_format": "%d/%m/%Y",
    }
    first = factory("drop", options, context)
    lines = [",".join(HEADER), *(csv_line(row(First_name=f"Testy{i}")) for i in range(5))]
    (first.incoming / "crash.csv").write_text("\n".join(lines) + "\n")
    real_mark = FolderLedger.mark_sent

    def crash_on_row_3(self: FolderLedger, digest: str, number: int) -> None:
        if number == 3:
            raise Crash("killed after the outbox took row 3, before the ledger recorded it")
        real_mark(self, digest, number)

    monkeypatch.setattr(FolderLedger, "mark_sent", crash_on_row_3)
    out = sender(connector)
    await first.scan(out)
    with pytest.raises(Crash):
        await first.scan(out)
    await first.close()
    assert durability.store.pending_count() == 2, "rows 2 and 3 (numbered from the header line) are in the outbox"

    monkeypatch.setattr(FolderLedger, "mark_sent", real_mark)
    again = factory("drop", options, context)
    await again.scan(out)
    [outcome] = await again.scan(out)
    await again.close()
    assert outcome.sent == 5
    pending = durability.store.pending(100)
    assert len(pending) == 5, "one outbox row per CSV row: row 3 was not enqueued twice"
    assert len({p.message_id for p in pending}) == 5
    durability.store.close()


async def test_a_sql_event_taken_by_the_outbox_before_its_watermark_was_stored_is_not_sent_twice(
    tmp_path: Path,
) -> None:
    connector, durability = _connector(tmp_path)
    out = sender(connector)
    marks = Watermarks(tmp_path / "marks.sqlite3")
    body = alert(1)

    def request(mark: int) -> OutboundRequest:  # what ``events.make_request`` builds for one event row
        return OutboundRequest(
            contract="onedoor.alert.Alert",
            version=1,
            recipients=(AgencyId(COUNCIL),),
            purpose="safeguarding-alert",
            body=body,
            source=f"records:missing:{mark}",
            idempotency_key=f"sql:records:missing:{mark}",
            subject_token=str(body["subject_token"]),
        )

    await out(request(7))  # the outbox took it ... and the connector died before marks.put
    stored, _ = marks.get("records", "missing")
    assert not stored
    await out(request(7))  # the re-run reads the same row again
    marks.put("records", "missing", 7)
    [pending] = durability.store.pending(10)
    header = parse_header(pending.value)[1]
    assert str(header.subject_token) == body["subject_token"], "the request's subject token is in the header"
    marks.close()
    durability.store.close()
