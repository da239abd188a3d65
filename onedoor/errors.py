"""Errors as data: a small hierarchy with stable codes.

Every error OneDoor raises on purpose carries a ``code`` that never changes once published
(clients and dashboards key on it), a ``category``, whether a retry may help, and the HTTP
status an API renders it with. Domain code imports nothing from HTTP.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Category(StrEnum):
    """What kind of failure this is, for whoever has to act on it."""

    VALIDATION = "validation"
    BUSINESS = "business"
    SECURITY = "security"
    SYSTEM = "system"


class OneDoorError(Exception):
    """Base of every deliberate OneDoor error."""

    category: ClassVar[Category] = Category.SYSTEM
    retriable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ValidationFailed(OneDoorError):
    """Input that is malformed or out of range."""

    category = Category.VALIDATION
    http_status = 422


class NotFound(OneDoorError):
    """A named thing does not exist (or the caller may not know that it does)."""

    category = Category.BUSINESS
    http_status = 404


class Conflict(OneDoorError):
    """The request clashes with the current state (duplicate, incompatible version)."""

    category = Category.BUSINESS
    http_status = 409


class Forbidden(OneDoorError):
    """The caller may not do this."""

    category = Category.SECURITY
    http_status = 403


class Unavailable(OneDoorError):
    """A dependency (broker, database) cannot be reached right now."""

    category = Category.SYSTEM
    retriable = True
    http_status = 503


class Unauthenticated(OneDoorError):
    """The caller sent no usable credentials (HTTP 401)."""

    category = Category.SECURITY
    http_status = 401
