"""One settings object for a connector process, built once at the entry point and passed down.

Environment variables use the ``ONEDOOR_CONNECTOR_`` prefix and ``__`` for nesting, e.g.
``ONEDOOR_CONNECTOR_AGENCY``, ``ONEDOOR_CONNECTOR_API__TOKEN_FILE`` or
``ONEDOOR_CONNECTOR_DEADLINES__SOFT_SECONDS``. ``KAFKA_BOOTSTRAP_SERVERS`` is honoured as the
broker when ``ONEDOOR_CONNECTOR_KAFKA__BOOTSTRAP_SERVERS`` is unset.

Fail closed: the local REST API always needs a bearer token (``api.token`` or ``api.token_file``,
one of them, at least ``MIN_TOKEN_CHARS`` characters; a token file must be mode 0600). Errors
name the variable, never its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.files import read_secret_line
from onedoor.ids import AgencyId
from onedoor.kafka.security import ClientCredentials, credentials_from

ENV_PREFIX: Final = "ONEDOOR_CONNECTOR_"
MIN_TOKEN_CHARS: Final = 32
"""The shortest API token accepted (``onedoor connector token FILE`` writes 43 characters)."""
INVALID_CONFIG: Final = "connector.invalid_config"
TOKEN_FILE: Final = "connector.token_file"  # noqa: S105 - an error code, not a secret


def _agency(value: str) -> str:
    try:
        return str(AgencyId(value))
    except OneDoorError:
        raise ValueError("not an agency id (lower-case letters, digits and hyphens)") from None


class KafkaConfig(BaseModel):
    """The broker the connector reads its inbox from and writes its outbound topic to."""

    bootstrap_servers: str | None = None
    """``host:port,...``; unset means ``KAFKA_BOOTSTRAP_SERVERS``; a connector never starts a broker."""
    topic_prefix: str = "onedoor"
    """The hub's topic prefix (``ONEDOOR_KAFKA__TOPIC_PREFIX`` on the hub)."""
    intake_replication_factor: int = Field(default=1, ge=1, le=10)
    """A triage desk's intake topic, when the connector makes it first: set it as the hub's
    replication factor (``onedoor.intake_topic``), since Kafka cannot change it afterwards."""
    username: str | None = None
    """The agency's SCRAM user on a secured broker (``agency-<id>``, ``onedoor connector enrol``); unset: PLAINTEXT."""
    password_file: Path | None = None
    """A file (mode 0600) holding its password (``<data dir>/broker.password`` after enrolment)."""
    ca_file: Path | None = None
    """The broker's CA certificate (PEM; ``<data dir>/broker-ca.pem`` after enrolment): SASL_SSL; unset: no TLS."""

    def credentials(self) -> ClientCredentials | None:
        """The broker credentials, or ``None`` for PLAINTEXT (raises ``kafka.password_file``, ``kafka.ca_file``)."""
        return credentials_from(self.username, self.password_file, self.ca_file)


class ApiConfig(BaseModel):
    """The connector's local REST API, for the force's own systems and ``onedoor status-check``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=1, le=65535)
    token: SecretStr | None = None
    """The bearer token callers must send; or ``token_file``."""
    token_file: Path | None = None
    """A file (mode 0600) holding the bearer token on its first line; or ``token``."""

    @model_validator(mode="after")
    def _one_token(self) -> ApiConfig:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("set exactly one of api.token and api.token_file: the REST API always needs a token")
        if self.token is not None and len(self.token.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError(f"api.token must have at least {MIN_TOKEN_CHARS} characters")
        return self


class DeadlineConfig(BaseModel):
    """How long a status check waits for answers (soft) and how long it may be answered (hard)."""

    soft_seconds: float = Field(default=2.0, gt=0)
    hard_seconds: float = Field(default=10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _soft_before_hard(self) -> DeadlineConfig:
        if self.soft_seconds > self.hard_seconds:
            raise ValueError("deadlines.soft_seconds must not exceed deadlines.hard_seconds")
        return self


class WorkbenchConfig(BaseModel):
    """The workbench (``/workbench``): staff sign-in, inbox, referral detail, triage, alert timelines."""

    enabled: bool = True
    database_url: str | None = None
    """The workbench store; unset: ``sqlite:///<data dir>/workbench.sqlite3``. PostgreSQL works too."""
    secure_cookies: bool = True
    """Mark cookies ``Secure`` (HTTPS only); turn off only for plain-HTTP development on this machine."""
    secret_file: Path | None = None
    """Signs session cookies (made on first start, mode 0600); unset: ``<data dir>/workbench.secret``."""
    session_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    session_absolute_hours: float = Field(default=8.0, gt=0, le=24)
    sign_in_attempts: int = Field(default=5, ge=1, le=100)
    """Failed sign-ins allowed per username and per address in 15 minutes."""


