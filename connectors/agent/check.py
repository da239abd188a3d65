"""``onedoor connector check``: is this agency's connector set up right? Said in words.

Each check gives a :class:`CheckResult` with a stable code (``check.*``) when it fails. The
checks, in order: the config file loads; the private keys load and their files are mode 0600;
the hub answers ``/healthz``; the hub accepts the agency's own assertion (``/auth/agency``);
the local clock agrees with the hub's; the hub's directory lists this agency with the same
public keys; the broker answers and the agency's outbound topic, inbox and the registry topic
exist; with broker credentials, the broker enforces ACLs and refuses this connector the policy
topic (consent events; threat model S7). A check that cannot run because an earlier one failed
is left out; the others still run.

The judging functions (``*_result``) are pure; :func:`run_checks` is the thin async shell doing
the I/O. No message holds a key, a token, an assertion or a config value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from connectors.agent.config import ConnectorConfig, load_config_file
from connectors.agent.runtime import load_keys
from connectors.sdk.hubauth import HubClient
from onedoor.envelope.keys import AgencyKeyPair
from onedoor.errors import Forbidden, NotFound, OneDoorError, Unauthenticated, Unavailable
from onedoor.ids import AgencyId
from onedoor.kafka.admin import authenticate, can_read, describe_partitions
from onedoor.kafka.security import ClientCredentials
from onedoor.kafka.tls import CA_FILE_CODE
from onedoor.topics import TopicNames

MAX_SKEW_S: Final = 30.0
"""More clock skew than this fails ``clock`` (the hub admits an assertion for 60 s)."""
HTTP_TIMEOUT_S: Final = 10.0
BROKER_TIMEOUT_S: Final = 10.0

CONFIG_INVALID: Final = "check.config_invalid"
KEYS_UNREADABLE: Final = "check.keys_unreadable"
KEY_FILE_MODE: Final = "check.key_file_mode"
HUB_UNREACHABLE: Final = "check.hub_unreachable"
IDENTITY_REFUSED: Final = "check.identity_refused"
CLOCK_SKEW: Final = "check.clock_skew"
KEYS_NOT_REGISTERED: Final = "check.keys_not_registered"
KEYS_MISMATCH: Final = "check.keys_mismatch"
BROKER_UNREACHABLE: Final = "check.broker_unreachable"
TOPIC_MISSING: Final = "check.topic_missing"

BROKER_CREDENTIALS: Final = "check.broker_credentials"
BROKER_TLS: Final = "check.broker_tls"
ACL_MISSING: Final = "check.acl_missing"
ACL_OPEN: Final = "check.acl_open"
ACL_STALE: Final = "check.acl_stale"

ACL_NOTE: Final = (
    "note: no broker credentials are configured, so broker ACLs are not checked "
    "(on a secured broker, run: onedoor connector enrol)"
)

_HUB_REFUSALS: Final[dict[str, str]] = {
    "auth.key_unknown": "the hub does not know this signing key (registered? rotated? revoked?)",
    "auth.agency_inactive": "the agency is suspended at the hub",
    "auth.assertion_expired": "the hub found the assertion expired: check this machine's clock",
    "auth.assertion_replayed": "the hub saw this assertion before: check this machine's clock and try again",
    "auth.assertion_invalid": "the hub could not verify the assertion: are these the agency's registered keys?",
}

Describe = Callable[[str, str], Awaitable[object]]
"""``(bootstrap servers, topic) -> anything``; raises ``NotFound`` or ``Unavailable`` (``describe_partitions``)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict: ``code`` is ``None`` exactly when it passed."""

    check: str
    ok: bool
    code: str | None
    message: str

    @classmethod
    def passed(cls, check: str, message: str) -> CheckResult:
        """A passed check."""
        return cls(check, True, None, message)

    @classmethod
    def failed(cls, check: str, code: str, message: str) -> CheckResult:
        """A failed check with its stable code."""
        return cls(check, False, code, message)

    def as_dict(self) -> dict[str, Any]:
        """``{check, ok, code, message}`` for ``--json``."""
        return asdict(self)

    def line(self) -> str:
        """``ok    <check>: <sentence>`` or ``FAIL  <check>: <sentence> (<code>)``."""
        if self.ok:
            return f"ok    {self.check}: {self.message}"
        return f"FAIL  {self.check}: {self.message} ({self.code})"


# --- the pure judges -------------------------------------------------------------------------


def key_mode_result(modes: dict[Path, int | None]) -> CheckResult:
    """Every private key file must be mode 0600 (``None``: the file is missing, judged by ``keys``)."""
    open_to_others = [f"{path} is {mode:04o}" for path, mode in modes.items() if mode is not None and mode & 0o077]
    if open_to_others:
        return CheckResult.failed(
            "key_files", KEY_FILE_MODE, "private key files must be mode 0600: " + "; ".join(open_to_others)
        )
    return CheckResult.passed("key_files", "the private key files are readable only by their owner (0600)")


def identity_refused_result(code: str, hub_message: str) -> CheckResult:
    """The hub refused the agency's assertion with ``code``: a sentence saying what that means."""
    sentence = _HUB_REFUSALS.get(code, f"the hub refused the agency's assertion: {hub_message}")
    return CheckResult.failed("identity", IDENTITY_REFUSED, f"{sentence} [hub: {code}]")


