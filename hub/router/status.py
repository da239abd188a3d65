"""Status checks at the hub: outstanding checks, replies, rate limits, enumeration alerts.

A requester sends an ``onedoor.status.StatusCheck`` to the agencies allowed to answer it; each
answers with an ``onedoor.status.StatusReply`` whose correlation id is the check's message id,
addressed to the requester alone. The hub sees only headers, so it checks what headers can
show: that a reply answers a check it routed, from an agency that check asked, to the
requester alone, once, before the check's hard deadline; that one requester does not send
checks faster than its token bucket allows; and it raises an alert when a requester sends
many checks in a window. It never learns whether a check matched anybody: bodies are
encrypted, and counting checks (not misses) is what needs no such knowledge
(docs/threat-model.md, I6).

Pure: every method takes the time it should use (``now_ms``) and does no I/O. The router owns
one ``StatusBook`` per process, as it owns its replay window. ``decide`` screens a status
envelope (``screen_check``/``screen_reply``) before the replay check, and records it
(``record``) only once it is delivered, so a refused envelope leaves no trace here.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

STATUS_CHECK: Final = "onedoor.status.StatusCheck"
STATUS_REPLY: Final = "onedoor.status.StatusReply"
STATUS_PURPOSE: Final = "victim-identification"


class StatusKind(StrEnum):
    """Which side of a status check an envelope is."""

    CHECK = "check"
    REPLY = "reply"


STATUS_KINDS: Final[dict[str, StatusKind]] = {STATUS_CHECK: StatusKind.CHECK, STATUS_REPLY: StatusKind.REPLY}
"""Contract name -> kind: the one lookup a non-status envelope pays for."""


class StatusReason(StrEnum):
    """Why the hub refused a status check or reply (docs/reason-codes.md)."""

    WRONG_PURPOSE = "status.wrong_purpose"
    """A check or reply whose header purpose is not ``victim-identification``."""
    RATE_LIMITED = "status.rate_limited"
    """The requester sent checks faster than its token bucket allows."""
    REPLY_UNSOLICITED = "status.reply_unsolicited"
    """No outstanding check with that id, a sender it did not ask, or not addressed to the requester alone."""
    REPLY_LATE = "status.reply_late"
    """The reply came after the check's hard deadline."""
    REPLY_DUPLICATE = "status.reply_duplicate"
    """The responder had already answered this check with another message."""


ENUMERATION_SUSPECTED: Final = "status.enumeration_suspected"
"""The audit kind and log event of an enumeration alert."""


@dataclass(frozen=True, slots=True)
class StatusLimits:
    """What the hub enforces on status checks (``ONEDOOR_ROUTER__STATUS_*``)."""

    hard_deadline_ms: int = 10_000
    """A check is answerable until its ``expires_at``, capped at ``created_at`` plus this."""
    soft_deadline_ms: int = 2_000
    """When the requester stops waiting; the hub only counts replies after it (it refuses none)."""
    rate_per_s: float = 5.0
    """New checks per second each requester may send, on average."""
    burst: int = 20
    """New checks a requester may send at once after being quiet."""
    enumeration_threshold: int = 120
    """More than this many checks from one requester within the window raises an alert."""
    enumeration_window_ms: int = 600_000
    max_outstanding: int = 100_000
    """Outstanding checks remembered at most; beyond it the oldest is forgotten."""
    late_grace_ms: int = 60_000
    """How long past its hard deadline a check is kept, so a late reply is named late, not unsolicited."""


@dataclass(frozen=True, slots=True)
class StatusRefusal:
    """Refuse the envelope with this code."""

    reason: StatusReason
    detail: str
    """A short sentence for operators: never who holds records."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What to remember once the envelope is delivered (``StatusBook.record``)."""

    kind: StatusKind
    message_id: str
    """The envelope's own message id."""
    sender: str
    recipients: tuple[str, ...]
    correlation_id: str
    """A check's own correlation id (its logical check), or a reply's: the check's message id."""
    created_at_ms: int
    expires_at_ms: int
    known: bool = False
    """Seen and delivered before (a redelivery or a replay): the replay window decides, nothing to record."""
    new_logical: bool = True
    """A check that starts a logical check: it takes a token and counts towards the enumeration alert."""


