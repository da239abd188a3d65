"""``onedoor connector rotate-keys`` and ``revoke-key``: an agency changes its keys itself.

Rotation, per use (encryption first, then signing):

1. a new key is written to ``<keys_dir>/pending/`` (encrypted with the same passphrase; a
   pending key left by an interrupted rotation is reused, not replaced);
2. it is announced to the hub (``POST /agencies/me/keys``) with an assertion signed by the
   agency's **current** signing key; the hub makes it current and retires the old key after an
   overlap (the router's maximum envelope lifetime);
3. only once the hub accepted it, the old encryption key is kept as
   ``previous/<key id>.pem`` (with the hub's ``not_after``) and the pending file replaces the
   current one (an atomic rename).

A running connector picks the new keys up when the hub announces the registry change
(``connectors.agent.registry_watch``): it decrypts with the pending, current and previous
encryption keys, so nothing sealed to either key during the switch is lost.

``--revoke-old`` (a compromised key) revokes the replaced keys at once, with no overlap. If a
revocation fails after the files were swapped, the command names the old key ids and prints the
exact ``onedoor connector revoke-key`` commands to run, and exits 1 (``connector.revoke_incomplete``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from connectors.agent.config import ConnectorConfig, load_config_file
from connectors.agent.keyfiles import (
    ENCRYPTION,
    PENDING,
    SIGNING,
    check_passphrase,
    keep_previous,
    key_id_of,
    load_pair,
    load_private,
    replace_current,
    write_new,
)
from connectors.agent.options import ConnectorFile
from connectors.sdk.hubauth import HubClient
from hub.agencies.enums import KeyUse
from hub.agencies.schemas import b64url
from onedoor.envelope.keys import AgencyKeyPair, raw_public
from onedoor.errors import Conflict, OneDoorError, ValidationFailed
from onedoor.ids import KeyId

ROTATION_UNCONFIRMED = "connector.rotation_unconfirmed"
REVOKE_INCOMPLETE = "connector.revoke_incomplete"


@dataclass(frozen=True, slots=True)
class Rotated:
    """One key replaced."""

    use: KeyUse
    old: KeyId
    new: KeyId
    old_not_after: datetime | None
    """When the hub stops accepting the old key (``None`` if revoked at once)."""


def config_passphrase(config: ConnectorConfig) -> bytes | None:
    """The keys passphrase from the config (``ONEDOOR_CONNECTOR_KEYS_PASSPHRASE``), checked for length."""
    if config.keys_passphrase is None:
        return None
    return check_passphrase(config.keys_passphrase.get_secret_value())


def _pending(keys_dir: Path, use: KeyUse, passphrase: bytes | None) -> Ed25519PrivateKey | X25519PrivateKey:
    path = keys_dir / PENDING / (SIGNING if use is KeyUse.SIGNING else ENCRYPTION)
    if path.exists():
        return load_private(path, passphrase)
    key: Ed25519PrivateKey | X25519PrivateKey = (
        Ed25519PrivateKey.generate() if use is KeyUse.SIGNING else X25519PrivateKey.generate()
    )
    write_new(path, key, passphrase)
    return key


def _key_entry(agency: Any, key_id: KeyId) -> dict[str, Any] | None:
    keys = agency.get("keys", []) if isinstance(agency, dict) else []
    return next((k for k in keys if isinstance(k, dict) and k.get("key_id") == str(key_id)), None)


async def _announce(hub: HubClient, keys: AgencyKeyPair, use: KeyUse, raw: bytes) -> dict[str, Any]:
    """Announce; the hub's view of the agency afterwards (answering a re-announced pending key too)."""
    new_id = KeyId.for_public_key(raw)
    try:
        await hub.call("POST", "/agencies/me/keys", json={"use": use.value, "public_key": b64url(raw)})
    except Conflict as exc:
        if exc.code != "agency.key_exists":
            raise
    agency: dict[str, Any] = await hub.call("GET", f"/agencies/{keys.agency}")
    entry = _key_entry(agency, new_id)
    if entry is None or entry.get("status") != "current":
        raise ValidationFailed(
            ROTATION_UNCONFIRMED, f"the hub does not show the new {use.value} key {new_id} as current; nothing swapped"
        )
    return agency