def identity_result(expected: str, proved: object, key_id: object) -> CheckResult:
    """The hub's answer to ``/auth/agency`` must name this agency."""
    if proved != expected:
        return CheckResult.failed(
            "identity", IDENTITY_REFUSED, f"the hub took the assertion as agency {proved!r}, not {expected!r}"
        )
    return CheckResult.passed("identity", f"the hub accepts this connector as {expected} (signing key {key_id})")


def clock_result(server_time: datetime, midpoint: float, *, limit_s: float = MAX_SKEW_S) -> CheckResult:
    """Compare the hub's clock with the local clock at the request's midpoint (Unix seconds)."""
    skew = midpoint - server_time.timestamp()
    way = "ahead of" if skew > 0 else "behind"
    if abs(skew) > limit_s:
        return CheckResult.failed(
            "clock",
            CLOCK_SKEW,
            f"this machine's clock is {abs(skew):.1f} s {way} the hub's (at most {limit_s:.0f} s allowed): "
            "fix its time synchronisation",
        )
    return CheckResult.passed("clock", f"this machine's clock is within {abs(skew):.1f} s of the hub's")


def directory_result(document: Any, keys: AgencyKeyPair) -> CheckResult:
    """The hub's ``GET /directory`` must list the agency with the local keys' public halves as current."""
    agency = str(keys.agency)
    items = document.get("agencies", []) if isinstance(document, dict) else []
    entry = next((item for item in items if isinstance(item, dict) and item.get("id") == agency), None)
    if entry is None:
        return CheckResult.failed(
            "directory",
            KEYS_NOT_REGISTERED,
            f"the hub's directory does not list agency {agency}: is it registered and approved, and active?",
        )
    problems = []
    signing = {str(k.get("key_id")): k.get("status") for k in entry.get("signing_keys", [])}
    if str(keys.signing_key_id) not in signing:
        problems.append(f"the local signing key {keys.signing_key_id} is not among the agency's signing keys")
    elif signing[str(keys.signing_key_id)] != "current":
        problems.append(f"the local signing key {keys.signing_key_id} is no longer current at the hub")
    current = [str(k.get("key_id")) for k in entry.get("encryption_keys", []) if k.get("status") == "current"]
    if str(keys.encryption_key_id) not in current:
        listed = ", ".join(current) or "none"
        problems.append(
            f"the local encryption key {keys.encryption_key_id} is not the hub's current one ({listed}): "
            "messages to this agency would not open"
        )
    if problems:
        return CheckResult.failed("directory", KEYS_MISMATCH, "; ".join(problems))
    return CheckResult.passed(
        "directory", f"the hub's directory lists {agency} with this connector's signing and encryption keys"
    )


# --- the shell ---------------------------------------------------------------------------------


