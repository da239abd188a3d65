"""The processing purposes agreements may name, each with what it means.

An agreement naming a purpose outside this catalogue is refused (``purpose.unknown``). A hub
may extend it (``AgreementIndex.build(..., purposes=...)``); the codes are stable once used.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from onedoor.ids import Purpose

PURPOSES: Final[Mapping[Purpose, str]] = MappingProxyType(
    {
        Purpose("safeguarding-referral"): "Refer a young person at risk to triage or to a service (One Front Door).",
        Purpose("safeguarding-alert"): (
            "Tell the professional network at once about a missing episode, a find out of area, an arrest or a "
            "change in risk."
        ),
        Purpose("case-coordination"): "Keep the professional network working with a young person up to date.",
        Purpose("status-check"): "Ask who else is working with a young person, and answer with a status, not the file.",
        Purpose("strategy-discussion"): "Prepare for or hold a strategy discussion (Children Act 1989 s.47).",
        Purpose("return-home-interview"): "Arrange or report a return home interview after a missing episode.",
        Purpose("nrm-referral"): "Refer a possible child victim of modern slavery to the National Referral Mechanism.",
        Purpose("intelligence-sharing"): "Share what is known with the local authority without asking for a service.",
        Purpose("victim-identification"): "Ask whether a young person is a known victim; answer with status flags.",
    }
)
