"""The connector gives its adapters the matching key it loaded, so a folder adapter can derive subject tokens."""

from __future__ import annotations

from pathlib import Path

import yaml

from connectors.adapters.base import OutboundRequest
from connectors.adapters.folder import FolderAdapter
from connectors.adapters.registry import load_adapters
from connectors.agent.runtime import adapter_context
from connectors.identity import Identifiers, MatchingKey
from connectors.identity.subject import subject_token
from tests.unit.adapters.folder_world import COLUMNS, DEFAULTS
from tests.unit.agent.fakes import config


async def test_a_folder_adapter_built_by_the_runtime_derives_with_the_connectors_key(tmp_path: Path) -> None:
    key = MatchingKey.generate()
    derive = {"given_name": "First name", "family_name": "Last name", "date_of_birth": "Date of birth"}
    entry = {
        "kind": "folder",
        "name": "drop",
        "options": {
            "folder": "drop",
            "recipients": ["test-triage-desk"],
            "columns": {c: COLUMNS[c] for c in ("First name", "Last name", "Date of birth", "Summary")},
            "subject_token": {"derive": derive},
            "defaults": {**DEFAULTS, "urgency": "SAME_DAY", "concern_categories": ["COUNTY_LINES"]},
            "date_format": "%d/%m/%Y",
        },
    }
    adapters_file = tmp_path / "adapters.yaml"
    adapters_file.write_text(yaml.safe_dump({"adapters": [entry]}))
    settings = config(tmp_path, adapters_file=adapters_file, data_dir=tmp_path / "data")

    assert adapter_context(settings).matching_key is None
    context = adapter_context(settings, key)
    assert context.matching_key is key
    [adapter] = list(load_adapters(settings.adapters_file, context))
    assert isinstance(adapter, FolderAdapter)
    (adapter.incoming / "rows.csv").write_text(
        "First name,Last name,Date of birth,Summary\nTesty,McFakeface,14/03/2010,Seen far from home.\n"
    )
    sent: list[OutboundRequest] = []

    async def outbound(request: OutboundRequest) -> None:
        sent.append(request)

    await adapter.scan(outbound)
    await adapter.scan(outbound)
    await adapter.close()
    [request] = sent
    assert request.subject_token == str(subject_token(key, Identifiers.parse("Testy", "McFakeface", "2010-03-14")))
