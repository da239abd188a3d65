"""The closed vocabulary of a child's professional network."""

from __future__ import annotations

from enum import StrEnum


class NetworkRole(StrEnum):
    """An agency's part in a child's network: one lead at most, any number of members."""

    LEAD = "lead"
    MEMBER = "member"
