"""The desk registers its intake key with the hub itself and notices when the hub shows another one.

The hub is an in-memory fake of ``HubCaller`` answering ``GET``/``PUT /intake/key`` as the hub does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from structlog.testing import capture_logs

from connectors.triage.intakekey import IntakeKeyWatch
from onedoor.envelope.intake import IntakeKeyPair, b64url, intake_key_id, unb64url
from onedoor.errors import Conflict, Unavailable


@dataclass
class FakeHub:
    """``/intake/key`` of a hub; ``down`` makes every call fail as an unreachable hub does."""

    public_key: bytes | None = None
    down: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        assert path == "/intake/key"
        self.calls.append((method, json))
        if self.down:
            raise Unavailable("hub.unreachable", "cannot reach the hub")
        if method == "PUT":
            self.public_key = unb64url(json["public_key"])
        if self.public_key is None:
            raise Conflict("intake.no_triage_desk", "no single active triage desk with an intake key")
        return {"agency": "test-triage-desk", "key_id": intake_key_id(self.public_key), "public_key": "..."}


async def test_the_desk_registers_its_own_key_when_the_hub_has_none() -> None:
    key, hub = IntakeKeyPair.generate(), FakeHub()
    watch = IntakeKeyWatch(hub, key)
    assert await watch.register()
    assert watch.ok is True
    assert hub.public_key == key.public_raw
    puts = [body for method, body in hub.calls if method == "PUT"]
    assert puts == [{"public_key": b64url(key.public_raw)}], "its own key, under its own assertion: no agency id"


async def test_a_key_the_hub_already_shows_is_not_registered_again() -> None:
    key = IntakeKeyPair.generate()
    hub = FakeHub(public_key=key.public_raw)
    assert await IntakeKeyWatch(hub, key).register()
    assert [method for method, _ in hub.calls] == ["GET"]


async def test_another_key_at_the_hub_is_an_error_and_makes_the_desk_unhealthy_until_it_is_right() -> None:
    key, other = IntakeKeyPair.generate(), IntakeKeyPair.generate()
    hub = FakeHub()
    watch = IntakeKeyWatch(hub, key)
    await watch.register()
    hub.public_key = other.public_raw  # someone else's key now
    with capture_logs() as logs:
        assert not await watch.check()
    assert watch.ok is False
    assert watch.hub_key_id == other.key_id
    [error] = [e for e in logs if e["event"] == "intake.key_mismatch"]
    assert error["log_level"] == "error"
    text = json.dumps(logs, default=str)
    for material in (b64url(key.public_raw), b64url(other.public_raw)):
        assert material not in text, "no key material in the log"

    hub.down = True
    assert not await watch.check(), "an unreachable hub changes nothing"
    assert watch.ok is False
    hub.down = False
    hub.public_key = key.public_raw
    assert await watch.check()
    assert watch.ok is True


async def test_a_refused_registration_is_a_mismatch_and_an_unreachable_hub_is_not() -> None:
    key = IntakeKeyPair.generate()

    class Refusing(FakeHub):
        async def call(self, method: str, path: str, json: Any = None) -> Any:
            if method == "PUT":
                raise Conflict("intake.not_triage", "only a triage agency has an intake key")
            return await super().call(method, path, json)

    refused = IntakeKeyWatch(Refusing(), key)
    assert not await refused.register()
    assert refused.ok is False

    unreachable = IntakeKeyWatch(FakeHub(down=True), key)
    assert await unreachable.register()
    assert unreachable.ok is None, "not known yet; checked again at the next policy refresh"
