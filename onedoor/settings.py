"""One settings object, built once at the entry point and passed down.

Environment variables use the ``ONEDOOR_`` prefix and ``__`` for nesting, e.g.
``ONEDOOR_DB__URL`` or ``ONEDOOR_KAFKA__TOPIC_PREFIX``. The one exception is the
conventional ``KAFKA_BOOTSTRAP_SERVERS``, which points every component at an existing
cluster. Domain code never reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from onedoor.kafka.security import ClientCredentials, credentials_from


def _default_home() -> Path:
    return Path(os.environ.get("ONEDOOR_HOME", Path.cwd() / ".onedoor"))


class KafkaSettings(BaseModel):
    """Where the broker is, and how OneDoor names its topics."""

    bootstrap_servers: str | None = None
    """An existing cluster (``host:port,...``); unset means OneDoor brings one up."""
    topic_prefix: str = "onedoor"
    """Every topic OneDoor makes starts with this; tests use a random one each."""
    version: str = "3.9.1"
    """Apache Kafka version run by the embedded JVM broker (Maven Central coordinates)."""
    nodes: Literal[1, 3] = 1
    """How many KRaft nodes the embedded broker starts."""
    partitions: int = Field(default=3, ge=1, le=64)
    """Partitions per OneDoor topic."""
    replication_factor: int = Field(default=1, ge=1, le=5)
    """Replicas per OneDoor topic: 3 on a production cluster (`onedoor kafka up --nodes 3` locally)."""
    username: str | None = None
    """The hub's SCRAM user on a secured broker (router and API clients); unset: PLAINTEXT, no identity."""
    password_file: Path | None = None
    """A file (mode 0600) holding that user's password (``onedoor.kafka.security``)."""
    admin_username: str | None = None
    """A broker super user the API provisions agencies' SCRAM users and ACLs with; unset: no provisioning."""
    admin_password_file: Path | None = None
    """A file (mode 0600) holding the admin user's password."""
    ca_file: Path | None = None
    """The broker's CA certificate (PEM): set, every client speaks SASL_SSL and verifies the broker
    against it (``onedoor.kafka.tls``); the hub also hands it to enrolling connectors. Unset: SASL_PLAINTEXT."""

    def credentials(self) -> ClientCredentials | None:
        """The hub's broker credentials, or ``None`` for PLAINTEXT (raises ``kafka.password_file``/``ca_file``)."""
        return credentials_from(self.username, self.password_file, self.ca_file)

    def admin_credentials(self) -> ClientCredentials | None:
        """The provisioning admin's credentials, or ``None`` when provisioning is off."""
        return credentials_from(self.admin_username, self.admin_password_file, self.ca_file)


class DatabaseSettings(BaseModel):
    """The hub's own database: agencies, contracts, audit. Never case data."""

    url: str | None = None
    """SQLAlchemy URL; unset means SQLite under the OneDoor home directory."""


class RouterSettings(BaseModel):
    """Limits the hub router enforces on every envelope."""

    max_envelope_bytes: int = Field(default=1_048_576, ge=1024)
    max_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    """The longest an envelope may live; the replay window covers exactly this."""
    clock_skew_seconds: int = Field(default=120, ge=0)
    """How far in the future ``created_at`` may be before it is refused."""
    batch_max_records: int = Field(default=2000, ge=1)
    status_hard_deadline_seconds: float = Field(default=10.0, gt=0, le=3600)
    """A status check is answerable until its ``expires_at``, capped at ``created_at`` plus this; later replies
    are refused (``status.reply_late``)."""
    status_soft_deadline_seconds: float = Field(default=2.0, gt=0)
    """When a requester stops waiting; the hub refuses no reply for it, it only counts replies after it."""
    status_rate_per_second: float = Field(default=5.0, gt=0)
    """New status checks per second each requesting agency may send on average (``status.rate_limited``)."""
    status_rate_burst: int = Field(default=20, ge=1)
    """New status checks a requesting agency may send at once after a quiet spell."""
    status_enumeration_threshold: int = Field(default=120, ge=1)
    """More checks than this from one agency within the window raise ``status.enumeration_suspected``."""
    status_enumeration_window_seconds: int = Field(default=600, ge=1)
    """The sliding window of the enumeration alert; at most one alert per agency per window."""
    status_max_outstanding: int = Field(default=100_000, ge=1)
    """Outstanding status checks a router process remembers; beyond it the oldest is forgotten."""

    @model_validator(mode="after")
    def _soft_before_hard(self) -> RouterSettings:
        if self.status_soft_deadline_seconds > self.status_hard_deadline_seconds:
            raise ValueError("status_soft_deadline_seconds must not exceed status_hard_deadline_seconds")
        return self


class ApiSettings(BaseModel):
    """The hub's HTTP API."""

    host: str = "127.0.0.1"
    port: int = 8470
    expiry_check_seconds: float = Field(default=60.0, gt=0)
    """How often the API marks agreements past their end as expired (the router refuses them anyway)."""
    audit_checkpoint_seconds: float = Field(default=60.0, gt=0)
    """How often the API signs a checkpoint of the audit chain (only when the chain grew)."""
    audit_verify_seconds: float = Field(default=300.0, gt=0)
    """How often the API re-verifies the whole audit chain in the background (``GET /audit/chain``)."""
    broker_reconcile_seconds: float = Field(default=30.0, gt=0)
    """How often the API withdraws what a suspended agency still holds at the broker (``hub.broker.reconcile``)."""


