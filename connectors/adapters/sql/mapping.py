"""The SQL adapter's options: a YAML mapping from the agency's tables and views to contract fields.

Example (the ``options`` of one ``kind: sql`` entry of the adapters file)::

    url: sqlite:///council.sqlite3      # or url_env: COUNCIL_DB_URL (the URL, with its password, kept out of the file)
    status:                             # (a) the local status index
      table: onedoor_status             # a table or view; or query: "SELECT ..."
      columns:
        record_reference: child_ref
        given_name: forename
        family_name: surname
        date_of_birth: dob
        postcode: postcode
        nrm_stage: {column: nrm_code, map: {RG_POS: REASONABLE_GROUNDS_POSITIVE}, default: NOT_KNOWN}
        case_open: {column: case_status, map: {OPEN: true, CLOSED: false}}
        missing_episodes_last_90_days: missing_90d
        lead_role: worker_role
        lead_team: team_name
      flags:
        - {flag: CHILD_PROTECTION_PLAN, column: plan_type, when: [CP]}
        - {flag: LOOKED_AFTER, column: looked_after}            # any true value
    write:                              # (c) received messages into the agency's tables
      - contract: onedoor.referral.MasterReferral
        table: contacts
        dedupe_on: message_id           # a row with this column's value already there: delivered before
        columns:
          message_id: $message_id
          source_agency: $sender
          forename: child.given_name
          concerns: {field: concern_categories, join: "; "}
          status: {value: NEW}

``events`` (case events sent as messages) is shown in docs/architecture.md, *The SQL adapter*.

A column source is a column name or ``{column, map, default}``; a write source is a contract
field path, one of ``MESSAGE_FIELDS`` (``$message_id``...), or ``{field | value, map, join}``.
Map keys match case-insensitively; quote codes YAML would read as booleans (``'yes'``, ``'on'``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from connectors.adapters.subjects import BODY_FIELD, about_a_child
from connectors.identity.keys import MatchingKey
from connectors.identity.subject import SubjectColumns
from connectors.status.messages import NrmStage, StatusFlag
from onedoor.errors import ValidationFailed

NO_SUBJECT_TOKEN: Final = "adapter.sql.no_subject_token"  # noqa: S105 - an error code
NO_MATCHING_KEY: Final = "adapter.sql.no_matching_key"

MESSAGE_FIELDS: Final = (
    "$message_id",
    "$sender",
    "$contract",
    "$contract_version",
    "$purpose",
    "$correlation_id",
    "$subject_token",
    "$created_at",
    "$received_at",
)
"""Values from the message's header (and when it was received), not its body."""


