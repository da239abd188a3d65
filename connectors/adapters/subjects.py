"""Which contracts are about a child, and checking the subject token an adapter puts in the header.

The hub applies the consent recorded for a young person (refused, withdrawn) by the envelope
header's subject token: a message about a child sent without one is decided as if no consent
were recorded. So an adapter sending a contract about a child must fill the header's token
(a column of the row, or the body's own ``subject_token`` field) or refuse to send.
"""

from __future__ import annotations

from typing import Any, Final

from onedoor.ids import SubjectToken

ABOUT_A_CHILD: Final = frozenset(
    {
        "onedoor.referral.MasterReferral",
        "onedoor.alert.Alert",
        "onedoor.transfer.HandoverPack",
        "onedoor.transfer.TransferCompleted",
    }
)
"""Contracts whose messages concern one young person: their envelopes must carry a subject token."""

BODY_FIELD: Final = "subject_token"
"""The top-level body field some of those contracts carry the token in (Alert, the transfer messages)."""


def about_a_child(contract: str) -> bool:
    """Whether ``contract``'s messages concern one young person (the header needs their token)."""
    return contract in ABOUT_A_CHILD


def token_or_none(value: Any) -> str | None:
    """``value`` as a subject token (surrounding blanks dropped); ``None`` when empty.

    Raises:
        ValueError: a value that is not an ``st1_`` subject token (the message never quotes it).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if SubjectToken.pattern.fullmatch(text) is None:
        raise ValueError("not an st1_ subject token")
    return text
