"""``MatchingKey``: the federation's secret for identity tokens, held by connectors and never by the hub."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from onedoor.envelope.keys import create_private_file
from onedoor.errors import ValidationFailed

MIN_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class MatchingKey:
    """At least 32 secret bytes keying HMAC-SHA256; every connector in the federation holds the same one."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValidationFailed("identity.weak_key", f"a matching key needs at least {MIN_KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return "MatchingKey(<secret>)"

    @classmethod
    def generate(cls) -> MatchingKey:
        """A fresh random 32-byte key."""
        return cls(secrets.token_bytes(MIN_KEY_BYTES))

    def save(self, path: Path) -> None:
        """Write the key (base64url, one line) to a new file readable only by the owner (0600).

        Raises:
            FileExistsError: if ``path`` exists; a key is never overwritten.
        """
        create_private_file(path, base64.urlsafe_b64encode(self.secret) + b"\n")

    @classmethod
    def load(cls, path: Path) -> MatchingKey:
        """Read a key written by ``save``; refuses a file others can read or write.

        Raises:
            ValidationFailed: ``identity.key_file`` when the file is open to others or is not a key.
        """
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            raise ValidationFailed("identity.key_file", f"the matching key file must be mode 0600, not {mode:04o}")
        try:
            secret = base64.urlsafe_b64decode(path.read_bytes().strip())
        except ValueError:
            raise ValidationFailed("identity.key_file", "the matching key file does not hold a base64url key") from None
        return cls(secret)