class IntakeSettings(BaseModel):
    """The public referral form (``/refer``): limits that keep it usable by people and costly for bots."""

    max_request_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)
    """A larger form post is refused with a 413 page before it is parsed."""
    rate_per_minute: int = Field(default=5, ge=1)
    """Form posts one client address may make a minute (429 page beyond it); in memory, per API process."""
    min_fill_seconds: float = Field(default=3.0, ge=0)
    """A form sent sooner after it was served is taken for a bot: it looks accepted but goes nowhere."""
    max_fill_seconds: int = Field(default=24 * 3600, ge=60)
    """A page older than this asks the person to send the form again."""


class AuthSettings(BaseModel):
    """Who may change the hub: bearer JWTs (EdDSA or ES256) from an OIDC-style issuer.

    In prod the hub only verifies, with ``public_key_path``; it refuses to start without it.
    In dev and test, with no key configured, the hub trusts its development issuer, whose
    Ed25519 key is kept 0600 under the home and which ``onedoor admin token`` mints from.
    """

    issuer: str | None = None
    """The ``iss`` every token must carry; unset means the development issuer (refused in prod)."""
    audience: str = "onedoor-hub"
    """The ``aud`` every token must carry (or include)."""
    public_key_path: Path | None = None
    """The issuer's public key: a PEM file (Ed25519 or P-256) or a JWKS file. Required in prod."""
    token_ttl_seconds: int = Field(default=3600, ge=60, le=24 * 3600)
    """Lifetime of tokens the development issuer mints unless told otherwise."""
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated on ``exp``, ``iat`` and ``nbf``."""


class ConsoleSettings(BaseModel):
    """The hub's web console (``/console``): sign-in sessions (``hub.console``)."""

    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """A session unused this long ends."""
    absolute_hours: int = Field(default=8, ge=1, le=24)
    """A session ends this long after sign-in at the latest (earlier if its token expires)."""
    secure_cookie: bool | None = None
    """The session cookie's ``Secure`` flag; unset: on unless env is dev or test (prod refuses off)."""


class OpsSettings(BaseModel):
    """The ops dashboard's data (``hub.ops``): snapshot cadence, consumer lag, ``/metrics`` access."""

    snapshot_interval_seconds: float = Field(default=1.0, ge=0.1, le=60)
    """How often the API rebuilds the dashboard snapshot from new audit rows."""
    lag_refresh_seconds: float = Field(default=5.0, ge=1, le=300)
    """How often consumer lag per agency inbox is read from the broker."""
    metrics_open: bool = False
    """``/metrics`` without a token: only where the API port is reachable from a private network alone."""


class TelemetrySettings(BaseModel):
    """OpenTelemetry tracing (``hub.ops.telemetry``): off unless enabled; needs ``onedoor[telemetry]``."""

    enabled: bool = False
    exporter: Literal["otlp", "console"] = "otlp"
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint, e.g. ``http://collector:4318/v1/traces`` (unset: the SDK's default)."""
    service_name: str = "onedoor-hub"


class Settings(BaseSettings):
    """Everything configurable about a OneDoor process."""

    model_config = SettingsConfigDict(env_prefix="ONEDOOR_", env_nested_delimiter="__", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = "dev"
    home: Path = Field(default_factory=_default_home)
    """Working directory for the embedded broker, SQLite files and demo keys."""
    kafka: KafkaSettings = KafkaSettings()
    db: DatabaseSettings = DatabaseSettings()
    router: RouterSettings = RouterSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    intake: IntakeSettings = IntakeSettings()
    ops: OpsSettings = OpsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    console: ConsoleSettings = ConsoleSettings()

    @model_validator(mode="after")
    def _conventional_bootstrap(self) -> Settings:
        # KAFKA_BOOTSTRAP_SERVERS is the name every Kafka tool understands; honour it.
        conventional = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if conventional and not self.kafka.bootstrap_servers:
            object.__setattr__(self, "kafka", self.kafka.model_copy(update={"bootstrap_servers": conventional}))
        return self

    @model_validator(mode="after")
    def _fail_closed(self) -> Settings:
        if self.env == "prod" and (self.db.url is None or self.db.url.startswith("sqlite")):
            raise ValueError("prod needs a server database: set ONEDOOR_DB__URL to a PostgreSQL URL")
        if self.env == "prod" and self.console.secure_cookie is False:
            raise ValueError("prod needs Secure console cookies: unset ONEDOOR_CONSOLE__SECURE_COOKIE")
        return self

    @property
    def hub_key_path(self) -> Path:
        """The hub's own X25519 key (it keys the hub MAC; it decrypts nothing)."""
        return self.home / "hub" / "hub-key.pem"

    @property
    def issuer_key_path(self) -> Path:
        """The development token issuer's Ed25519 key (dev and test only)."""
        return self.home / "hub" / "issuer-key.pem"

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to SQLite in the home directory."""
        return self.db.url or f"sqlite:///{self.home / 'hub.sqlite3'}"