class ConnectorConfig(BaseSettings):
    """Everything configurable about one agency's connector process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True)

    agency: Annotated[str, AfterValidator(_agency)]
    """The agency this connector is, as registered with the hub."""
    keys_dir: Path
    """Where ``signing.pem`` and ``encryption.pem`` are (``AgencyKeyPair.save``)."""
    keys_passphrase: SecretStr | None = None
    """Decrypts the key files, if they were saved with one."""
    hub_url: str = "http://127.0.0.1:8470"
    """The hub API: ``GET /directory`` and ``GET /policy``."""
    matching_key_path: Path
    """The federation matching key (mode 0600; ``MatchingKey.save``)."""
    records_path: Path | None = None
    """The agency's status records (``.json`` or ``.csv``); unset: every check is answered "no record"."""
    adapters_file: Path | None = None
    """The agency's adapters file (YAML, ``connectors.adapters``): its systems plugged in (SQL, webhook, folder)."""
    disclosure_log_path: Path
    """The disclosure log (SQLite file): every record disclosed, for subject access requests."""
    policy_refresh_seconds: float = Field(default=30.0, gt=0)
    """How often the sharing policy is fetched again from the hub."""
    status_refresh_seconds: float = Field(default=300.0, ge=0, le=24 * 3600)
    """How often the status records (records file, adapters) are read again and the status index rebuilt
    if they changed (``connectors.agent.status_refresh``); ``0``: only at start."""
    heartbeat_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How often the connector tells the hub it is alive (``connectors.agent.heartbeat``); 3 missed: late."""
    notices_kept: int = Field(default=1000, ge=1, le=100_000)
    """How many owner notices ``GET /notifications`` can list (in memory; the disclosure log keeps all)."""
    kafka: KafkaConfig = KafkaConfig()
    api: ApiConfig
    deadlines: DeadlineConfig = DeadlineConfig()
    data_dir: Path | None = None
    """Where the connector keeps its own files (workbench store, secret); unset: the disclosure log's directory."""
    intake_key_path: Path | None = None
    """A triage desk's intake key (``IntakeKeyPair.save``): set it to read public referrals from the hub."""
    intake_previous_key_paths: list[Path] = Field(default_factory=list)
    """Intake keys used before the current one (JSON list of paths in the environment): referrals
    still queued under an old key open after a rotation. Drop a key once its backlog is read."""
    workbench: WorkbenchConfig = WorkbenchConfig()

    @model_validator(mode="after")
    def _conventional_bootstrap(self) -> ConnectorConfig:
        conventional = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if conventional and not self.kafka.bootstrap_servers:
            object.__setattr__(self, "kafka", self.kafka.model_copy(update={"bootstrap_servers": conventional}))
        return self

    @property
    def agency_id(self) -> AgencyId:
        """``agency`` as an ``AgencyId``."""
        return AgencyId(self.agency)

    @property
    def data_directory(self) -> Path:
        """``data_dir``, or the directory of the disclosure log."""
        return self.data_dir or self.disclosure_log_path.parent

    def workbench_database_url(self) -> str:
        """The workbench store's URL."""
        return self.workbench.database_url or f"sqlite:///{self.data_directory / 'workbench.sqlite3'}"

    def workbench_secret_path(self) -> Path:
        """Where the workbench's cookie-signing secret is."""
        return self.workbench.secret_file or self.data_directory / "workbench.secret"

    @property
    def api_url(self) -> str:
        """The local REST API's base URL, for the CLI."""
        host = "127.0.0.1" if self.api.host in ("0.0.0.0", "::") else self.api.host  # noqa: S104 - a comparison
        return f"http://{host}:{self.api.port}"

    def api_token(self) -> str:
        """The REST API's bearer token, from ``api.token`` or read from ``api.token_file``.

        Raises:
            ValidationFailed: ``connector.token_file`` when the file cannot be read, is open to
                others, or holds a token that is too short.
        """
        if self.api.token is not None:
            return self.api.token.get_secret_value().strip()
        assert self.api.token_file is not None  # noqa: S101 - the validator requires one of them
        return read_token_file(self.api.token_file)


def read_token_file(path: Path) -> str:
    """The token on the first line of ``path`` (mode 0600).

    Raises:
        ValidationFailed: ``connector.token_file``; the message never holds the token.
    """
    return read_secret_line(path, code=TOKEN_FILE, what="API token", min_chars=MIN_TOKEN_CHARS)


def load_config(**overrides: Any) -> ConnectorConfig:
    """Build the config from the environment (and ``overrides``).

    Raises:
        ValidationFailed: ``connector.invalid_config``, naming each bad variable and why, never a value.
    """
    try:
        return ConnectorConfig(**overrides)
    except ValidationError as exc:
        raise ValidationFailed(INVALID_CONFIG, describe_errors(exc)) from None


def load_config_file(path: Path) -> ConnectorConfig:
    """Build the config from an env file of ``ONEDOOR_CONNECTOR_*=value`` lines (the environment wins).

    Raises:
        ValidationFailed: ``connector.invalid_config`` (also when the file cannot be read).
    """
    if not path.is_file():
        raise ValidationFailed(INVALID_CONFIG, f"no connector config file at {path}")
    return load_config(_env_file=path)


def describe_errors(exc: ValidationError) -> str:
    """``ONEDOOR_CONNECTOR_API__PORT: Input should be ...; ...``: where and why, without the input."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = "__".join(str(part) for part in error["loc"] if isinstance(part, str)).upper()
        name = f"{ENV_PREFIX}{where}" if where else "ONEDOOR_CONNECTOR_*"
        problems.append(f"{name}: {error['msg']}")
    return "; ".join(problems)
