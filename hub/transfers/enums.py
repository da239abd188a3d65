"""The closed vocabulary of a case transfer."""

from __future__ import annotations

from enum import StrEnum


class TransferStatus(StrEnum):
    """Where a transfer offer stands; ``accepted`` and ``withdrawn`` are final."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    WITHDRAWN = "withdrawn"
