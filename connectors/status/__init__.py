"""The cross-area status check, connector side: "is this young person known to you, and how?".

The requester (``StatusChecker``) asks, with identity tokens only, the agencies whose
agreements let them answer it; each responder (``StatusResponder``) answers from its own
``StatusIndex`` and logs the disclosure (``DisclosureLog``). A ``Dispatcher`` lets both, and
the application's own handler, share one connector's inbox.
"""

from connectors.status.disclosures import Disclosure, DisclosureLog
from connectors.status.dispatch import Dispatcher
from connectors.status.index import StatusIndex, StatusRecord
from connectors.status.messages import (
    STATUS_CHECK,
    STATUS_REPLY,
    VICTIM_IDENTIFICATION,
    LeadProfessional,
    NrmStage,
    ReportedMatch,
    StatusFlag,
)
from connectors.status.requester import StatusAnswer, StatusChecker, choose_responders
from connectors.status.responder import CheckNotice, StatusResponder

__all__ = [
    "STATUS_CHECK",
    "STATUS_REPLY",
    "VICTIM_IDENTIFICATION",
    "CheckNotice",
    "Disclosure",
    "DisclosureLog",
    "Dispatcher",
    "LeadProfessional",
    "NrmStage",
    "ReportedMatch",
    "StatusAnswer",
    "StatusChecker",
    "StatusFlag",
    "StatusIndex",
    "StatusRecord",
    "StatusResponder",
    "choose_responders",
]