async def rotate_keys(
    config: ConnectorConfig,
    *,
    uses: tuple[KeyUse, ...] = (KeyUse.ENCRYPTION, KeyUse.SIGNING),
    allow_unencrypted: bool = False,
    revoke_old: bool = False,
    hub_transport: httpx.AsyncBaseTransport | None = None,
) -> list[Rotated]:
    """Replace the agency's keys for ``uses``, announcing each to the hub before swapping files.

    Raises:
        ValidationFailed: ``connector.keys_passphrase`` / ``connector.weak_passphrase`` /
            ``connector.keys_unreadable``; ``connector.rotation_unconfirmed``.
        OneDoorError: the hub's refusal (``auth.*``, ``agency.key_not_current`` ...); files unchanged.
    """
    passphrase = config_passphrase(config)
    if passphrase is None and not allow_unencrypted:
        raise ValidationFailed("connector.keys_passphrase", "no keys passphrase: set ONEDOOR_CONNECTOR_KEYS_PASSPHRASE")
    keys_dir = config.keys_dir
    keys = load_pair(config.agency_id, keys_dir, passphrase)
    done: list[Rotated] = []
    order = [u for u in (KeyUse.ENCRYPTION, KeyUse.SIGNING) if u in uses]
    for use in order:
        new = _pending(keys_dir, use, passphrase)
        raw = raw_public(new.public_key())
        old_key: Ed25519PrivateKey | X25519PrivateKey = keys.signing if use is KeyUse.SIGNING else keys.encryption
        old_id = key_id_of(old_key)
        async with HubClient(config.hub_url, keys, transport=hub_transport) as hub:
            agency = await _announce(hub, keys, use, raw)
        old_entry = _key_entry(agency, old_id) or {}
        not_after = datetime.fromisoformat(old_entry["not_after"]) if old_entry.get("not_after") else None
        name = SIGNING if use is KeyUse.SIGNING else ENCRYPTION
        if isinstance(old_key, X25519PrivateKey) and not revoke_old:
            keep_previous(keys_dir, old_key, not_after or datetime.now(UTC), passphrase)
        replace_current(keys_dir, name, keys_dir / PENDING / name)
        keys = load_pair(config.agency_id, keys_dir, passphrase)
        done.append(Rotated(use, old_id, key_id_of(new), not_after))
    if revoke_old:
        unrevoked: list[tuple[KeyId, str]] = []
        async with HubClient(config.hub_url, keys, transport=hub_transport) as hub:
            for rotated in done:
                try:
                    await hub.call("POST", f"/agencies/me/keys/{rotated.old}/revoke")
                except OneDoorError as exc:
                    unrevoked.append((rotated.old, exc.code))
        failed = {key_id for key_id, _ in unrevoked}
        done = [r if r.old in failed else Rotated(r.use, r.old, r.new, None) for r in done]
        if unrevoked:
            raise RevocationIncomplete(done, unrevoked)
    return done


class RevocationIncomplete(OneDoorError):
    """``--revoke-old``: the keys were swapped, but the hub did not revoke every old key."""

    def __init__(self, rotated: list[Rotated], unrevoked: list[tuple[KeyId, str]]) -> None:
        listed = ", ".join(f"{key_id} ({code})" for key_id, code in unrevoked)
        super().__init__(
            REVOKE_INCOMPLETE,
            f"the new keys are in place, but the hub did not revoke the old key(s) {listed}: "
            "they are still accepted until revoked; revoke them now",
        )
        self.rotated = rotated
        self.unrevoked = unrevoked


def revoke_commands(unrevoked: list[tuple[KeyId, str]], connector: Path) -> list[str]:
    """The exact commands that revoke what ``--revoke-old`` could not."""
    return [f"onedoor connector revoke-key {key_id} --connector {connector}" for key_id, _ in unrevoked]


async def revoke_key(
    config: ConnectorConfig, key_id: KeyId, *, hub_transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, Any]:
    """Revoke one of the agency's keys at the hub, signed with its current signing key."""
    keys = load_pair(config.agency_id, config.keys_dir, config_passphrase(config))
    async with HubClient(config.hub_url, keys, transport=hub_transport) as hub:
        answer: dict[str, Any] = await hub.call("POST", f"/agencies/me/keys/{key_id}/revoke")
    return answer


def _fail(exc: OneDoorError) -> typer.Exit:
    typer.echo(f"error: {exc.message} ({exc.code})", err=True)
    return typer.Exit(1)


def rotate_keys_command(
    connector: ConnectorFile,
    signing: Annotated[bool, typer.Option("--signing/--no-signing", help="Replace the signing key.")] = True,
    encryption: Annotated[
        bool, typer.Option("--encryption/--no-encryption", help="Replace the encryption key.")
    ] = True,
    revoke_old: Annotated[
        bool, typer.Option("--revoke-old", help="The old keys are compromised: revoke them at once, no overlap.")
    ] = False,
    no_passphrase: Annotated[
        bool, typer.Option("--no-passphrase", help="Allow unencrypted key files (demo only).")
    ] = False,
) -> None:
    """Make new keys, announce them to the hub with the current key, then swap the key files."""
    uses = tuple(u for u, wanted in ((KeyUse.SIGNING, signing), (KeyUse.ENCRYPTION, encryption)) if wanted)
    if not uses:
        typer.echo("nothing to rotate: --no-signing and --no-encryption", err=True)
        raise typer.Exit(1)
    try:
        config = load_config_file(connector)
        done = asyncio.run(rotate_keys(config, uses=uses, allow_unencrypted=no_passphrase, revoke_old=revoke_old))
    except RevocationIncomplete as exc:
        _say_rotated(exc.rotated, failed={key_id for key_id, _ in exc.unrevoked})
        typer.echo(f"error: {exc.message} ({exc.code}):", err=True)
        for command in revoke_commands(exc.unrevoked, connector):
            typer.echo(f"  {command}", err=True)
        raise typer.Exit(1) from None
    except OneDoorError as exc:
        raise _fail(exc) from None
    _say_rotated(done, failed=set())


def _say_rotated(done: list[Rotated], *, failed: set[KeyId]) -> None:
    for r in done:
        if r.old in failed:
            until = "NOT revoked"
        elif r.old_not_after is None:
            until = "revoked now"
        else:
            until = f"accepted until {r.old_not_after:%Y-%m-%d %H:%M} UTC"
        typer.echo(f"{r.use.value}: {r.old} -> {r.new} (old key {until})")


def revoke_key_command(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key to revoke (k1_...).")],
    connector: ConnectorFile,
) -> None:
    """Revoke one of the agency's keys at once (a compromised key); not the current signing key."""
    try:
        config = load_config_file(connector)
        answer = asyncio.run(revoke_key(config, KeyId(key_id)))
    except OneDoorError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked {answer.get('key_id')} ({answer.get('use')}): the hub and every recipient refuse it now")
