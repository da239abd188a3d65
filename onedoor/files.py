"""Files that hold secrets or must never be seen half-written: one way to write them, one way to read a secret line.

``write_atomically`` writes a fresh, randomly named temporary file beside the target (``mkstemp``:
``O_EXCL``, so never a file or symlink planted there), syncs it, then renames it over the target:
a reader sees the old contents or the new, never part of either. ``read_secret_line`` reads the
first line of an owner-only (0600) file and refuses, in words and with the caller's code, a file
that cannot be read, is open to others or holds too short a secret; the message never holds it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from onedoor.errors import ValidationFailed


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``) in one rename."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_secret_line(path: Path, *, code: str, what: str, min_chars: int) -> str:
    """The secret on the first line of ``path`` (mode 0600), e.g. ``what="API token"``.

    Raises:
        ValidationFailed: ``code``, when the file cannot be read, is open to others or holds
            fewer than ``min_chars`` characters.
    """
    try:
        mode = os.stat(path).st_mode & 0o777
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValidationFailed(code, f"cannot read the {what} file {path}: {reason}") from None
    if mode & 0o077:
        raise ValidationFailed(code, f"the {what} file {path} must be mode 0600, not {mode:04o}")
    lines = text.strip().splitlines()
    secret = lines[0].strip() if lines else ""
    if len(secret) < min_chars:
        raise ValidationFailed(code, f"the {what} in {path} must have at least {min_chars} characters")
    return secret
