"""Webhook signatures: how the connector signs what it POSTs, and how an agency checks it.

The connector sends every webhook request with::

    OneDoor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<message id>.<raw body>")>
    OneDoor-Message-Id: <message id>

An agency's receiver checks the signature over the message id header and the **raw** request
body (before parsing the JSON) with ``verify_signature``, refuses a timestamp older than the
tolerance (a replayed request), and deduplicates on ``OneDoor-Message-Id`` (a retried delivery
carries the same id). The message id is signed, so a replay with another id does not verify.
The header may hold several ``v1=`` values while a secret is being rotated; one match is enough.

The shared secret lives in a file only its owner may read (mode 0600), at least 32 bytes;
``create_secret_file`` writes one. Nothing here logs the secret or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Final

from onedoor.errors import Unauthenticated, ValidationFailed

SIGNATURE_HEADER: Final = "OneDoor-Signature"
MESSAGE_ID_HEADER: Final = "OneDoor-Message-Id"
SCHEME: Final = "v1"
DEFAULT_TOLERANCE_S: Final = 300
MIN_SECRET_BYTES: Final = 32

MALFORMED: Final = "webhook.signature_malformed"
MISMATCH: Final = "webhook.signature_mismatch"
EXPIRED: Final = "webhook.signature_expired"
SECRET_FILE: Final = "adapter.webhook.secret_file"  # noqa: S105 - an error code, not a secret

_HEX: Final = re.compile(r"[0-9a-f]{1,128}")
# A message id is a UUID; no dot, so "<t>.<message id>.<body>" splits only one way.
_MESSAGE_ID: Final = re.compile(r"[0-9A-Za-z_-]{1,128}")


class SignatureInvalid(Unauthenticated):
    """A webhook request whose signature does not check out: refuse it (HTTP 401)."""


def signature(secret: bytes, body: bytes, timestamp: int, message_id: str) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<message id>.<body>`` under ``secret``.

    Raises:
        ValueError: ``message_id`` is not made of letters, digits, ``-`` and ``_``.
    """
    if _MESSAGE_ID.fullmatch(message_id) is None:
        raise ValueError("a message id to sign must be letters, digits, '-' and '_' only")
    signed = f"{timestamp}.{message_id}.".encode() + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, message_id: str, *, timestamp: int | None = None) -> str:
    """The ``OneDoor-Signature`` header value for ``body`` sent as ``message_id``, timestamped now by default."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},{SCHEME}={signature(secret, body, moment, message_id)}"


def verify_signature(
    secret: bytes | str,
    header: str | None,
    body: bytes,
    message_id: str | None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> int:
    """Check a webhook request's ``OneDoor-Signature`` header against its message id and raw body.

    Args:
        secret: the shared secret (the file's bytes, or its text).
        header: the ``OneDoor-Signature`` header value as received.
        body: the raw request body, exactly as received.
        message_id: the ``OneDoor-Message-Id`` header value as received (it is signed too, so
            deduplicating on it is safe once this returns).
        tolerance_s: the oldest (or furthest in the future) timestamp accepted, in seconds.
        now: the current time (for tests); default the clock.

    Returns:
        The signed timestamp (unix seconds).

    Raises:
        SignatureInvalid: ``webhook.signature_malformed`` (no header, not ``t=...,v1=<hex>``, or
            no well-formed ``OneDoor-Message-Id``), ``webhook.signature_expired`` (timestamp outside
            the tolerance: a replay, or a wrong clock), ``webhook.signature_mismatch`` (wrong
            secret, or the body or the message id was changed).
    """
    key = secret.encode() if isinstance(secret, str) else secret
    timestamp, candidates = _parse(header)
    if not message_id or _MESSAGE_ID.fullmatch(message_id) is None:
        raise SignatureInvalid(MALFORMED, f"no well-formed {MESSAGE_ID_HEADER} header")
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance_s:
        raise SignatureInvalid(EXPIRED, f"the signature's timestamp is more than {tolerance_s:g}s from now")
    expected = signature(key, body, timestamp, message_id)
    # Compare with every candidate in constant time: no early exit says which one nearly matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise SignatureInvalid(MISMATCH, "the signature does not match the body under the shared secret")
    return timestamp


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureInvalid(MALFORMED, f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureInvalid(MALFORMED, f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            candidate = value.strip().lower()
            # Only hex: anything else (non-ASCII included) would make compare_digest raise.
            if not candidate.isascii() or _HEX.fullmatch(candidate) is None:
                raise SignatureInvalid(MALFORMED, f"{SIGNATURE_HEADER}'s {SCHEME} value must be hexadecimal")
            candidates.append(candidate)
    if timestamp is None or not candidates:
        raise SignatureInvalid(MALFORMED, f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>")
    return timestamp, candidates


def load_secret(path: Path, *, adapter: str = "webhook") -> bytes:
    """The shared secret from ``path``, which must be owner-only (0600) and hold at least 32 bytes.

    Surrounding whitespace (a trailing newline) is not part of the secret.

    Raises:
        ValidationFailed: ``adapter.webhook.secret_file`` naming the adapter and what is wrong.
    """
    try:
        info = path.stat()
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ValidationFailed(
            SECRET_FILE, f"adapter {adapter}: cannot read the secret file {path} ({exc.strerror})"
        ) from None
    if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
        raise ValidationFailed(
            SECRET_FILE, f"adapter {adapter}: the secret file {path} must be readable by its owner only (chmod 600)"
        )
    if len(data) < MIN_SECRET_BYTES:
        raise ValidationFailed(
            SECRET_FILE, f"adapter {adapter}: the secret in {path} is shorter than {MIN_SECRET_BYTES} bytes"
        )
    return data


def create_secret_file(path: Path) -> bytes:
    """Write a new random secret (64 hex characters) to ``path`` with mode 0600; refuse to overwrite one.

    Raises:
        FileExistsError: ``path`` exists already.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secret + b"\n")
    return secret