def map_key(value: Any) -> str:
    """The form map keys and database values are compared in: ``true``/``false`` or lower-case text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _column_source(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


def _write_source(value: Any) -> Any:
    return {"field": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Mapped(_Strict):
    """A source whose ``map`` of codes is compared in ``map_key`` form, so the YAML may spell keys freely."""

    map: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normal_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("map"), dict):
            data = {**data, "map": {map_key(k): v for k, v in data["map"].items()}}
        return data


class ColumnSource(_Mapped):
    """A status field read from one column, its codes mapped (unmapped codes: ``default``, else as read)."""

    column: str = Field(min_length=1)
    default: Any = None

    def translate(self, value: Any) -> Any:
        """``value`` through the map (``None`` stays ``None``)."""
        if value is None or self.map is None:
            return value
        key = map_key(value)
        if key in self.map:
            return self.map[key]
        return value if self.default is None else self.default


Column = Annotated[ColumnSource, BeforeValidator(_column_source)]


class StatusColumns(_Strict):
    """Which column holds each field of a ``StatusRecord``."""

    record_reference: Column
    given_name: Column
    family_name: Column
    date_of_birth: Column
    postcode: Column | None = None
    nrm_stage: Column | None = None
    missing_episodes_last_90_days: Column | None = None
    case_open: Column | None = None
    lead_role: Column | None = None
    lead_team: Column | None = None
    lead_phone: Column | None = None
    lead_email: Column | None = None

    @model_validator(mode="after")
    def _known_stages(self) -> StatusColumns:
        stage = self.nrm_stage
        if stage is not None:
            for value in [*(stage.map or {}).values(), *([] if stage.default is None else [stage.default])]:
                if value not in NrmStage.__members__:
                    raise ValueError(f"nrm_stage maps to {value!r}, not one of {', '.join(NrmStage)}")
        opened = self.case_open
        if opened is not None and opened.map is not None and not all(isinstance(v, bool) for v in opened.map.values()):
            raise ValueError("case_open maps codes to true or false")
        return self

    def used(self) -> dict[str, ColumnSource]:
        """Field name to its source, for the fields mapped."""
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}


class FlagRule(_Strict):
    """``flag`` is set when ``column`` holds one of ``when`` (any true value if ``when`` is not given)."""

    flag: StatusFlag
    column: str = Field(min_length=1)
    when: list[str | int | bool] | None = None

    def holds(self, value: Any) -> bool:
        """Whether ``value`` sets the flag."""
        if value is None:
            return False
        if self.when is None:
            return truthy(value) is True
        return map_key(value) in {map_key(v) for v in self.when}


class StatusMapping(_Strict):
    """Where the status index comes from: one table or view (or a query) and its columns."""

    table: str | None = None
    query: str | None = None
    columns: StatusColumns
    flags: list[FlagRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> StatusMapping:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table and query")
        return self

    def columns_used(self) -> list[str]:
        """Every column the mapping reads, once each."""
        names = [source.column for source in self.columns.used().values()] + [rule.column for rule in self.flags]
        return list(dict.fromkeys(names))


class WriteSource(_Mapped):
    """Where a written column's value comes from: a contract field (or header value), or a constant."""

    field: str | None = None
    value: Any = None
    join: str | None = None
    """Join a list (``concern_categories``) into one text value with this separator."""

    @model_validator(mode="after")
    def _field_or_value(self) -> WriteSource:
        if (self.field is None) == (self.value is None):
            raise ValueError("give exactly one of field and value")
        return self


Source = Annotated[WriteSource, BeforeValidator(_write_source)]


class WriteTarget(_Strict):
    """Received messages of ``contract`` become one row each of ``table``."""

    contract: str = Field(min_length=1)
    table: str = Field(min_length=1)
    columns: dict[str, Source] = Field(min_length=1)
    dedupe_on: str | None = None
    """A column (mapped above) whose value identifies the message: a row already holding it means delivered."""

    @model_validator(mode="after")
    def _dedupe_mapped(self) -> WriteTarget:
        if self.dedupe_on is not None and self.dedupe_on not in self.columns:
            raise ValueError(f"dedupe_on names {self.dedupe_on!r}, which is not one of the columns written")
        return self


class EventSource(_Mapped):
    """A field of an event's message: from a column (codes mapped) or a constant."""

    column: str | None = None
    value: Any = None

    @model_validator(mode="after")
    def _column_or_value(self) -> EventSource:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of column and value")
        return self


EventField = Annotated[EventSource, BeforeValidator(_column_source)]


class DerivedFrom(_Strict):
    """The columns a subject token is derived from (with the federation matching key)."""

    given_name: str = Field(min_length=1)
    family_name: str = Field(min_length=1)
    date_of_birth: str = Field(min_length=1)

    def columns(self) -> SubjectColumns:
        """As the identity module takes them."""
        return SubjectColumns(self.given_name, self.family_name, self.date_of_birth)


class DeriveSubject(_Strict):
    """``subject_token: {derive: {given_name: <col>, family_name: <col>, date_of_birth: <col>}}``."""

    derive: DerivedFrom