async def run_checks(
    config_path: Path,
    *,
    hub_transport: httpx.AsyncBaseTransport | None = None,
    describe: Describe | None = None,
    clock: Callable[[], float] = time.time,
) -> list[CheckResult]:
    """Run every check that can run, in order; the results (failures included)."""
    results: list[CheckResult] = []
    try:
        config = load_config_file(config_path)
    except OneDoorError as exc:
        return [CheckResult.failed("config", CONFIG_INVALID, exc.message)]
    results.append(CheckResult.passed("config", f"the config file {config_path} loads (agency {config.agency})"))

    keys = _check_keys(config, results)
    results.append(key_mode_result(_key_modes(config)))

    async with httpx.AsyncClient(base_url=config.hub_url, transport=hub_transport, timeout=HTTP_TIMEOUT_S) as http:
        hub_up = await _check_hub(config, http, results)
        if hub_up and keys is not None:
            await _check_identity(config, keys, hub_transport, clock, results)
            await _check_directory(config, keys, http, results)
            await _check_key_lifetimes(config, keys, http, results)

    credentials = await _check_broker_identity(config, results)
    if credentials is False:
        return results
    await _check_broker(config, describe or partial(_describe_topic, credentials=credentials), results)
    if credentials is not None and _passed(results, "topics"):
        await _check_acls(config, credentials, results)
        if _passed(results, "acls"):
            topics = TopicNames(config.kafka.topic_prefix)
            results.append(await policy_closed_result(config.kafka.bootstrap_servers or "", topics, credentials))
    return results


def _check_keys(config: ConnectorConfig, results: list[CheckResult]) -> AgencyKeyPair | None:
    try:
        keys, _ = load_keys(config)
    except OneDoorError as exc:
        results.append(CheckResult.failed("keys", KEYS_UNREADABLE, exc.message))
        return None
    results.append(
        CheckResult.passed("keys", f"the agency keys load from {config.keys_dir} (signing key {keys.signing_key_id})")
    )
    return keys


def _key_modes(config: ConnectorConfig) -> dict[Path, int | None]:
    paths = [config.keys_dir / "signing.pem", config.keys_dir / "encryption.pem", config.matching_key_path]
    modes: dict[Path, int | None] = {}
    for path in paths:
        try:
            modes[path] = os.stat(path).st_mode & 0o777
        except OSError:
            modes[path] = None
    return modes


async def _check_hub(config: ConnectorConfig, http: httpx.AsyncClient, results: list[CheckResult]) -> bool:
    try:
        response = await http.get("/healthz")
    except httpx.HTTPError as exc:
        results.append(
            CheckResult.failed(
                "hub", HUB_UNREACHABLE, f"the hub at {config.hub_url} does not answer ({type(exc).__name__})"
            )
        )
        return False
    if not response.is_success:
        results.append(
            CheckResult.failed(
                "hub", HUB_UNREACHABLE, f"the hub at {config.hub_url} answers /healthz with HTTP {response.status_code}"
            )
        )
        return False
    results.append(CheckResult.passed("hub", f"the hub at {config.hub_url} answers"))
    return True


async def _check_identity(
    config: ConnectorConfig,
    keys: AgencyKeyPair,
    transport: httpx.AsyncBaseTransport | None,
    clock: Callable[[], float],
    results: list[CheckResult],
) -> None:
    async with HubClient(config.hub_url, keys, transport=transport, timeout_s=HTTP_TIMEOUT_S) as hub:
        before = clock()
        try:
            answer = await hub.call("GET", "/auth/agency")
        except Unavailable as exc:
            results.append(CheckResult.failed("identity", HUB_UNREACHABLE, exc.message))
            return
        except OneDoorError as exc:
            results.append(identity_refused_result(exc.code, exc.message))
            return
        after = clock()
    if not isinstance(answer, dict):
        results.append(CheckResult.failed("identity", IDENTITY_REFUSED, "the hub's /auth/agency answer is not JSON"))
        return
    verdict = identity_result(config.agency, answer.get("agency"), answer.get("key_id"))
    results.append(verdict)
    if not verdict.ok:
        return
    try:
        server_time = datetime.fromisoformat(str(answer["server_time"]))
    except (KeyError, ValueError):
        results.append(CheckResult.failed("clock", CLOCK_SKEW, "the hub's answer has no readable server_time"))
        return
    results.append(clock_result(server_time, (before + after) / 2))


async def _check_directory(
    config: ConnectorConfig, keys: AgencyKeyPair, http: httpx.AsyncClient, results: list[CheckResult]
) -> None:
    try:
        response = await http.get("/directory")
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        results.append(
            CheckResult.failed(
                "directory",
                HUB_UNREACHABLE,
                f"cannot read the hub's directory at {config.hub_url} ({type(exc).__name__})",
            )
        )
        return
    results.append(directory_result(document, keys))


