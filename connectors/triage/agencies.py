"""Who the agencies are (name and kind), from the hub's public ``GET /directory``.

The SDK's ``PublicDirectory`` keeps keys only; the desk also needs each agency's kind (the
triage desk, the local authorities) and display name (the workbench's service list).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.triage.decision import AgencyInfo
from onedoor.errors import OneDoorError, Unavailable
from onedoor.ids import AgencyId


def agencies_from_document(document: Mapping[str, Any]) -> dict[AgencyId, AgencyInfo]:
    """Every listed agency's name and kind (``None`` when the document has no kind)."""
    found: dict[AgencyId, AgencyInfo] = {}
    for entry in document.get("agencies", []):
        try:
            agency = AgencyId(entry["id"])
        except (OneDoorError, KeyError):
            continue
        found[agency] = AgencyInfo(agency, str(entry.get("display_name") or agency), entry.get("kind"))
    return found


async def fetch_agencies(hub_url: str, *, client: httpx.AsyncClient | None = None) -> dict[AgencyId, AgencyInfo]:
    """Fetch the directory and read the agencies' names and kinds.

    Raises:
        Unavailable: ``hub.unreachable``.
    """
    own = client is None
    http = client or httpx.AsyncClient(base_url=hub_url, timeout=10.0)
    try:
        response = await http.get("/directory")
        response.raise_for_status()
        return agencies_from_document(response.json())
    except httpx.HTTPError as exc:
        raise Unavailable("hub.unreachable", f"cannot fetch the directory from {hub_url}: {exc}") from None
    finally:
        if own:
            await http.aclose()