class EventFeed(_Strict):
    """Case events (rows after a stored watermark) sent as messages: one message per new row."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Names the feed's watermark and appears in reports."""
    table: str | None = None
    query: str | None = None
    watermark: str = Field(min_length=1)
    """A column that only grows (an id or a timestamp): rows above the stored value are new."""
    key: str = Field(min_length=1)
    """A column unique per row (the primary key; may be the watermark itself): rows are read in
    (watermark, key) order, so rows sharing a watermark value are all sent, and each is sent under
    the idempotency key ``sql:<adapter>:<feed>:<key>``."""
    subject_token: str | DeriveSubject | None = None
    """The column holding the young person's ``st1_`` token, put in the envelope header (the hub applies
    their recorded consent by it), or ``{derive: {given_name, family_name, date_of_birth}}``: the columns
    it is derived from under the matching key (connectors/identity/subject.py). Required for a contract
    about a child unless the body maps its own ``subject_token`` field from a column."""
    start: Literal["latest", "beginning"] = "latest"
    """On the very first run: skip the rows already there (``latest``) or send them all."""
    poll_seconds: float = Field(default=10.0, gt=0, le=3600)
    batch: int = Field(default=100, ge=1, le=10_000)
    contract: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    recipients: list[str] = Field(min_length=1)
    purpose: str = Field(min_length=1)
    body: dict[str, EventField] = Field(min_length=1)
    """Contract field path (``location.town``) to its source."""

    @model_validator(mode="after")
    def _one_source(self) -> EventFeed:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table and query")
        return self

    def columns_used(self) -> list[str]:
        """The watermark, the key, the subject token's column and every column the body reads, once each."""
        names = [self.watermark, self.key, *([self.subject_token] if isinstance(self.subject_token, str) else [])]
        if isinstance(self.subject_token, DeriveSubject):
            names += self.subject_token.derive.columns().names()
        names += [s.column for s in self.body.values() if s.column is not None]
        return list(dict.fromkeys(names))

    def derived_from(self) -> SubjectColumns | None:
        """The columns the header's subject token is derived from (``None``: it is read from a column)."""
        return self.subject_token.derive.columns() if isinstance(self.subject_token, DeriveSubject) else None

    def subject_column(self) -> str | None:
        """The column the header's subject token comes from: ``subject_token``, else the body's own field's.

        ``None`` also when the token is derived (see ``derived_from``).
        """
        if isinstance(self.subject_token, str):
            return self.subject_token
        if self.subject_token is not None:
            return None
        own = self.body.get(BODY_FIELD)
        return None if own is None else own.column


def check_subject(adapter: str, feed: EventFeed) -> None:
    """Refuse a feed of a contract about a child whose messages would carry no subject token.

    Raises:
        ValidationFailed: ``adapter.sql.no_subject_token``.
    """
    if about_a_child(feed.contract) and feed.subject_column() is None and feed.derived_from() is None:
        raise ValidationFailed(
            NO_SUBJECT_TOKEN,
            f"adapter {adapter!r}: events.{feed.name}: {feed.contract} is about a child: name the column holding "
            "the young person's st1_ token (subject_token: <column>), so the hub can apply their recorded consent",
        )


def feed_matching_key(adapter: str, feed: EventFeed, key: MatchingKey | None) -> MatchingKey | None:
    """The key a feed derives its subject tokens with (``None`` when it reads them from a column).

    Raises:
        ValidationFailed: ``adapter.sql.no_matching_key``: the feed derives, and the connector gave no key.
    """
    if feed.derived_from() is None:
        return None
    if key is None:
        raise ValidationFailed(
            NO_MATCHING_KEY,
            f"adapter {adapter!r}: events.{feed.name}.subject_token derives the token, which needs the federation "
            "matching key; this connector was given none",
        )
    return key


class SqlOptions(_Strict):
    """The options of a ``kind: sql`` adapter."""

    url: str | None = None
    """A SQLAlchemy URL; a relative SQLite path is relative to the adapters file."""
    url_env: str | None = None
    """The environment variable holding the URL (so a password stays out of the file)."""
    db_schema: str | None = Field(default=None, alias="schema")
    """The PostgreSQL schema the tables are in (default: the search path)."""
    status: StatusMapping | None = None
    write: list[WriteTarget] = Field(default_factory=list)
    events: list[EventFeed] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_url(self) -> SqlOptions:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        if self.status is None and not self.write and not self.events:
            raise ValueError("map status, write or events: this adapter does nothing")
        names = [feed.name for feed in self.events]
        if len(names) != len(set(names)):
            raise ValueError("two event feeds share a name")
        return self


TRUE_TEXT: Final = frozenset({"1", "true", "t", "yes", "y"})
FALSE_TEXT: Final = frozenset({"0", "false", "f", "no", "n", ""})


def truthy(value: Any) -> bool | None:
    """A database value read as a boolean (``1``, ``'Y'``, ``true``...); ``None`` when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    key = map_key(value)
    if key in TRUE_TEXT:
        return True
    if key in FALSE_TEXT:
        return False
    return None