async def _check_broker(config: ConnectorConfig, describe: Describe, results: list[CheckResult]) -> None:
    bootstrap = config.kafka.bootstrap_servers
    if not bootstrap:
        results.append(
            CheckResult.failed(
                "broker",
                BROKER_UNREACHABLE,
                "no broker configured: set ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS (or KAFKA_BOOTSTRAP_SERVERS)",
            )
        )
        return
    topics = TopicNames(config.kafka.topic_prefix)
    wanted = [("outbound topic", topics.outbound(config.agency_id)), ("inbox", topics.inbox(config.agency_id))]
    wanted.append(("registry topic", topics.registry))  # key revocations within a second (registry_watch)
    missing: list[str] = []
    denied: list[str] = []
    for label, topic in wanted:
        try:
            await describe(bootstrap, topic)
        except NotFound:
            missing.append(f"{label} {topic}")
        except Forbidden:
            denied.append(f"{label} {topic}")
        except OneDoorError as exc:
            results.append(
                CheckResult.failed(
                    "broker", BROKER_UNREACHABLE, f"the broker at {bootstrap} does not answer ({exc.code})"
                )
            )
            return
    results.append(CheckResult.passed("broker", f"the broker at {bootstrap} answers"))
    if denied:
        results.append(
            CheckResult.failed(
                "topics",
                ACL_MISSING,
                "the broker does not let this connector see its own " + ", ".join(denied) + ": its ACLs are "
                "missing; run onedoor connector enrol again (the hub grants them)",
            )
        )
    elif missing:
        results.append(
            CheckResult.failed(
                "topics",
                TOPIC_MISSING,
                "missing on the broker: " + ", ".join(missing) + registry_hint(missing, topics),
            )
        )
    else:
        names = ", ".join(topic for _, topic in wanted[:-1]) + f" and {wanted[-1][1]}"
        results.append(CheckResult.passed("topics", f"the agency's topics {names} exist"))


async def _describe_topic(bootstrap: str, topic: str, credentials: ClientCredentials | None = None) -> object:
    try:
        return await describe_partitions(bootstrap, topic, within=BROKER_TIMEOUT_S, credentials=credentials)
    except OneDoorError as exc:
        if credentials is not None and exc.code == "kafka.admin_failed" and "code 29" in exc.message:
            raise Forbidden(ACL_MISSING, f"{credentials.username} may not describe {topic}") from None
        raise


def _passed(results: list[CheckResult], check: str) -> bool:
    return any(result.check == check and result.ok for result in results)


# --- broker identity and ACLs (issue 6) --------------------------------------------------------------


async def _check_broker_identity(
    config: ConnectorConfig, results: list[CheckResult]
) -> ClientCredentials | Literal[False] | None:
    """The broker credentials, after the broker accepted them; ``None``: none configured; ``False``: stop here."""
    try:
        credentials = config.kafka.credentials()
    except OneDoorError as exc:
        results.append(CheckResult.failed("broker_identity", *_config_problem(exc)))
        return False
    bootstrap = config.kafka.bootstrap_servers
    if not bootstrap:
        return credentials  # _check_broker says so
    try:
        await authenticate(bootstrap, credentials, within=BROKER_TIMEOUT_S)
    except Unauthenticated:
        results.append(
            CheckResult.failed("broker_identity", BROKER_CREDENTIALS, broker_login_sentence(bootstrap, credentials))
        )
        return False
    except OneDoorError as exc:
        if not exc.code.startswith("kafka.tls_"):
            return credentials  # unreachable: _check_broker says so
        results.append(CheckResult.failed("broker_identity", BROKER_TLS, broker_tls_sentence(exc)))
        return False
    if credentials is not None:
        tls = " over TLS" if credentials.ca_file is not None else ""
        results.append(
            CheckResult.passed(
                "broker_identity",
                f"the broker at {bootstrap} accepts the SCRAM credentials of {credentials.username}{tls}",
            )
        )
    return credentials


def _config_problem(exc: OneDoorError) -> tuple[str, str]:
    """The check code and sentence for broker settings that cannot be used."""
    if exc.code == CA_FILE_CODE:
        return BROKER_TLS, f"{exc.message} (ONEDOOR_CONNECTOR_KAFKA__CA_FILE)"
    return BROKER_CREDENTIALS, f"{exc.message}: run onedoor connector enrol"


