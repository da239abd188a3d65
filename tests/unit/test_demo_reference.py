"""The reference systems of `onedoor demo`, without a broker: seeded once, read through the SQL adapter, written to."""

from __future__ import annotations

from pathlib import Path

from connectors.synthetic import referral
from onedoor.demo import COUNCIL, POLICE
from onedoor.demo_reference import COUNT, deliver, open_system, shared_children
from tests.unit.triage.world import received


async def test_the_demo_agencies_run_on_their_reference_systems_and_share_children(tmp_path: Path) -> None:
    police = open_system(tmp_path, POLICE, "police")
    council = open_system(tmp_path, COUNCIL, "council")
    try:
        assert police.database == tmp_path / "demo" / POLICE.id / "police.sqlite3"
        assert len(police.records) == len(council.records) == COUNT
        count, first = shared_children(police, council)
        assert count == COUNT // 4
        assert first is not None
        assert first.record_reference.startswith("LCS-")

        # A referral shared under a 'limited' agreement has no child's name: it still lands, as a contact.
        body = referral(2)
        del body["child"]
        await deliver(council, received("onedoor.referral.MasterReferral", body, recipient=COUNCIL.id))
    finally:
        await police.adapters.close()
        await council.adapters.close()

    again = open_system(tmp_path, COUNCIL, "council")  # kept between runs, not seeded again
    try:
        from sqlalchemy import select  # noqa: PLC0415 - only this check needs it

        from connectors.reference.council import contacts  # noqa: PLC0415

        [adapter] = list(again.adapters)
        with adapter.engine.connect() as conn:  # type: ignore[attr-defined]
            [row] = conn.execute(select(contacts)).mappings().all()
        assert row["child_forename"] is None
        assert row["concern_summary"] == body["concern_summary"]
        assert row["contact_status"] == "NEW"
    finally:
        await again.adapters.close()
