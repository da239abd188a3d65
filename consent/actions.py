"""Which action a message of each contract is, for deciding it: the hub and every connector agree.

Most messages are ``send`` (push a referral, an alert, an acknowledgement). An answer to a
status check is ``query``: the answering agency is the sender, and agreements can let an agency
answer a status check with less than it would send unasked.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from consent.model import Action

ACTIONS: Final[Mapping[str, Action]] = MappingProxyType({"onedoor.status.StatusReply": Action.QUERY})
"""Contracts whose messages are not ``send``."""


def action_for(contract: str) -> Action:
    """The action a message of ``contract`` is."""
    return ACTIONS.get(contract, Action.SEND)