@dataclass(frozen=True, slots=True)
class EnumerationAlert:
    """A requester sent more checks within the window than the threshold: tell the operator."""

    requester: str
    at_ms: int
    checks_in_window: int
    threshold: int
    window_ms: int
    checks_since_previous_alert: int

    @property
    def detail(self) -> str:
        """Counts only: never which young people were asked about."""
        return (
            f"checks_in_window={self.checks_in_window}; threshold={self.threshold}; "
            f"window_s={self.window_ms // 1000}; checks_since_previous_alert={self.checks_since_previous_alert}"
        )


@dataclass(slots=True)
class StatusStats:
    """Counters since start."""

    checks: int = 0
    """Check envelopes delivered."""
    logical_checks: int = 0
    """Checks counted against the rate limit and the enumeration watch."""
    replies: int = 0
    replies_after_soft_deadline: int = 0
    alerts: int = 0
    evicted: int = 0
    """Outstanding checks forgotten early because the table was full."""


@dataclass(slots=True)
class _Outstanding:
    requester: str
    asked: frozenset[str]
    created_at_ms: int
    deadline_ms: int
    forget_at_ms: int
    answered: dict[str, str] = field(default_factory=dict)
    """Responder -> the message id of its reply."""


@dataclass(slots=True)
class _Logical:
    asked: set[str]
    forget_at_ms: int


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ms: int


@dataclass(slots=True)
class _Watch:
    times: deque[int]
    quiet_until_ms: int = 0
    since_alert: int = 0


