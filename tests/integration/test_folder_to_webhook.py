"""Folder in, webhook out, through two running connectors, the real broker and a real hub.

A small charity's staff drop a CSV of referrals into the folder its connector watches (the
``folder`` adapter, from the adapters file); one row has a bad date. The good rows travel sealed
to the council, whose connector POSTs each, signed, to the council's case system (the
``webhook`` adapter; a real HTTP server that checks the signature). The bad row is in the
charity's report and rejected file, and reaches no one.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from connectors.agent.runtime import running_connector
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.ids import AgencyId
from tests.e2e.hub import agreement_body, connector_config, eventually, hub_settings, running_hub
from tests.integration.webhook_server import Served, serving, webhook_adapter
from tests.unit.adapters.folder_world import HEADER, csv_line, folder_adapter, row
from tests.unit.triage.world import FakeProgress

pytestmark = pytest.mark.integration

CHARITY = AgencyId("it-fw-outreach-charity")
BOROUGH = AgencyId("lb-it-fw-borough-csc")
KINDS = {CHARITY: "charity", BOROUGH: "children-services"}


async def test_a_dropped_csv_reaches_the_councils_webhook_row_by_row(kafka_bootstrap: str, tmp_path: Path) -> None:
    with serving(tmp_path / "case-system") as served:
        await _run(kafka_bootstrap, tmp_path, served)


async def _run(kafka_bootstrap: str, tmp_path: Path, served: Served) -> None:
    keys = {agency: AgencyKeyPair.generate(agency) for agency in KINDS}
    drop = tmp_path / "drop"
    folder = folder_adapter(drop, str(BOROUGH))
    webhook = webhook_adapter(served)
    async with running_hub(hub_settings(tmp_path, kafka_bootstrap)) as hub:
        for agency, kind in KINDS.items():
            await hub.register(keys[agency], kind)
        await hub.agree(agreement_body("isa-it-fw-charity-borough", CHARITY, BOROUGH, level="full"))
        await asyncio.sleep(0.5)
        roots = tmp_path / "connectors"
        async with AsyncExitStack() as stack:
            for agency, adapters in ((CHARITY, [folder]), (BOROUGH, [webhook])):
                config = connector_config(roots, keys[agency], hub, {"adapters": adapters})
                await stack.enter_async_context(
                    running_connector(config, bootstrap=kafka_bootstrap, client=hub.client, progress=FakeProgress())
                )
            lines = [
                ",".join(HEADER),
                csv_line(row(First_name="Testy")),
                csv_line(row(First_name="Synthia", Last_name="Example", Date_of_birth="31/02/2010")),
                csv_line(row(First_name="Fakey", Last_name="McFakerson")),
            ]
            (drop / "incoming" / "week-47.csv").write_text("\n".join(lines) + "\n")

            got = await eventually(lambda: len(served.system.got) >= 2 and served.system.got, "two webhook calls")
            await asyncio.sleep(1.0)  # the bad row must not arrive later either
            names = sorted(body["body"]["child"]["given_name"] for _, body in got)  # type: ignore[index]
            assert names == ["Fakey", "Testy"]
            assert served.system.refused == [], "every webhook call was signed with the shared secret"
            assert {body["sender"] for _, body in got} == {CHARITY}

            report = next((drop / "reports").glob("week-47.csv.*.report.csv")).read_text()
            lines_out = list(csv.DictReader(io.StringIO(report)))
            assert [(r["row"], r["column"], r["code"]) for r in lines_out] == [
                ("2", "", "sent"),
                ("3", "Date of birth", "adapter.folder.bad_date"),
                ("4", "", "sent"),
            ]
            assert "Synthia" not in report
            rejected = next((drop / "reports").glob("week-47.csv.*.rejected.csv")).read_text()
            assert "Synthia" in rejected
            assert (drop / "done" / "week-47.csv").exists()
            assert "Synthia" not in json.dumps([body for _, body in got])
