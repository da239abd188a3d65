"""``/healthz`` counts what waits in the outbox and what is parked (counts only, no token needed)."""

from __future__ import annotations

from pathlib import Path

import httpx

from connectors.agent.api import create_app
from connectors.outbox import Durability
from connectors.sdk.connector import Sealed
from tests.factories import World
from tests.unit.agent.fakes import FakeBackend, config

WORLD = World.make()


async def test_healthz_counts_the_outbox_backlog_and_parked_messages(tmp_path: Path) -> None:
    durability = Durability.open(
        f"sqlite:///{tmp_path / 'connector.sqlite3'}", bootstrap_servers="127.0.0.1:1", topic="t", client_id="test"
    )
    backend = FakeBackend()
    backend.durability = durability  # type: ignore[attr-defined]
    app = create_app(config(tmp_path), backend)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "outbox_pending": 0, "parked": 0}
        headers = [WORLD.header(WORLD.police, [WORLD.council]) for _ in range(3)]
        durability.store.put([Sealed(h, b"sealed", frozenset()) for h in headers[:2]])
        durability.store.park(headers[2], b"sealed", reason="adapter.unmapped", detail="no mapping", attempts=1)
        assert (await http.get("/healthz")).json() == {"status": "ok", "outbox_pending": 2, "parked": 1}
        durability.relay.last_error = "KafkaConnectionError"
        backend.healthy = False
        response = await http.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "outbox_pending": 2,
            "parked": 1,
            "relay_error": "KafkaConnectionError",
        }
    durability.store.close()
