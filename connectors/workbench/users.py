"""The agency's own staff: accounts, roles and password checks (scrypt, per-user salt).

Passwords are never stored or logged; ``hash_password`` writes
``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``. Checking an unknown user costs the same as
checking a known one, so timing does not reveal which usernames exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from connectors.workbench.audit import ACCOUNT_DISABLED, UNKNOWN_USER, WRONG_PASSWORD
from connectors.workbench.store import WorkbenchStore
from onedoor.errors import ValidationFailed

MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 256
_N, _R, _P = 2**14, 8, 1
_USERNAME: Final = re.compile(r"[a-z0-9][a-z0-9._@-]{1,62}[a-z0-9]")


class Role(StrEnum):
    """What a member of staff may do in the workbench."""

    TRIAGE_OFFICER = "triage-officer"
    """Reads referrals and records triage decisions."""
    CASE_WORKER = "case-worker"
    """Reads referrals and alerts and acts on those routed to the agency."""
    VIEWER = "viewer"
    """Reads only: may never decide."""
    AUDITOR = "auditor"
    """Reads, and reads the audit trail (``/workbench/audit``): may never decide."""

    @property
    def can_decide(self) -> bool:
        """Whether this role may record a decision."""
        return self in (Role.TRIAGE_OFFICER, Role.CASE_WORKER)

    @property
    def can_audit(self) -> bool:
        """Whether this role may read the audit trail."""
        return self is Role.AUDITOR


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in a self-describing text form."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        found = hashlib.scrypt(
            password.encode()[: MAX_PASSWORD * 4],
            salt=base64.urlsafe_b64decode(salt + "=="),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_DUMMY: Final = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A signed-in member of staff."""

    username: str
    role: Role


@dataclass(frozen=True, slots=True)
class SignInCheck:
    """What a password check found, for the audit trail (the person is told only "incorrect")."""

    member: StaffMember | None
    """The member of staff, when the sign-in is good."""
    actor: str | None
    """The account's username when it exists (even if the check failed), else ``None``."""
    reason_code: str | None
    """``workbench.unknown_user``, ``workbench.wrong_password`` or ``workbench.account_disabled``."""


class Staff:
    """Staff accounts in the workbench store."""

    def __init__(self, store: WorkbenchStore) -> None:
        self._store = store

    def add(self, username: str, role: str, password: str) -> StaffMember:
        """Create an account.

        Raises:
            ValidationFailed: ``workbench.invalid_username``, ``workbench.invalid_role``, ``workbench.weak_password``.
            Conflict: ``workbench.user_exists``.
        """
        name = username.strip().lower()
        if not _USERNAME.fullmatch(name):
            raise ValidationFailed(
                "workbench.invalid_username", "a username is 3-64 lower-case letters, digits, '.', '_', '@' or '-'"
            )
        try:
            chosen = Role(role)
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise ValidationFailed("workbench.invalid_role", f"the role must be one of {roles}") from None
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ValidationFailed(
                "workbench.weak_password", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"
            )
        self._store.add_user(name, chosen.value, hash_password(password))
        return StaffMember(name, chosen)

    def authenticate(self, username: str, password: str) -> StaffMember | None:
        """The member of staff if the password is right and the account is enabled, else ``None``."""
        return self.check(username, password).member

    def check(self, username: str, password: str) -> SignInCheck:
        """Check a sign-in, saying why it failed (for the audit trail only)."""
        user = self._store.user(username.strip().lower())
        if user is None:
            verify_password(password, _DUMMY)  # the same cost as a real check
            return SignInCheck(None, None, UNKNOWN_USER)
        if not verify_password(password, user.password_hash):
            return SignInCheck(None, user.username, WRONG_PASSWORD)
        if user.disabled:
            return SignInCheck(None, user.username, ACCOUNT_DISABLED)
        return SignInCheck(StaffMember(user.username, Role(user.role)), user.username, None)

    def known(self, username: str) -> str | None:
        """``username`` if such an account exists (so the audit trail names accounts, never typed text)."""
        name = username.strip().lower()
        return name if name and self._store.user(name) is not None else None

    def get(self, username: str) -> StaffMember | None:
        """An enabled account by name."""
        user = self._store.user(username)
        return None if user is None or user.disabled else StaffMember(user.username, Role(user.role))