def broker_tls_sentence(exc: OneDoorError) -> str:
    """What a failed TLS connection to the broker means, in words (``kafka.tls_*``)."""
    if exc.code == "kafka.tls_required":
        return (
            f"{exc.message}: set ONEDOOR_CONNECTOR_KAFKA__CA_FILE to the broker's CA certificate "
            "(onedoor connector enrol writes it when the hub hands it out)"
        )
    if exc.code == "kafka.tls_untrusted":
        return (
            f"{exc.message}: is ONEDOOR_CONNECTOR_KAFKA__CA_FILE the broker's CA? "
            "onedoor connector enrol fetches it from the hub"
        )
    return f"TLS to the broker failed: {exc.message}"


def broker_login_sentence(bootstrap: str, credentials: ClientCredentials | None) -> str:
    """What a refused broker login means, in words."""
    if credentials is None:
        return (
            f"the broker at {bootstrap} is secured and this connector has no broker credentials: "
            "run onedoor connector enrol"
        )
    return (
        f"the broker refused the SCRAM credentials for {credentials.username}: the password in "
        "ONEDOOR_CONNECTOR_KAFKA__PASSWORD_FILE is wrong or was rotated; run onedoor connector enrol again"
    )


async def _check_acls(config: ConnectorConfig, credentials: ClientCredentials, results: list[CheckResult]) -> None:
    bootstrap = config.kafka.bootstrap_servers
    assert bootstrap is not None  # noqa: S101 - the topics check passed
    topics = TopicNames(config.kafka.topic_prefix)
    stranger = AgencyId("acl-probe" if config.agency != "acl-probe" else "acl-probe-2")
    other = topics.inbox(stranger)
    try:
        readable = await can_read(bootstrap, other, credentials, within=BROKER_TIMEOUT_S)
    except OneDoorError as exc:
        results.append(
            CheckResult.failed("acls", BROKER_UNREACHABLE, f"could not probe the broker's ACLs ({exc.code})")
        )
        return
    if readable:
        results.append(
            CheckResult.failed(
                "acls",
                ACL_OPEN,
                f"the broker let {credentials.username} read another agency's inbox ({other}): it does not enforce "
                "ACLs (allow.everyone.if.no.acl.found? no authorizer?): tell the hub operator",
            )
        )
        return
    results.append(
        CheckResult.passed(
            "acls",
            f"the broker refuses {credentials.username} another agency's inbox ({other}): it enforces ACLs "
            "(probed: describing and reading that one topic; not every rule)",
        )
    )


def registry_hint(missing: list[str], topics: TopicNames) -> str:
    """Why the registry topic may be missing, when it is, in words."""
    if not any(item.endswith(f" {topics.registry}") for item in missing):
        return ""
    return (
        " (the hub API makes the registry topic when it starts with a broker; until it exists, a revoked key "
        "reaches this connector only at its periodic refresh)"
    )


async def policy_closed_result(bootstrap: str, topics: TopicNames, credentials: ClientCredentials) -> CheckResult:
    """Whether the broker refuses this connector the policy topic (every consent change's subject token: S7)."""
    policy = topics.policy
    try:
        readable = await can_read(bootstrap, policy, credentials, within=BROKER_TIMEOUT_S)
    except OneDoorError as exc:
        return CheckResult.failed("policy_topic", BROKER_UNREACHABLE, f"could not probe the broker's ACLs ({exc.code})")
    if readable:
        return CheckResult.failed(
            "policy_topic",
            ACL_STALE,
            f"the broker lets {credentials.username} read {policy}, whose consent events name other agencies' "
            "children by token: these ACLs predate the registry topic; run onedoor connector enrol again "
            "(the hub replaces them)",
        )
    return CheckResult.passed(
        "policy_topic", f"the broker refuses {credentials.username} the policy topic {policy} (consent events)"
    )


def all_ok(results: list[CheckResult]) -> bool:
    """Did every check pass (and was there at least one)?"""
    return bool(results) and all(result.ok for result in results)


# --- key lifetimes and rotation leftovers (onboarding and key rotation) --------------------------

KEY_EXPIRED: Final = "check.key_expired"
PREVIOUS_KEYS: Final = "check.previous_keys"
KEY_LIFETIME_UNREADABLE: Final = "check.key_lifetime_unreadable"
KEY_WARN_DAYS: Final = 14
"""Warn when a current key's ``not_after`` at the hub is closer than this."""


