"""The triage desk's intake key at the hub: registered by the desk itself, and checked from time to time.

The public form seals every referral to the key the hub's ``GET /intake/key`` shows. Only the
triage agency may set it (``PUT /intake/key`` with its own agency assertion), and the desk
checks that what the hub shows is its own: at start-up it registers its public key unless the
hub already shows its key id, then compares; afterwards it compares again on every check
(each policy refresh). A mismatch, e.g. a key the desk does not hold, means referrals would be
sealed to someone else or lost: it is logged as an error ``intake.key_mismatch`` (key ids only,
never key material) and the connector reports itself unhealthy until the hub shows its key again.
"""

from __future__ import annotations

from typing import Any, Final

from connectors.sdk.hubauth import HubCaller
from onedoor.envelope.intake import IntakeKeyPair, b64url
from onedoor.errors import OneDoorError
from onedoor.logging import get_logger

log = get_logger(__name__)

KEY_MISMATCH: Final = "intake.key_mismatch"
KEY_PATH: Final = "/intake/key"


class IntakeKeyWatch:
    """Registers and checks this desk's intake key at the hub; ``ok`` is ``False`` after a mismatch."""

    def __init__(self, hub: HubCaller, key: IntakeKeyPair) -> None:
        self._hub = hub
        self._key = key
        self.ok: bool | None = None
        """``True`` when the hub last showed this desk's key, ``False`` on a mismatch, ``None`` before a check."""
        self.hub_key_id: str | None = None
        """The key id the hub last showed (``None`` when it showed none)."""

    @property
    def key_id(self) -> str:
        """This desk's current intake key id."""
        return self._key.key_id

    async def register(self) -> bool:
        """At start-up: register this desk's key unless the hub already shows it, then check; ``ok``."""
        try:
            shown = await self._shown()
        except OneDoorError as exc:
            log.warning("intake.key_register_failed", code=exc.code, key_id=self.key_id)
            return self.ok is not False
        if shown == self.key_id:
            return self._settle(shown)
        try:
            await self._hub.call("PUT", KEY_PATH, json={"public_key": b64url(self._key.public_raw)})
        except OneDoorError as exc:
            if exc.retriable:
                log.warning("intake.key_register_failed", code=exc.code, key_id=self.key_id)
                return self.ok is not False
            log.error(KEY_MISMATCH, code=exc.code, key_id=self.key_id, hub_key_id=shown, registered=False)  # noqa: TRY400 - a refusal, not a crash
            self.ok = False
            return False
        log.info("intake.key_registered", key_id=self.key_id, replaced=shown)
        return await self.check()

    async def check(self) -> bool:
        """Compare the hub's intake key id with this desk's; ``ok`` (unchanged when the hub cannot be reached)."""
        try:
            shown = await self._shown()
        except OneDoorError as exc:
            log.warning("intake.key_check_failed", code=exc.code)
            return self.ok is not False
        return self._settle(shown)

    async def _shown(self) -> str | None:
        try:
            found: Any = await self._hub.call("GET", KEY_PATH)
        except OneDoorError as exc:
            if exc.retriable:
                raise
            return None  # no single triage desk with a key (409 intake.no_triage_desk)
        key_id = found.get("key_id") if isinstance(found, dict) else None
        return key_id if isinstance(key_id, str) else None

    def _settle(self, shown: str | None) -> bool:
        matches = shown == self.key_id
        if not matches:
            log.error(KEY_MISMATCH, key_id=self.key_id, hub_key_id=shown)
        elif self.ok is False:
            log.info("intake.key_matches_again", key_id=self.key_id)
        self.ok = matches
        self.hub_key_id = shown
        return matches
