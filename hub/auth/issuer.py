"""The development token issuer, and the keys the hub verifies tokens with.

In prod the hub only verifies: ``token_policy`` reads the issuer's public key (a PEM file or a
JWKS file) from ``ONEDOOR_AUTH__PUBLIC_KEY_PATH`` and refuses to start without it or without
``ONEDOOR_AUTH__ISSUER``. In dev and test, unless a key is configured, the hub trusts its
development issuer: an Ed25519 key kept 0600 at ``<home>/hub/issuer-key.pem``, which
``onedoor admin token`` and ``onedoor demo`` mint from. Prod never has a development issuer.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.auth import tokens
from hub.auth.keys import VerificationKey, keys_from_file_content, thumbprint
from hub.auth.roles import Role
from hub.auth.tokens import TokenPolicy
from onedoor.envelope.keys import create_private_file
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.logging import get_logger
from onedoor.settings import Settings

log = get_logger(__name__)

DEV_ISSUER: Final = "urn:onedoor:dev-issuer"
"""The ``iss`` of development tokens, used when ``ONEDOOR_AUTH__ISSUER`` is unset (never in prod)."""


def issuer_name(settings: Settings) -> str:
    """The ``iss`` tokens must carry."""
    return settings.auth.issuer or DEV_ISSUER


def load_or_create_issuer_key(path: Path) -> Ed25519PrivateKey:
    """The development issuer's key at ``path``, made (0600) on first use.

    Raises:
        ValidationFailed: ``settings.issuer_key_unsafe`` if the file is readable by others,
            ``settings.issuer_key_unusable`` if it does not hold an Ed25519 private key.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            create_private_file(path, pem)
        except FileExistsError:
            return load_or_create_issuer_key(path)  # another process made it first: use theirs
        log.info("hub.issuer_key", path=str(path), origin="generated")
        return key
    if stat.S_IMODE(mode) & 0o077:
        raise ValidationFailed("settings.issuer_key_unsafe", f"{path} is readable by others; chmod 600 it")
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), None)
    except (ValueError, TypeError):
        loaded = None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValidationFailed("settings.issuer_key_unusable", f"{path} does not hold an unencrypted Ed25519 key")
    return loaded


@dataclass(frozen=True, slots=True)
class DevIssuer:
    """Mints hub API tokens in dev and test, as an OIDC provider would in production."""

    key: Ed25519PrivateKey = field(repr=False)
    issuer: str
    audience: str
    default_ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> DevIssuer:
        """The development issuer of this home (its key is made on first use).

        Raises:
            ValidationFailed: ``auth.dev_issuer_refused`` in prod, or a key-file error.
        """
        if settings.env == "prod":
            raise ValidationFailed(
                "auth.dev_issuer_refused", "prod has no development issuer: tokens come from the configured issuer"
            )
        return cls(
            key=load_or_create_issuer_key(settings.issuer_key_path),
            issuer=issuer_name(settings),
            audience=settings.auth.audience,
            default_ttl=timedelta(seconds=settings.auth.token_ttl_seconds),
        )

    @property
    def verification_key(self) -> VerificationKey:
        """The public half, named by its thumbprint."""
        public = self.key.public_key()
        return VerificationKey.of(public, kid=thumbprint(public))

    def mint(
        self,
        *,
        subject: str,
        roles: Iterable[Role],
        agency: AgencyId | None = None,
        ttl: timedelta | None = None,
        now: datetime | None = None,
    ) -> str:
        """A token for ``subject`` with ``roles`` (see ``hub.auth.tokens.mint``)."""
        return tokens.mint(
            self.key,
            issuer=self.issuer,
            audience=self.audience,
            subject=subject,
            roles=roles,
            agency=agency,
            now=now if now is not None else datetime.now(UTC),
            ttl=ttl if ttl is not None else self.default_ttl,
        )


def read_verification_keys(path: Path) -> tuple[VerificationKey, ...]:
    """The public keys in ``path`` (PEM or JWKS).

    Raises:
        ValidationFailed: ``settings.auth_key_missing`` or ``settings.auth_key_unusable``.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed("settings.auth_key_missing", f"cannot read {path}: {exc.strerror}") from None
    try:
        return keys_from_file_content(data)
    except ValidationFailed as exc:
        raise ValidationFailed("settings.auth_key_unusable", f"{path}: {exc.message}") from None


def token_policy(settings: Settings) -> TokenPolicy:
    """What a token must satisfy for this hub; fails closed in prod without a key or an issuer.

    Raises:
        ValidationFailed: ``settings.auth_key_missing`` or ``settings.auth_issuer_missing`` in
            prod, ``settings.auth_key_unusable`` for a key file that does not load.
    """
    auth = settings.auth
    if settings.env == "prod" and auth.public_key_path is None:
        raise ValidationFailed(
            "settings.auth_key_missing",
            "prod needs ONEDOOR_AUTH__PUBLIC_KEY_PATH: the issuer's public key (PEM or JWKS)",
        )
    if settings.env == "prod" and auth.issuer is None:
        raise ValidationFailed("settings.auth_issuer_missing", "prod needs ONEDOOR_AUTH__ISSUER: the tokens' 'iss'")
    if auth.public_key_path is not None:
        keys = read_verification_keys(auth.public_key_path)
        log.info("hub.auth_keys", origin="configured", path=str(auth.public_key_path), keys=len(keys))
    else:
        keys = (DevIssuer.from_settings(settings).verification_key,)
        log.info("hub.auth_keys", origin="development issuer", path=str(settings.issuer_key_path), keys=1)
    return TokenPolicy(
        keys=keys,
        issuer=issuer_name(settings),
        audience=auth.audience,
        leeway=timedelta(seconds=auth.leeway_seconds),
    )
