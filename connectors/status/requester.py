"""The asking side of a status check: who may be asked, ask them, gather the answers until the soft deadline.

``StatusChecker.check(identifiers)`` derives the young person's identity tokens (the names
and date of birth never leave the connector), asks only the agencies the sharing policy lets
answer this agency for ``victim-identification`` (``responders``), and returns a
``StatusAnswer`` at the soft deadline at the latest: the matches, the agencies that did not
answer in time, and how long it took. A reply after the soft deadline is not used; the
envelopes of the check expire at the hard deadline, so the hub drops what comes later.

Sharing a connector: replies are routed to the waiting check by correlation id (each reply's
correlation id is the message id of the check envelope it answers) by a ``Dispatcher``. Give
the checker the ``Dispatcher`` your application runs (``connector.run(dispatcher)`` in a
task) and every other message keeps reaching your handler; without one, ``check`` reads the
inbox itself while it waits (for a command-line check with nothing else reading the inbox).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from connectors.identity import Identifiers, MatchingKey, derive_tokens
from connectors.sdk.connector import Connector, ReceivedMessage
from connectors.sdk.policy import SharingPolicy
from connectors.status.dispatch import Dispatcher, Waiter
from connectors.status.messages import (
    CONTRACT_VERSION,
    STATUS_CHECK,
    STATUS_REPLY,
    VICTIM_IDENTIFICATION,
    ReportedMatch,
    check_body,
    readable_agreed,
    reply_matches,
)
from consent.contract import TaggedContract
from contracts.catalog import bundled
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId
from onedoor.logging import get_logger

log = get_logger(__name__)

POLL_SLICE_MS: Final = 50
"""How long one inbox read may wait when ``check`` reads the inbox itself."""


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """What the agencies asked said by the soft deadline."""

    matches: tuple[ReportedMatch, ...]
    """Every reported match, best first."""
    not_answered: tuple[AgencyId, ...]
    """Agencies asked that did not answer by the soft deadline."""
    asked: tuple[AgencyId, ...]
    """Every agency asked (those the policy lets answer this agency), sorted."""
    elapsed_ms: float

    @property
    def answered(self) -> tuple[AgencyId, ...]:
        """Agencies that answered in time, with or without a record."""
        missing = set(self.not_answered)
        return tuple(a for a in self.asked if a not in missing)

    @property
    def found(self) -> bool:
        """Whether any agency reported a record."""
        return bool(self.matches)

    def describe(self) -> str:
        """The answer as an officer reads it: who knows the young person and how, who did not answer."""
        if not self.asked:
            return (
                "No agency was asked: no sharing agreement lets any agency answer a victim-identification "
                "check from this agency."
            )
        lines = [_describe_match(m) for m in self.matches]
        holders = {m.agency for m in self.matches}
        without = [a for a in self.answered if a not in holders]
        if not self.matches:
            if self.not_answered:
                lines.append(f"No record found at the {_count(self.answered)} that answered ({len(self.asked)} asked).")
            else:
                lines.append(f"No record found at the {_count(self.asked)} asked.")
        elif without:
            other = "the other agency" if len(without) == 1 else f"the {len(without)} other agencies"
            lines.append(f"No record at {other} that answered.")
        if self.not_answered:
            lines.append(f"Not answered in time: {', '.join(self.not_answered)}.")
        return "\n".join(lines)


def _count(agencies: Iterable[AgencyId]) -> str:
    n = len(list(agencies))
    return "1 agency" if n == 1 else f"{n} agencies"


def _describe_match(found: ReportedMatch) -> str:
    parts: list[str] = []
    if found.flags is None:
        parts.append("status withheld under the sharing agreement")
    else:
        parts.extend(flag.phrase for flag in found.flags)
    if found.nrm_stage is not None and found.nrm_stage.phrase is not None:
        parts.append(found.nrm_stage.phrase)
    if found.missing_episodes_last_90_days:
        times = found.missing_episodes_last_90_days
        parts.append(f"missing {times} time{'s' if times != 1 else ''} in the last 90 days")
    if found.case_open is not None:
        parts.append("open case" if found.case_open else "no open case")
    if found.lead_professional is not None:
        parts.append(f"lead professional {found.lead_professional.describe()}")
    parts.append(f"record {found.record_reference}")
    agreed = f" ({readable_agreed(found.agreed)})" if found.agreed else ""
    parts.append(f"confidence {found.confidence:.2f}{agreed}")
    if found.flags is not None and not found.flags and found.nrm_stage is None:
        parts.insert(0, "no status flags")
    return f"Known to {found.agency}: {'; '.join(parts)}."


class StatusChecker:
    """Asks the agencies that may answer whether they know a young person. Share its connector via a ``Dispatcher``."""

    def __init__(
        self,
        connector: Connector,
        key: MatchingKey,
        policy: SharingPolicy,
        *,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """A checker for ``connector``'s agency.

        Args:
            connector: the agency's started connector (it seals and publishes the checks).
            key: the federation matching key.
            policy: the sharing policy that decides who may be asked (usually ``connector.policy``).
            dispatcher: the dispatcher the application runs on this connector's inbox; ``None``:
                ``check`` reads the inbox itself while it waits.
            clock: seconds since the epoch (tests pin it).
        """
        self._connector = connector
        self._key = key
        self._policy = policy
        self._polls = dispatcher is None
        self.dispatcher = dispatcher or Dispatcher()
        self.dispatcher.route(STATUS_REPLY, _late_reply)
        self._poll_lock = asyncio.Lock()
        self._clock = clock

    @property
    def agency(self) -> AgencyId:
        """The requesting agency."""
        return self._connector.agency

    def responders(self, *, at_ms: int | None = None) -> list[AgencyId]:
        """The agencies to ask: each may receive a check from this agency and answer it (module docstring)."""
        return choose_responders(
            self._policy,
            self.agency,
            at_ms=int(self._clock() * 1000) if at_ms is None else at_ms,
            active=frozenset(a for a, keys in self._connector.directory.agencies.items() if keys.active),
        )

    async def check(
        self, identifiers: Identifiers, *, soft_deadline_s: float = 2.0, hard_deadline_s: float = 10.0
    ) -> StatusAnswer:
        """Ask every agency that may answer, and return what they said by the soft deadline.

        Args:
            identifiers: the young person as the officer typed them (``Identifiers.parse``).
            soft_deadline_s: how long to wait for answers.
            hard_deadline_s: after this an asked agency must not answer at all (the check expires).

        Returns:
            The matches, the agencies asked, and those that did not answer in time.

        Raises:
            ValidationFailed: ``status.bad_deadlines`` when the soft deadline is not positive or
                comes after the hard one.
        """
        if not 0 < soft_deadline_s <= hard_deadline_s:
            raise ValidationFailed("status.bad_deadlines", "need 0 < soft deadline <= hard deadline")
        started = time.monotonic()
        now_ms = int(self._clock() * 1000)
        asked = self.responders(at_ms=now_ms)
        if not asked:
            log.info("status.nobody_to_ask", requester=self.agency)
            return StatusAnswer((), (), (), _ms_since(started))
        body = check_body(
            derive_tokens(identifiers, self._key),
            soft_deadline_ms=now_ms + int(soft_deadline_s * 1000),
            hard_deadline_ms=now_ms + int(hard_deadline_s * 1000),
        )
        sealed = self._connector.seal(
            contract=STATUS_CHECK,
            version=CONTRACT_VERSION,
            recipients=asked,
            purpose=VICTIM_IDENTIFICATION,
            body=body,
            ttl=timedelta(seconds=hard_deadline_s),
        )
        asked_by_message = {str(s.header.message_id): frozenset(s.header.recipients) for s in sealed}
        waiter = self.dispatcher.expect(asked_by_message, contract=STATUS_REPLY)
        try:
            await self._connector.publish_all(sealed)
            replies = await self._collect(waiter, asked_by_message, deadline=started + soft_deadline_s)
        finally:
            self.dispatcher.forget(waiter)
        matches = sorted(
            (m for agency, reply in replies.items() for m in reply_matches(reply.body, agency)),
            key=lambda m: (-m.confidence, m.agency),
        )
        answer = StatusAnswer(
            tuple(matches), tuple(a for a in asked if a not in replies), tuple(asked), _ms_since(started)
        )
        log.info(
            "status.checked",
            correlation_id=sealed[0].header.correlation_id,
            asked=len(asked),
            answered=len(replies),
            matches=len(matches),
            elapsed_ms=round(answer.elapsed_ms, 1),
        )
        return answer

    async def _collect(
        self, waiter: Waiter, asked: dict[str, frozenset[AgencyId]], *, deadline: float
    ) -> dict[AgencyId, ReceivedMessage]:
        """Replies by agency until every agency asked answered or the deadline (monotonic seconds)."""
        expected = frozenset().union(*asked.values())
        replies: dict[AgencyId, ReceivedMessage] = {}
        while len(replies) < len(expected):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self._polls:
                async with self._poll_lock:
                    if waiter.queue.empty():
                        timeout = max(1, min(POLL_SLICE_MS, int(remaining * 1000)))
                        await self._connector.poll(self.dispatcher, timeout_ms=timeout)
            else:
                try:
                    self._accept(await asyncio.wait_for(waiter.queue.get(), timeout=remaining), asked, replies)
                except TimeoutError:
                    break
            while not waiter.queue.empty():
                self._accept(waiter.queue.get_nowait(), asked, replies)
        return replies

    def _accept(
        self, reply: ReceivedMessage, asked: dict[str, frozenset[AgencyId]], replies: dict[AgencyId, ReceivedMessage]
    ) -> None:
        header = reply.header
        reason = None
        if header.sender not in asked.get(str(header.correlation_id), frozenset()):
            reason = "status.reply_not_asked"
        elif header.purpose != VICTIM_IDENTIFICATION:
            reason = "status.wrong_purpose"
        elif header.sender in replies:
            reason = "status.reply_duplicate"
        if reason is not None:
            log.warning("status.reply_ignored", message_id=header.message_id, sender=header.sender, reason=reason)
            return
        replies[header.sender] = reply


def choose_responders(
    policy: SharingPolicy, requester: AgencyId, *, at_ms: int, active: frozenset[AgencyId] | None = None
) -> list[AgencyId]:
    """The agencies ``requester`` may ask, sorted: each is registered (and ``active``, if given) and

    - may receive a ``StatusCheck`` from ``requester`` for ``victim-identification``, tokens
      included (an agreement withholding the ``identity`` class makes the check useless); and
    - may answer ``requester`` with a ``StatusReply`` under ``Action.QUERY`` for that purpose.

    An agency without such an agreement is never asked.
    """
    check = _contract(policy, STATUS_CHECK)
    reply = _contract(policy, STATUS_REPLY)
    chosen = []
    for agency in sorted(policy.catalog.members):
        if agency == requester or (active is not None and agency not in active):
            continue
        asking = policy.decide(
            sender=requester, recipient=agency, contract=check, purpose=VICTIM_IDENTIFICATION, at_ms=at_ms
        )
        if not asking.permitted or "tokens.value" not in asking.allowed_fields:
            continue
        # The reply's contract makes it a query (consent.actions), as the hub decides it.
        answering = policy.decide(
            sender=agency, recipient=requester, contract=reply, purpose=VICTIM_IDENTIFICATION, at_ms=at_ms
        )
        if answering.permitted:
            chosen.append(agency)
    return chosen


def _contract(policy: SharingPolicy, name: str) -> TaggedContract:
    """The contract version as the hub registered it, else as bundled."""
    found = policy.catalog.contracts.get((name, CONTRACT_VERSION))
    return found or TaggedContract.from_schema(bundled()[name], CONTRACT_VERSION)  # type: ignore[index]


async def _late_reply(message: ReceivedMessage) -> None:
    # A reply nobody waits for: after the soft deadline, or a replay. Not used; never an error.
    log.info("status.reply_late", message_id=message.header.message_id, sender=message.header.sender)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
