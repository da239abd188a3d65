"""Audit chain figures: durable appends per second (batched and single), verification speed, per-row cost.

    python -m bench.audit [--rows N] [--batch B] [--singles S]

Runs on a SQLite file in WAL mode made by the hub's own migrations and engine (as the hub runs
it), through the real append path (``hub.audit.service``). Every figure counts committed rows.
Stand-alone runs merge their figures into bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import db
from hub.audit import chain, service, verify
from onedoor.db import make_engine


def _metric(value: float, unit: str, conditions: str) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "conditions": conditions}


def _router_row(i: int, now: datetime) -> dict[str, object]:
    # The shape of the router's route.delivered row (hub.router.service._audit_row).
    return {
        "at": now,
        "kind": "route.delivered",
        "actor": "met-police",
        "outcome": "delivered",
        "reason_code": None,
        "message_id": f"00000000-0000-4000-8000-{i:012d}",
        "correlation_id": f"corr-{i}",
        "contract": "onedoor.referral.MasterReferral",
        "contract_version": 1,
        "recipients": "lb-hackney-csc",
        "source": f"bench.out.met-police:{i % 3}:{i}",
        "expires_at": now + timedelta(days=7),
        "agreement_id": "isa-met-hackney-county-lines",
        "agreement_version": 3,
        "purpose": "safeguarding-referral",
        "subject_token": f"st1_{i:032d}",
        "detail": None,
        "latency_ms": i % 200,
    }


def chain_cost_us(rows: list[dict[str, object]]) -> float:
    """CPU per row of what the chain adds to an append: normalise, encode, SHA-256 (one thread)."""
    names, normalise, hash_values = chain.HASHED_FIELDS, chain.normalise, chain.hash_values
    prev = chain.GENESIS
    started = time.perf_counter()
    for seq, row in enumerate(rows, 1):
        prev = hash_values(seq, prev, normalise([row.get(c) for c in names]))
    return (time.perf_counter() - started) / len(rows) * 1e6


def measure(rows: int = 60_000, batch: int = 1000, singles: int = 2000) -> dict[str, dict[str, Any]]:
    """Append ``rows`` in ``batch``-row transactions, then ``singles`` one-row transactions, then verify."""
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-audit-"))
    url = f"sqlite:///{work / 'hub.sqlite3'}"
    try:
        db.migrate(url)
        engine = make_engine(url)
        factory = db.session_factory(engine)
        now = datetime.now(UTC)
        prepared = [_router_row(i, now) for i in range(rows)]
        per_row_us = chain_cost_us(prepared[: min(rows, 20_000)])

        started = time.perf_counter()
        for offset in range(0, rows, batch):
            service.append_now_rows(factory, prepared[offset : offset + batch])
        batched = rows / (time.perf_counter() - started)

        entries = [
            service.AuditEntry(kind="api.authz", outcome="permit", actor="dev:bench", source="GET /audit/events")
            for _ in range(singles)
        ]
        started = time.perf_counter()
        for entry in entries:
            service.append_now(factory, [entry])
        single = singles / (time.perf_counter() - started)

        with engine.connect() as connection:
            result = verify.verify_database(connection, None)
        engine.dispose()
        if not result.report.ok or result.report.rows != rows + singles:
            raise RuntimeError(f"the benchmark chain does not verify: {result.report.problem}")
        checked = result.report.rows / result.seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cond = "SQLite file, WAL, synchronous=NORMAL (the hub's engine), committed rows, real append path"
    return {
        "audit.append_per_s": _metric(
            batched, "rows/s", f"{cond}; {rows} router-shaped rows in {batch}-row transactions"
        ),
        "audit.append_single_per_s": _metric(
            single, "rows/s", f"{cond}; {singles} one-row transactions (the API's way)"
        ),
        "audit.verify_per_s": _metric(checked, "rows/s", f"full offline verification of {result.report.rows} rows"),
        "audit.chain_us_per_row": _metric(
            per_row_us, "us CPU/row", "normalise + canonical JSON + SHA-256 of one router row, one thread"
        ),
    }


def main() -> None:
    """Measure and merge into bench/results/latest.json."""
    from bench.__main__ import merge_results  # noqa: PLC0415 - the full bench imports this module

    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=2000)
    args = parser.parse_args()
    merge_results(measure(args.rows, args.batch, args.singles), "audit_measured_at")


if __name__ == "__main__":
    main()
