"""Read the agency's status records from its database through the mapping.

Each row becomes a ``StatusRecord`` (codes mapped, booleans read as ``1``/``Y``/``true``...). A
row that does not make a valid record (no date of birth, an unknown NRM code) is skipped and
counted, by reason code, in one log line: never its values. Pure but for the one ``SELECT``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from connectors.adapters.sql.database import UNAVAILABLE, StatusSource
from connectors.adapters.sql.mapping import StatusMapping, truthy
from connectors.status.index import StatusRecord
from connectors.status.messages import NrmStage
from onedoor.errors import OneDoorError, Unavailable
from onedoor.logging import get_logger

log = get_logger(__name__)

SKIPPED: Final = "adapter.sql.rows_skipped"


def read_status(name: str, engine: Engine, source: StatusSource) -> list[StatusRecord]:
    """Every row of the status table, view or query as a record; bad rows skipped and counted.

    Raises:
        Unavailable: ``adapter.sql.unavailable`` when the database cannot be read.
    """
    mapping = source.mapping
    if source.table is not None:
        statement: Any = select(*(source.table.c[column] for column in mapping.columns_used()))
    else:
        statement = source.query
    records: list[StatusRecord] = []
    skipped: Counter[str] = Counter()
    try:
        with engine.connect() as conn:
            for row in conn.execute(statement).mappings():
                try:
                    records.append(to_record(row, mapping))
                except OneDoorError as exc:
                    skipped[exc.code] += 1
    except DBAPIError as exc:
        raise Unavailable(
            UNAVAILABLE, f"adapter {name!r}: cannot read its database ({type(exc.orig).__name__})"
        ) from None
    if skipped:
        log.warning(SKIPPED, adapter=name, skipped=sum(skipped.values()), reasons=dict(skipped))
    return records


def to_record(row: Mapping[Any, Any], mapping: StatusMapping) -> StatusRecord:
    """One row as a record.

    Raises:
        ValidationFailed: ``status.invalid_records`` or an identity code, naming the field only.
    """
    used = mapping.columns.used()

    def value(field: str) -> Any:
        source = used.get(field)
        return None if source is None else source.translate(row[source.column])

    role, team = _text(value("lead_role")), _text(value("lead_team"))
    lead = None
    if role or team:
        lead = {"role": role, "team": team, "phone": _text(value("lead_phone")), "email": _text(value("lead_email"))}
    opened = value("case_open")
    item = {
        "record_reference": _text(value("record_reference")),
        "given_name": _text(value("given_name")),
        "family_name": _text(value("family_name")),
        "date_of_birth": _date_text(value("date_of_birth")),
        "postcode": _text(value("postcode")),
        "flags": sorted({rule.flag for rule in mapping.flags if rule.holds(row[rule.column])}),
        "nrm_stage": _text(value("nrm_stage")) or NrmStage.NOT_KNOWN,
        "missing_episodes_last_90_days": _whole(value("missing_episodes_last_90_days")),
        "case_open": False if opened is None else (b if (b := truthy(opened)) is not None else opened),
        "lead_professional": lead,
    }
    return StatusRecord.from_json(item)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    found = str(value).strip()
    return found or None


def _date_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return _text(value)


def _whole(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value
