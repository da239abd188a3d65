"""Probe answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    """The process is up and serving HTTP."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """The hub can do its work: its database answers."""

    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"
