"""In-memory stand-ins for a running connector: a checker that answers at once, a backend, a config.

All data is obviously fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.agent.config import ConnectorConfig
from connectors.agent.notices import NoticeBoard
from connectors.identity import Identifiers
from connectors.status import (
    VICTIM_IDENTIFICATION,
    CheckNotice,
    DisclosureLog,
    LeadProfessional,
    NrmStage,
    ReportedMatch,
    StatusAnswer,
    StatusFlag,
)
from onedoor.ids import AgencyId, MessageId

TOKEN = "fake-api-token-" + "x" * 32
POLICE = AgencyId("test-county-police")
COUNCIL = AgencyId("lb-testborough-csc")
CHARITY = AgencyId("fake-youth-charity")
SILENT = AgencyId("lb-silentborough-csc")
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

VICTIM_MATCH = ReportedMatch(
    agency=COUNCIL,
    record_reference="fake-rec-victim-0001",
    confidence=0.97,
    agreed=("given name", "family name", "date of birth"),
    flags=(StatusFlag.SUSPECTED_EXPLOITATION_VICTIM,),
    nrm_stage=NrmStage.REASONABLE_GROUNDS_POSITIVE,
    missing_episodes_last_90_days=3,
    case_open=True,
    lead_professional=LeadProfessional(
        "allocated social worker", "Testborough adolescent safeguarding team", "01632 960123", None
    ),
)
FOUND = StatusAnswer((VICTIM_MATCH,), (SILENT,), (CHARITY, COUNCIL, SILENT), 412.34)
NOT_FOUND = StatusAnswer((), (), (CHARITY, COUNCIL), 38.0)


@dataclass
class FakeChecker:
    """Answers every check with ``answer``; remembers what it was asked."""

    answer: StatusAnswer = FOUND
    asked: list[tuple[Identifiers, float, float]] = field(default_factory=list)

    async def check(
        self, identifiers: Identifiers, *, soft_deadline_s: float = 2.0, hard_deadline_s: float = 10.0
    ) -> StatusAnswer:
        self.asked.append((identifiers, soft_deadline_s, hard_deadline_s))
        return self.answer


@dataclass
class FakeBackend:
    """What the API serves: a fake checker, a real in-memory disclosure log and notice board."""

    checker: FakeChecker = field(default_factory=FakeChecker)
    disclosures: DisclosureLog = field(default_factory=DisclosureLog)
    notices: NoticeBoard = field(default_factory=NoticeBoard)
    healthy: bool = True


def notice(record_ref: str = "fake-rec-victim-0001", *, at: datetime = AT) -> CheckNotice:
    """A notice that ``POLICE`` checked ``record_ref``."""
    return CheckNotice(
        record_ref, POLICE, VICTIM_IDENTIFICATION, at, MessageId.new(), 0.97, frozenset({"matches.record_reference"})
    )


def config(tmp_path: Path, **overrides: object) -> ConnectorConfig:
    """A config for ``COUNCIL`` with files under ``tmp_path`` (not created) and ``TOKEN``."""
    values: dict[str, object] = {
        "agency": COUNCIL,
        "keys_dir": tmp_path / "keys",
        "matching_key_path": tmp_path / "matching.key",
        "disclosure_log_path": tmp_path / "disclosures.sqlite",
        "api": {"token": TOKEN},
        "deadlines": {"soft_seconds": 1.5, "hard_seconds": 8},
    }
    values.update(overrides)
    return ConnectorConfig(**values)  # type: ignore[arg-type]