def _my_key_ends(document: Any, keys: AgencyKeyPair) -> list[tuple[str, str, datetime]]:
    """(use, key id, not_after) of this connector's current keys in the hub's directory.

    Raises:
        ValueError: with what is wrong, when the directory is not what the hub serves.
    """
    agency = str(keys.agency)
    items = document.get("agencies", []) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError("it has no list of agencies")  # noqa: TRY004 - becomes a failed check, in words
    entry = next((item for item in items if isinstance(item, dict) and item.get("id") == agency), {})
    groups = [entry.get("signing_keys") or [], entry.get("encryption_keys") or []]
    if not all(isinstance(group, list) for group in groups):
        raise ValueError(f"{agency}'s keys are not lists")
    mine = {str(keys.signing_key_id): "signing", str(keys.encryption_key_id): "encryption"}
    ends = []
    for listed in [*groups[0], *groups[1]]:
        if not isinstance(listed, dict):
            raise ValueError(f"a key of {agency} is not an object")  # noqa: TRY004 - as above
        use = mine.get(str(listed.get("key_id")))
        if use is None or not listed.get("not_after"):
            continue
        try:
            not_after = datetime.fromisoformat(str(listed["not_after"]))
        except ValueError:
            raise ValueError(f"the {use} key's not_after is not an ISO 8601 time") from None
        # The hub writes UTC; a bare time is read as UTC rather than failing to compare.
        ends.append((use, str(listed["key_id"]), not_after if not_after.tzinfo else not_after.replace(tzinfo=UTC)))
    return ends


def key_lifetime_result(
    document: Any, keys: AgencyKeyPair, *, now: datetime, warn_days: int = KEY_WARN_DAYS
) -> CheckResult:
    """The agency's current keys at the hub must not be past, or (a warning) near, their ``not_after``."""
    try:
        ends = _my_key_ends(document, keys)
    except ValueError as exc:
        return _unreadable(str(exc))
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    expired, soon = [], []
    for use, key_id, not_after in ends:
        left = not_after - moment
        if left.total_seconds() <= 0:
            expired.append(f"the {use} key {key_id} expired at the hub")
        elif left.days < warn_days:
            soon.append(f"the {use} key {key_id} expires in {left.days} days")
    if expired:
        return CheckResult.failed(
            "key_lifetime", KEY_EXPIRED, "; ".join(expired) + ": run `onedoor connector rotate-keys` at once"
        )
    if soon:
        return CheckResult.passed(
            "key_lifetime", "WARNING: " + "; ".join(soon) + ": run `onedoor connector rotate-keys` before then"
        )
    return CheckResult.passed("key_lifetime", "the current keys have no end of validity within the next weeks")


def _unreadable(why: str) -> CheckResult:
    return CheckResult.failed(
        "key_lifetime",
        KEY_LIFETIME_UNREADABLE,
        f"could not read the key lifetimes in the hub's directory: {why}; check the hub URL and the hub's version",
    )


def previous_keys_result(config: ConnectorConfig, *, now: datetime | None = None) -> CheckResult:
    """Encryption keys kept from rotations must open with the passphrase; a pending rotation is named."""
    from connectors.agent.keyfiles import PENDING, load_previous  # noqa: PLC0415 - only this check needs it

    passphrase = None if config.keys_passphrase is None else config.keys_passphrase.get_secret_value().encode()
    try:
        kept = load_previous(config.keys_dir, passphrase, now=now)
    except OneDoorError as exc:
        return CheckResult.failed("previous_keys", PREVIOUS_KEYS, f"a previous encryption key: {exc.message}")
    pending = sorted(p.name for p in (config.keys_dir / PENDING).glob("*.pem"))
    if pending:
        return CheckResult.failed(
            "previous_keys",
            PREVIOUS_KEYS,
            f"an interrupted rotation left {', '.join(pending)} in {config.keys_dir / PENDING}: "
            "run `onedoor connector rotate-keys` again to finish it",
        )
    return CheckResult.passed(
        "previous_keys", f"{len(kept)} previous encryption key(s) still open messages sealed before a rotation"
    )


async def _check_key_lifetimes(
    config: ConnectorConfig, keys: AgencyKeyPair, http: httpx.AsyncClient, results: list[CheckResult]
) -> None:
    results.append(previous_keys_result(config))
    try:
        response = await http.get("/directory")
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError):
        return  # the directory check has said why already
    results.append(key_lifetime_result(document, keys, now=datetime.now(UTC)))