class StatusBook:
    """One router process's memory of status checks (see the module docstring)."""

    def __init__(self, limits: StatusLimits | None = None) -> None:
        self.limits = StatusLimits() if limits is None else limits
        self.stats = StatusStats()
        self._outstanding: OrderedDict[str, _Outstanding] = OrderedDict()
        # One send may be split into several envelopes (one per agreement) sharing a correlation
        # id: they are one logical check as long as they ask disjoint agencies.
        self._logical: OrderedDict[tuple[str, str], _Logical] = OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        self._watches: dict[str, _Watch] = {}
        self._alerts: list[EnumerationAlert] = []

    def __len__(self) -> int:
        return len(self._outstanding)

    def deadline_ms(self, created_at_ms: int, expires_at_ms: int) -> int:
        """A check's hard deadline: its expiry, capped at its creation plus the hard limit."""
        return min(expires_at_ms, created_at_ms + self.limits.hard_deadline_ms)

    def screen_check(
        self,
        *,
        message_id: str,
        sender: str,
        recipients: tuple[str, ...],
        correlation_id: str,
        created_at_ms: int,
        expires_at_ms: int,
        now_ms: int,
    ) -> Admission | StatusRefusal:
        """Admit a check unless its requester is over its rate; change nothing."""
        admission = Admission(
            StatusKind.CHECK, message_id, sender, recipients, correlation_id, created_at_ms, expires_at_ms
        )
        if message_id in self._outstanding:
            return replace(admission, known=True)
        logical = self._logical.get((sender, correlation_id))
        if logical is not None and logical.forget_at_ms > now_ms and logical.asked.isdisjoint(recipients):
            return replace(admission, new_logical=False)
        if self._tokens(sender, now_ms) < 1.0:
            limits = self.limits
            return StatusRefusal(
                StatusReason.RATE_LIMITED,
                f"over {limits.burst} checks at once or {limits.rate_per_s:g} a second from this requester",
            )
        return admission

    def screen_reply(  # noqa: PLR0911 - one return per refusal, in the order they are checked
        self,
        *,
        message_id: str,
        sender: str,
        recipients: tuple[str, ...],
        correlation_id: str,
        created_at_ms: int,
        expires_at_ms: int,
        now_ms: int,
    ) -> Admission | StatusRefusal:
        """Admit a reply that answers an outstanding check in time, once; change nothing."""
        check = self._outstanding.get(correlation_id)
        if check is None:
            return StatusRefusal(StatusReason.REPLY_UNSOLICITED, "no outstanding status check has this correlation id")
        if sender not in check.asked:
            return StatusRefusal(StatusReason.REPLY_UNSOLICITED, "the check did not ask the sender")
        if recipients != (check.requester,):
            return StatusRefusal(StatusReason.REPLY_UNSOLICITED, "a reply must be addressed to the requester alone")
        admission = Admission(
            StatusKind.REPLY, message_id, sender, recipients, correlation_id, created_at_ms, expires_at_ms
        )
        previous = check.answered.get(sender)
        if previous == message_id:
            return replace(admission, known=True)  # decided before: the replay window tells redelivery from replay
        if now_ms > check.deadline_ms:
            return StatusRefusal(StatusReason.REPLY_LATE, f"{now_ms - check.deadline_ms} ms after the hard deadline")
        if previous is not None:
            return StatusRefusal(StatusReason.REPLY_DUPLICATE, "the sender has already answered this check")
        return admission

    def record(self, admission: Admission, now_ms: int) -> None:
        """Remember a delivered check or reply (the ``Admission`` its screen returned)."""
        if admission.known:
            return
        if admission.kind is StatusKind.REPLY:
            check = self._outstanding.get(admission.correlation_id)
            if check is not None:  # screened a moment ago: only a sweep in between could remove it
                check.answered[admission.sender] = admission.message_id
                self.stats.replies += 1
                if now_ms > check.created_at_ms + self.limits.soft_deadline_ms:
                    self.stats.replies_after_soft_deadline += 1
            return
        self._forget_front(now_ms)
        deadline = self.deadline_ms(admission.created_at_ms, admission.expires_at_ms)
        forget_at = deadline + self.limits.late_grace_ms
        if len(self._outstanding) >= self.limits.max_outstanding:
            self._outstanding.popitem(last=False)
            self.stats.evicted += 1
        self._outstanding[admission.message_id] = _Outstanding(
            admission.sender, frozenset(admission.recipients), admission.created_at_ms, deadline, forget_at
        )
        self.stats.checks += 1
        key = (admission.sender, admission.correlation_id)
        logical = self._logical.get(key)
        if not admission.new_logical and logical is not None:
            logical.asked.update(admission.recipients)
            return
        if logical is not None:
            del self._logical[key]
        if len(self._logical) >= self.limits.max_outstanding:
            self._logical.popitem(last=False)
        self._logical[key] = _Logical(set(admission.recipients), forget_at)
        self._tokens(admission.sender, now_ms)
        self._buckets[admission.sender].tokens -= 1.0
        self.stats.logical_checks += 1
        self._watch(admission.sender, now_ms)

    def drain_alerts(self) -> list[EnumerationAlert]:
        """Alerts raised since the last call, oldest first."""
        alerts, self._alerts = self._alerts, []
        return alerts

    def forget_expired(self, now_ms: int) -> int:
        """Forget checks past their hard deadline and grace; return how many."""
        expired = [k for k, c in self._outstanding.items() if c.forget_at_ms <= now_ms]
        for key in expired:
            del self._outstanding[key]
        for logical in [k for k, v in self._logical.items() if v.forget_at_ms <= now_ms]:
            del self._logical[logical]
        return len(expired)

    def _forget_front(self, now_ms: int) -> None:
        # Checks arrive roughly in deadline order: dropping from the front keeps the table small
        # between full sweeps at a cost of O(1) per check.
        while self._outstanding:
            key, oldest = next(iter(self._outstanding.items()))
            if oldest.forget_at_ms > now_ms:
                break
            del self._outstanding[key]
        while self._logical:
            lkey, logical = next(iter(self._logical.items()))
            if logical.forget_at_ms > now_ms:
                break
            del self._logical[lkey]

    def _tokens(self, requester: str, now_ms: int) -> float:
        """Refill ``requester``'s bucket to ``now_ms`` (idempotent) and return its tokens."""
        limits = self.limits
        bucket = self._buckets.get(requester)
        if bucket is None:
            bucket = self._buckets[requester] = _Bucket(float(limits.burst), now_ms)
        elif now_ms > bucket.at_ms:
            refill = (now_ms - bucket.at_ms) * limits.rate_per_s / 1000.0
            bucket.tokens = min(float(limits.burst), bucket.tokens + refill)
            bucket.at_ms = now_ms
        return bucket.tokens

    def _watch(self, requester: str, now_ms: int) -> None:
        limits = self.limits
        watch = self._watches.get(requester)
        if watch is None:
            watch = self._watches[requester] = _Watch(deque(maxlen=limits.enumeration_threshold + 1))
        watch.times.append(now_ms)
        watch.since_alert += 1
        full = len(watch.times) == watch.times.maxlen
        if full and watch.times[0] > now_ms - limits.enumeration_window_ms and now_ms >= watch.quiet_until_ms:
            self._alerts.append(
                EnumerationAlert(
                    requester=requester,
                    at_ms=now_ms,
                    checks_in_window=len(watch.times),
                    threshold=limits.enumeration_threshold,
                    window_ms=limits.enumeration_window_ms,
                    checks_since_previous_alert=watch.since_alert,
                )
            )
            self.stats.alerts += 1
            watch.quiet_until_ms = now_ms + limits.enumeration_window_ms
            watch.since_alert = 0
