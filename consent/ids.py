"""Identifiers the consent engine uses for agreements and named groups of agencies.

They live with every other identifier in ``onedoor.ids``; re-exported here for the engine.
"""

from onedoor.ids import AgreementId, GroupName

__all__ = ["AgreementId", "GroupName"]
