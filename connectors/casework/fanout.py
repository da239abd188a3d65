"""Send one message to many agencies, each under its own agreement and field set; report who was left out.

``Connector.seal`` seals one envelope per (agreement, field set); with ``skipped`` it leaves out
a recipient the policy denies instead of refusing the message. A recipient that is not an
active agency in the connector's directory is left out too. The report says, per recipient,
which fields it was sent, or why it was skipped (reason codes and the engine's sentences).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.connector import Connector
from consent.decide import Decision
from onedoor.envelope.header import Header
from onedoor.envelope.reasons import EnvelopeRejected
from onedoor.ids import AgencyId, ContractName, CorrelationId, Purpose, SubjectToken


@dataclass(frozen=True, slots=True)
class Skipped:
    """A recipient left out, and why."""

    codes: tuple[str, ...]
    """Stable reason codes, e.g. ``agreement.none_applies`` or ``recipient.unknown``."""
    why: str
    """A sentence for a person."""


@dataclass(frozen=True, slots=True)
class FanOut:
    """What a fan-out sent, and to whom not."""

    headers: list[Header] = field(default_factory=list)
    """One per envelope sent."""
    sent: dict[AgencyId, frozenset[str]] = field(default_factory=dict)
    """Each recipient sent to, with the field paths its envelope held."""
    skipped: dict[AgencyId, Skipped] = field(default_factory=dict)
    """Each recipient left out, with why."""


def _why(decision: Decision) -> Skipped:
    return Skipped(decision.codes, " ".join(r.sentence for r in decision.reasons) or "not permitted")


async def fan_out(
    connector: Connector,
    *,
    contract: ContractName,
    version: int,
    recipients: Sequence[AgencyId],
    purpose: Purpose,
    body: Mapping[str, Any],
    subject_token: SubjectToken | None = None,
    correlation_id: CorrelationId | None = None,
) -> FanOut:
    """Seal for every recipient the policy permits, each with its own fields; publish them all at once."""
    report = FanOut()
    reachable = []
    for recipient in dict.fromkeys(recipients):
        try:
            connector.directory.recipient(recipient)
        except EnvelopeRejected as exc:
            report.skipped[recipient] = Skipped((exc.code,), exc.message)
            continue
        reachable.append(recipient)
    denied: dict[AgencyId, Decision] = {}
    sealed = (
        connector.seal(
            contract=contract,
            version=version,
            recipients=reachable,
            purpose=purpose,
            body=body,
            subject_token=subject_token,
            correlation_id=correlation_id,
            skipped=denied,
        )
        if reachable
        else []
    )
    report.skipped.update({r: _why(d) for r, d in denied.items()})
    await connector.publish_all(sealed)
    for item in sealed:
        report.headers.append(item.header)
        report.sent.update(dict.fromkeys(item.header.recipients, item.fields))
    return report
