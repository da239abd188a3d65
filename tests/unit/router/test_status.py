"""The status-check book on its own: replies, rate limits, enumeration alerts, bounded memory.

Pure: every call is given its time, so the cases are exact. Agencies and ids are fake.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hub.router.status import Admission, StatusBook, StatusLimits, StatusRefusal

POLICE, COUNCIL, CHARITY, OTHER = "test-county-police", "lb-testborough-csc", "fake-youth-charity", "lb-other-csc"
T0 = 1_800_000_000_000
LIMITS = StatusLimits(
    hard_deadline_ms=10_000,
    soft_deadline_ms=2_000,
    rate_per_s=5.0,
    burst=20,
    enumeration_threshold=5,
    enumeration_window_ms=60_000,
    late_grace_ms=60_000,
)
CHECK_ID = "00000000-0000-4000-8000-000000000001"


def _mid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _check(
    book: StatusBook,
    *,
    message_id: str = CHECK_ID,
    requester: str = POLICE,
    asked: tuple[str, ...] = (COUNCIL, CHARITY),
    correlation_id: str | None = None,
    created: int = T0,
    ttl: int = 60_000,
    now: int = T0,
) -> Admission | StatusRefusal:
    """Screen a check and, if admitted, record it as delivered."""
    outcome = book.screen_check(
        message_id=message_id,
        sender=requester,
        recipients=asked,
        correlation_id=message_id if correlation_id is None else correlation_id,
        created_at_ms=created,
        expires_at_ms=created + ttl,
        now_ms=now,
    )
    if isinstance(outcome, Admission):
        book.record(outcome, now)
    return outcome


def _reply(
    book: StatusBook,
    *,
    message_id: str = _mid(900),
    responder: str = COUNCIL,
    to: tuple[str, ...] = (POLICE,),
    correlation_id: str = CHECK_ID,
    at: int = T0 + 500,
) -> Admission | StatusRefusal:
    outcome = book.screen_reply(
        message_id=message_id,
        sender=responder,
        recipients=to,
        correlation_id=correlation_id,
        created_at_ms=at,
        expires_at_ms=at + 60_000,
        now_ms=at,
    )
    if isinstance(outcome, Admission):
        book.record(outcome, at)
    return outcome


def _code(outcome: Admission | StatusRefusal) -> str:
    return "admitted" if isinstance(outcome, Admission) else str(outcome.reason)


@dataclass(frozen=True)
class ReplyCase:
    sentence: str
    expected: str
    responder: str = COUNCIL
    to: tuple[str, ...] = (POLICE,)
    correlation_id: str = CHECK_ID
    at: int = T0 + 500
    answered_before: bool = False
    check_ttl: int = 60_000


REPLY_CASES = [
    ReplyCase("An asked agency answering the requester alone, in time, is delivered.", "admitted"),
    ReplyCase(
        "A reply between the soft and the hard deadline is still delivered (the requester may append it).",
        "admitted",
        at=T0 + 9_000,
    ),
    ReplyCase(
        "A reply to a check the hub never routed is unsolicited.",
        "status.reply_unsolicited",
        correlation_id=_mid(777),
    ),
    ReplyCase(
        "A reply from an agency the check did not ask is unsolicited.", "status.reply_unsolicited", responder=OTHER
    ),
    ReplyCase(
        "The requester cannot answer its own check (it was not asked).",
        "status.reply_unsolicited",
        responder=POLICE,
        to=(POLICE,),
    ),
    ReplyCase(
        "A reply copied to anybody besides the requester is unsolicited: answers go to the requester alone.",
        "status.reply_unsolicited",
        to=(POLICE, CHARITY),
    ),
    ReplyCase(
        "A reply addressed to another agency than the requester is unsolicited.",
        "status.reply_unsolicited",
        to=(CHARITY,),
    ),
    ReplyCase("A reply after the hard deadline (created_at + 10 s) is late.", "status.reply_late", at=T0 + 10_001),
    ReplyCase(
        "The hard deadline is the check's expires_at when that comes first.",
        "status.reply_late",
        at=T0 + 5_001,
        check_ttl=5_000,
    ),
    ReplyCase(
        "A reply long after the deadline, once the check is forgotten, is unsolicited.",
        "status.reply_unsolicited",
        at=T0 + 10_000 + LIMITS.late_grace_ms + 1,
    ),
    ReplyCase(
        "The same responder answering a second time, with another message, is a duplicate.",
        "status.reply_duplicate",
        answered_before=True,
    ),
    ReplyCase(
        "A second answer after the deadline is named late (the deadline is checked first).",
        "status.reply_late",
        answered_before=True,
        at=T0 + 11_000,
    ),
]


@pytest.mark.parametrize("case", REPLY_CASES, ids=[c.sentence for c in REPLY_CASES])
def test_reply_case(case: ReplyCase) -> None:
    book = StatusBook(LIMITS)
    assert isinstance(_check(book, ttl=case.check_ttl), Admission)
    if case.answered_before:
        assert isinstance(_reply(book, message_id=_mid(800), at=T0 + 100), Admission)
    if case.at > T0 + 10_000 + LIMITS.late_grace_ms:
        book.forget_expired(case.at)
    outcome = _reply(book, responder=case.responder, to=case.to, correlation_id=case.correlation_id, at=case.at)
    assert _code(outcome) == case.expected, case.sentence


def test_each_asked_agency_answers_once() -> None:
    book = StatusBook(LIMITS)
    _check(book)
    assert isinstance(_reply(book, responder=COUNCIL, message_id=_mid(901)), Admission)
    assert isinstance(_reply(book, responder=CHARITY, message_id=_mid(902)), Admission)
    assert book.stats.replies == 2


def test_reading_the_same_reply_again_is_left_to_the_replay_window() -> None:
    # After a router failure the batch is read again: the same reply must be routed again,
    # even if the deadline has passed meanwhile (it was decided in time the first time).
    book = StatusBook(LIMITS)
    _check(book)
    first = _reply(book, message_id=_mid(901), at=T0 + 500)
    again = _reply(book, message_id=_mid(901), at=T0 + 10_500)
    assert isinstance(first, Admission)
    assert isinstance(again, Admission)
    assert again.known
    assert book.stats.replies == 1


def test_a_refused_reply_is_not_remembered() -> None:
    # Screening changes nothing: a reply screened but never recorded does not count as an answer.
    book = StatusBook(LIMITS)
    _check(book)
    book.screen_reply(
        message_id=_mid(901),
        sender=COUNCIL,
        recipients=(POLICE,),
        correlation_id=CHECK_ID,
        created_at_ms=T0,
        expires_at_ms=T0 + 60_000,
        now_ms=T0 + 100,
    )
    assert isinstance(_reply(book, message_id=_mid(902)), Admission)


def test_replies_after_the_soft_deadline_are_counted_not_refused() -> None:
    book = StatusBook(LIMITS)
    _check(book)
    _reply(book, responder=COUNCIL, message_id=_mid(901), at=T0 + 1_000)
    _reply(book, responder=CHARITY, message_id=_mid(902), at=T0 + 3_000)
    assert (book.stats.replies, book.stats.replies_after_soft_deadline) == (2, 1)


# --- rate limit ---------------------------------------------------------------------------


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    book = StatusBook(LIMITS)
    outcomes = [_code(_check(book, message_id=_mid(i))) for i in range(LIMITS.burst + 1)]
    assert outcomes == ["admitted"] * LIMITS.burst + ["status.rate_limited"]
    # 5 a second: one new token every 200 ms.
    assert _code(_check(book, message_id=_mid(100), now=T0 + 199)) == "status.rate_limited"
    assert _code(_check(book, message_id=_mid(101), now=T0 + 200)) == "admitted"
    assert _code(_check(book, message_id=_mid(102), now=T0 + 200)) == "status.rate_limited"


def test_the_bucket_refills_to_the_burst_and_no_further() -> None:
    book = StatusBook(LIMITS)
    for i in range(LIMITS.burst):
        _check(book, message_id=_mid(i))
    later = T0 + 3_600_000
    outcomes = [_code(_check(book, message_id=_mid(100 + i), created=later, now=later)) for i in range(21)]
    assert outcomes.count("admitted") == LIMITS.burst


def test_each_requester_has_its_own_bucket() -> None:
    book = StatusBook(LIMITS)
    for i in range(LIMITS.burst):
        _check(book, message_id=_mid(i))
    assert _code(_check(book, message_id=_mid(50))) == "status.rate_limited"
    assert _code(_check(book, message_id=_mid(51), requester=OTHER)) == "admitted"


def test_a_rate_limited_check_takes_no_token_and_is_not_outstanding() -> None:
    book = StatusBook(StatusLimits(burst=1, rate_per_s=1.0))
    assert _code(_check(book, message_id=_mid(1))) == "admitted"
    assert _code(_check(book, message_id=_mid(2))) == "status.rate_limited"
    assert len(book) == 1
    assert _code(_check(book, message_id=_mid(3), now=T0 + 1_000)) == "admitted"


def test_envelopes_of_one_send_are_one_check() -> None:
    # A connector splits one send into one envelope per agreement, sharing the correlation id:
    # asking disjoint agencies, they are one check for the bucket and the enumeration watch.
    book = StatusBook(StatusLimits(burst=1, rate_per_s=0.001))
    assert _code(_check(book, message_id=_mid(1), asked=(COUNCIL,), correlation_id="corr-1")) == "admitted"
    assert _code(_check(book, message_id=_mid(2), asked=(CHARITY,), correlation_id="corr-1")) == "admitted"
    assert (book.stats.checks, book.stats.logical_checks) == (2, 1)


def test_asking_an_agency_again_under_the_same_correlation_id_is_a_new_check() -> None:
    # Reusing a correlation id cannot hide checks from the bucket: asking the same agency twice counts twice.
    book = StatusBook(StatusLimits(burst=1, rate_per_s=0.001))
    assert _code(_check(book, message_id=_mid(1), asked=(COUNCIL,), correlation_id="corr-1")) == "admitted"
    assert _code(_check(book, message_id=_mid(2), asked=(COUNCIL,), correlation_id="corr-1")) == "status.rate_limited"


def test_a_check_read_again_takes_no_token() -> None:
    # Re-deciding a delivered check (a re-read after a failure) must not rate-limit it now.
    book = StatusBook(StatusLimits(burst=1, rate_per_s=0.001))
    assert _code(_check(book, message_id=_mid(1))) == "admitted"
    again = _check(book, message_id=_mid(1))
    assert isinstance(again, Admission)
    assert again.known
    assert book.stats.checks == 1


# --- enumeration ---------------------------------------------------------------------------


def test_enumeration_alert_fires_once_per_window() -> None:
    book = StatusBook(LIMITS)  # more than 5 checks within 60 s
    for i in range(LIMITS.enumeration_threshold):
        _check(book, message_id=_mid(i), now=T0 + i * 1_000)
    assert book.drain_alerts() == [], "the threshold itself is allowed"
    _check(book, message_id=_mid(5), now=T0 + 5_000)
    (alert,) = book.drain_alerts()
    assert (alert.requester, alert.checks_in_window, alert.threshold) == (POLICE, 6, 5)
    for i in range(6, 12):
        _check(book, message_id=_mid(i), now=T0 + i * 1_000)
    assert book.drain_alerts() == [], "one alert per window, however many more checks"
    _check(book, message_id=_mid(60), now=T0 + 65_000)
    (second,) = book.drain_alerts()
    assert second.checks_since_previous_alert == 7
    assert book.stats.alerts == 2


def test_checks_spread_wider_than_the_window_raise_no_alert() -> None:
    book = StatusBook(LIMITS)
    for i in range(30):
        _check(book, message_id=_mid(i), now=T0 + i * 13_000)  # at most 5 in any 60 s
    assert book.drain_alerts() == []


def test_enumeration_is_per_requester() -> None:
    book = StatusBook(LIMITS)
    for i in range(6):
        requester = POLICE if i % 2 else OTHER
        _check(book, message_id=_mid(i), requester=requester, now=T0 + i)
    assert book.drain_alerts() == []


def test_the_alert_detail_holds_counts_only() -> None:
    book = StatusBook(LIMITS)
    for i in range(6):
        _check(book, message_id=_mid(i), now=T0 + i)
    (alert,) = book.drain_alerts()
    assert alert.detail == "checks_in_window=6; threshold=5; window_s=60; checks_since_previous_alert=6"
    assert POLICE not in alert.detail
    assert CHECK_ID[:8] not in alert.detail


def test_rate_limited_checks_do_not_count_towards_enumeration() -> None:
    book = StatusBook(StatusLimits(burst=3, rate_per_s=0.001, enumeration_threshold=3))
    for i in range(10):
        _check(book, message_id=_mid(i))
    assert book.drain_alerts() == []


# --- memory --------------------------------------------------------------------------------


def test_checks_are_forgotten_after_their_deadline_and_grace() -> None:
    book = StatusBook(LIMITS)
    _check(book, message_id=_mid(1))
    _check(book, message_id=_mid(2), created=T0 + 30_000, now=T0 + 30_000)
    assert book.forget_expired(T0 + 10_000 + LIMITS.late_grace_ms) == 1
    assert len(book) == 1


def test_new_checks_sweep_old_ones_from_the_front() -> None:
    book = StatusBook(StatusLimits(late_grace_ms=0))
    _check(book, message_id=_mid(1))
    _check(book, message_id=_mid(2), created=T0 + 20_000, now=T0 + 20_000)
    assert len(book) == 1


def test_a_full_table_forgets_the_oldest_check() -> None:
    book = StatusBook(StatusLimits(max_outstanding=2))
    for i in (1, 2, 3):
        _check(book, message_id=_mid(i), correlation_id=f"c{i}")
    assert len(book) == 2
    assert book.stats.evicted == 1
    assert _code(_reply(book, correlation_id=_mid(1))) == "status.reply_unsolicited"
    assert _code(_reply(book, correlation_id=_mid(3))) == "admitted"
