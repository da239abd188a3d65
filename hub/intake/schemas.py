"""Pydantic in/out models of the intake API (the JSON side; the pages are in ``pages.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PublicKeyText = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{87}$",
        description="Raw uncompressed P-256 point (65 bytes, starting 0x04), unpadded base64url.",
    ),
]


class IntakeKeyIn(BaseModel):
    """Register (or replace) the calling triage agency's intake public key (the agency is the caller's)."""

    model_config = ConfigDict(extra="forbid")

    public_key: PublicKeyText


class IntakeKeyOut(BaseModel):
    """The triage desk's intake public key: what the form's browser code seals to."""

    agency: str
    key_id: str
    """``ik1_`` and 32 hex digits of SHA-256 over the raw point."""
    public_key: str
    """Raw uncompressed P-256 point, unpadded base64url."""


class ProgressIn(BaseModel):
    """A triage desk's report of how far a public referral got."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["being-handled", "closed"]


class ProgressOut(BaseModel):
    """A referral's status as the private progress link shows it."""

    reference: str
    status: str
    status_updated_at: datetime
