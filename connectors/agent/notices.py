"""Owner notifications: "your record X was checked by Y for Z at T", kept for the connector's API.

The ``StatusResponder`` calls ``on_checked`` once per disclosed record; the ``NoticeBoard`` keeps
the most recent notices in memory (``GET /notifications``) and logs one line for each, with
the record reference and agency ids only. The ``DisclosureLog`` is the durable record.
"""

from __future__ import annotations

from collections import deque

from connectors.status import CheckNotice
from onedoor.logging import get_logger

log = get_logger(__name__)


def describe(notice: CheckNotice) -> str:
    """The notice as the owning agency reads it."""
    at = notice.at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"record {notice.record_ref} was checked by {notice.requester} for {notice.purpose} at {at}"


class NoticeBoard:
    """The last ``kept`` owner notices, newest first; ``notify`` is the responder's ``on_checked``."""

    def __init__(self, kept: int = 1000) -> None:
        self._notices: deque[CheckNotice] = deque(maxlen=kept)

    async def notify(self, notice: CheckNotice) -> None:
        """Keep ``notice`` and log it (ids only)."""
        self._notices.append(notice)
        log.info(
            "status.record_checked",
            record_ref=notice.record_ref,
            requester=notice.requester,
            purpose=notice.purpose,
            message_id=notice.message_id,
            fields=len(notice.fields),
        )

    def recent(self, limit: int | None = None) -> list[CheckNotice]:
        """The newest ``limit`` notices (all kept when ``None``), newest first."""
        newest = list(reversed(self._notices))
        return newest if limit is None else newest[:limit]

    def __len__(self) -> int:
        return len(self._notices)
