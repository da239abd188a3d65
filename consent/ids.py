"""Identifiers the consent engine adds: agreements and named groups of agencies.

Same contract as ``onedoor.ids``: a ``str`` subclass that can only be made through its
pattern, so a bare string never passes for an agreement id or a group by accident.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from onedoor.errors import ValidationFailed


class _Slug(str):
    """A string that has passed its type's pattern."""

    __slots__ = ()
    pattern: ClassVar[re.Pattern[str]] = re.compile(r"[a-z][a-z0-9-]{1,62}[a-z0-9]")
    kind: ClassVar[str]

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or not cls.pattern.fullmatch(value):
            raise ValidationFailed(f"{cls.kind}.invalid", f"not a valid {cls.kind}: {value!r:.80}")
        return super().__new__(cls, value)

    @classmethod
    def parse(cls, value: str) -> Self:
        """Validate ``value`` and return it as this identifier type."""
        return cls(value)


class AgreementId(_Slug):
    """An information-sharing agreement's stable slug, e.g. ``isa-met-hackney-county-lines``."""

    __slots__ = ()
    kind = "agreement_id"


class GroupName(_Slug):
    """A named group of agencies that can be a party or an actor, e.g. ``london-boroughs``."""

    __slots__ = ()
    kind = "group"
