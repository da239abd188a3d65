"""The roles a hub API token can carry."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token's holder may do; a token carries one or more in its ``roles`` claim."""

    HUB_OPERATOR = "hub-operator"
    """Runs the hub: registers and suspends agencies, manages every agency's keys, registers contracts."""
    AGENCY_ADMIN = "agency-admin"
    """Administers one agency (the token's ``agency`` claim): rotates and revokes that agency's keys."""
    AUDITOR = "auditor"
    """Reviews what the hub decided; changes nothing."""
    OPS_VIEWER = "ops-viewer"
    """Watches the hub's health; changes nothing."""


AGENCY_SCOPED = frozenset({Role.AGENCY_ADMIN})
"""Roles that act only on the agency named in the token."""
