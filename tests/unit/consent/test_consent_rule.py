"""The consent rule on its own: each consent state, under each kind of lawful basis, with a sentence why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from consent import MAX_OVERRIDE, ConsentState, EmergencyOverride, judge_consent
from onedoor.errors import ValidationFailed
from tests.unit.consent.world import NOW, ms

RECORDED = NOW - timedelta(days=2)


def override(start: datetime, length: timedelta = timedelta(hours=24)) -> EmergencyOverride:
    return EmergencyOverride(
        justification="Synthetic: sharing needed before the strategy discussion.",
        recorded_by="fake-duty-worker",
        reviewed_by="fake-safeguarding-lead",
        starts_at=start,
        expires_at=start + length,
    )


CURRENT = override(NOW - timedelta(hours=1))
NOT_SOUGHT = ConsentState.not_sought_risk(RECORDED, justification="Synthetic: parent implicated.", recorded_by="dsl")


@dataclass(frozen=True)
class Case:
    id: str
    rests_on_consent: bool
    state: ConsentState
    permits: bool
    codes: tuple[str, ...]
    why: str


CASES = [
    Case("safeguarding/given", False, ConsentState.given(RECORDED), True, ("consent.given",), "Consent given permits."),
    Case(
        "safeguarding/not-recorded", False, ConsentState.not_recorded(), True, ("consent.not_recorded",),
        "Public task does not depend on consent; the note asks for it to be recorded.",
    ),
    Case(
        "safeguarding/not-sought-risk", False, NOT_SOUGHT, True, ("consent.not_sought_risk",),
        "DPA 2018 Sch. 1 para 18(2)(c): obtaining consent would prejudice the child's protection.",
    ),
    Case(
        "safeguarding/refused", False, ConsentState.refused(RECORDED), False, ("consent.refused",),
        "A refusal is respected unless an override is recorded.",
    ),
    Case(
        "safeguarding/withdrawn", False, ConsentState.withdrawn(RECORDED), False, ("consent.withdrawn",),
        "A withdrawal is respected unless an override is recorded.",
    ),
    Case(
        "safeguarding/refused-overridden", False, ConsentState.refused(RECORDED).with_override(CURRENT), True,
        ("consent.overridden",), "A reviewed override in force permits sharing despite the refusal.",
    ),
    Case(
        "safeguarding/withdrawn-overridden", False, ConsentState.withdrawn(RECORDED).with_override(CURRENT), True,
        ("consent.overridden",), "The same holds after a withdrawal.",
    ),
    Case(
        "safeguarding/override-expired", False,
        ConsentState.refused(RECORDED).with_override(override(NOW - timedelta(hours=30))), False,
        ("consent.refused", "override.expired"), "After 24 hours this override has lapsed.",
    ),
    Case(
        "safeguarding/override-not-started", False,
        ConsentState.refused(RECORDED).with_override(override(NOW + timedelta(hours=1))), False,
        ("consent.refused", "override.not_yet_valid"), "An override only counts from its start.",
    ),
    Case(
        "safeguarding/override-before-withdrawal", False,
        ConsentState.withdrawn(NOW - timedelta(minutes=10)).with_override(CURRENT), False,
        ("consent.withdrawn", "override.superseded"),
        "The young person withdrew after the override was made: the override did not weigh the withdrawal.",
    ),
    Case(
        "safeguarding/override-on-not-recorded", False, ConsentState.not_recorded().with_override(CURRENT), True,
        ("consent.not_recorded",), "Without a refusal there is nothing to override: the basis permits anyway.",
    ),
    Case(
        "consent-basis/given", True, ConsentState.given(RECORDED), True, ("consent.given",),
        "Under a consent basis, consent given is what permits.",
    ),
    Case(
        "consent-basis/not-recorded", True, ConsentState.not_recorded(), False, ("consent.required",),
        "Under a consent basis, no consent means no sharing.",
    ),
    Case(
        "consent-basis/not-sought", True, NOT_SOUGHT, False, ("consent.required",),
        "'Not sought' is not consent; an agreement resting on consent cannot use it.",
    ),
    Case(
        "consent-basis/refused", True, ConsentState.refused(RECORDED), False, ("consent.refused",),
        "Refused consent under a consent basis stops sharing.",
    ),
    Case(
        "consent-basis/withdrawn-overridden", True, ConsentState.withdrawn(RECORDED).with_override(CURRENT), False,
        ("consent.withdrawn", "override.not_applicable"),
        "UK GDPR Art. 7(3): withdrawal ends consent-based processing; an override needs a safeguarding basis.",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_consent_rule(case: Case) -> None:
    permits, codes = judge_consent(case.rests_on_consent, case.state, ms(NOW))
    assert permits is case.permits
    assert tuple(c.value for c in codes) == case.codes


def test_judgements_are_shared_constants() -> None:
    """Decisions are cached per judgement, so the same inputs must give the very same object."""
    state = ConsentState.refused(RECORDED).with_override(CURRENT)
    assert judge_consent(False, state, ms(NOW)) is judge_consent(False, state, ms(NOW) + 1)


def test_override_boundaries_are_start_inclusive_end_exclusive() -> None:
    state = ConsentState.refused(RECORDED).with_override(CURRENT)
    assert judge_consent(False, state, CURRENT.starts_ms)[0]
    assert judge_consent(False, state, CURRENT.expires_ms - 1)[0]
    assert not judge_consent(False, state, CURRENT.expires_ms)[0]


BAD = [
    pytest.param(lambda: ConsentState(ConsentState.given(NOW).status), id="given-without-time"),
    pytest.param(
        lambda: ConsentState.not_sought_risk(NOW, justification=" ", recorded_by="dsl"),
        id="not-sought-no-justification",
    ),
    pytest.param(
        lambda: ConsentState.not_sought_risk(NOW, justification="Synthetic.", recorded_by=""),
        id="not-sought-no-recorder",
    ),
]


@pytest.mark.parametrize("make", BAD)
def test_incomplete_consent_records_are_refused(make: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make()  # type: ignore[operator]
    assert caught.value.code == "consent.invalid_record"


BAD_OVERRIDES = [
    pytest.param({"reviewed_by": "fake-duty-worker"}, id="reviewer-is-recorder"),
    pytest.param({"reviewed_by": " FAKE-duty-worker "}, id="reviewer-is-recorder-other-case"),
    pytest.param({"reviewed_by": ""}, id="no-reviewer"),
    pytest.param({"justification": ""}, id="no-justification"),
    pytest.param({"expires_at": NOW}, id="ends-when-it-starts"),
    pytest.param({"expires_at": NOW + MAX_OVERRIDE + timedelta(seconds=1)}, id="longer-than-allowed"),
]


@pytest.mark.parametrize("change", BAD_OVERRIDES)
def test_overrides_need_a_second_person_and_a_time_box(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "justification": "Synthetic.",
        "recorded_by": "fake-duty-worker",
        "reviewed_by": "fake-team-manager",
        "starts_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
    }
    with pytest.raises(ValidationFailed) as caught:
        EmergencyOverride(**{**fields, **change})  # type: ignore[arg-type]
    assert caught.value.code == "consent.invalid_override"


def test_an_override_of_exactly_the_maximum_is_allowed() -> None:
    assert override(NOW, MAX_OVERRIDE).expires_ms - override(NOW, MAX_OVERRIDE).starts_ms == MAX_OVERRIDE // timedelta(
        milliseconds=1
    )
