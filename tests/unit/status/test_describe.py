"""What an officer reads: ``StatusAnswer.describe``, one reference case per situation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from connectors.status import LeadProfessional, NrmStage, ReportedMatch, StatusAnswer, StatusFlag
from onedoor.ids import AgencyId

LB_X = AgencyId("lb-x-csc")
LB_Y = AgencyId("lb-y-csc")
CHARITY = AgencyId("fake-youth-charity")
SLOW = AgencyId("fake-slow-agency")

FULL = ReportedMatch(
    agency=LB_X,
    record_reference="fake-rec-0001",
    confidence=0.97,
    agreed=("given name", "family name", "date of birth"),
    flags=(StatusFlag.SUSPECTED_EXPLOITATION_VICTIM, StatusFlag.CHILD_PROTECTION_PLAN),
    nrm_stage=NrmStage.REASONABLE_GROUNDS_POSITIVE,
    missing_episodes_last_90_days=3,
    case_open=True,
    lead_professional=LeadProfessional(
        "allocated social worker", "Testborough adolescent safeguarding team", "01632 960123", "duty@example.org"
    ),
)
WITHHELD = ReportedMatch(
    agency=CHARITY, record_reference="fake-rec-0002", confidence=0.84, agreed=("given name (as a variant)",)
)


@dataclass(frozen=True)
class Case:
    name: str
    answer: StatusAnswer
    text: str


CASES = [
    Case(
        "known-victim-and-a-silent-agency",
        StatusAnswer((FULL,), (SLOW,), (CHARITY, LB_X, SLOW), 412.0),
        "Known to lb-x-csc: suspected exploitation victim; child protection plan; NRM reasonable grounds; "
        "missing 3 times in the last 90 days; open case; lead professional allocated social worker, Testborough "
        "adolescent safeguarding team, 01632 960123, duty@example.org; record fake-rec-0001; confidence 0.97 "
        "(given name, family name, date of birth).\n"
        "No record at the other agency that answered.\n"
        "Not answered in time: fake-slow-agency.",
    ),
    Case(
        "status-withheld",
        StatusAnswer((WITHHELD,), (), (CHARITY,), 30.0),
        "Known to fake-youth-charity: status withheld under the sharing agreement; record fake-rec-0002; "
        "confidence 0.84 (given name (as a variant)).",
    ),
    Case(
        "no-record",
        StatusAnswer((), (), (CHARITY, LB_X, LB_Y), 25.0),
        "No record found at the 3 agencies asked.",
    ),
    Case(
        "no-record-some-silent",
        StatusAnswer((), (SLOW,), (LB_X, SLOW), 2001.0),
        "No record found at the 1 agency that answered (2 asked).\nNot answered in time: fake-slow-agency.",
    ),
    Case(
        "nobody-to-ask",
        StatusAnswer((), (), (), 0.1),
        "No agency was asked: no sharing agreement lets any agency answer a victim-identification check from "
        "this agency.",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_describe(case: Case) -> None:
    assert case.answer.describe() == case.text


def test_answered_and_found() -> None:
    answer = CASES[0].answer
    assert answer.answered == (CHARITY, LB_X)
    assert answer.found
    assert not CASES[2].answer.found
