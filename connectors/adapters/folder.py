"""The folder adapter: CSV files dropped into a folder become referrals (or any contract), row by row.

For small organisations without an API. Options (``kind: folder``)::

    folder: /srv/onedoor/drop            # relative paths are relative to the adapters file
    recipients: [county-triage-desk]
    purpose: safeguarding-referral       # default
    contract: onedoor.referral.MasterReferral   # default; version: 1
    subject_token: Subject token         # the CSV column holding the young person's st1_ token, or:
    # subject_token: {derive: {given_name: First name, family_name: Last name, date_of_birth: Date of birth}}
    columns:                             # CSV header -> contract field path
      First name: child.given_name
      Last name: child.family_name
      Date of birth: child.date_of_birth
      Urgency: urgency
      Concerns: concern_categories       # several values separated by list_separator
    defaults: {referrer.kind: PROFESSIONAL, consent.status: NOT_SOUGHT_RISK_TO_CHILD}
    date_format: "%d/%m/%Y"              # default %Y-%m-%d
    list_separator: ";"                  # default
    delimiter: ","                       # default
    poll_seconds: 5                      # default
    received: {contracts: [onedoor.alert.Alert]}   # optional: write received messages as JSON

The subject token: a contract about a child (MasterReferral, Alert, the transfer messages) is
sent with the young person's ``st1_`` token in the envelope header, so the hub applies the
consent recorded for them (refused, withdrawn). It comes from the ``subject_token`` column, or
else from a column mapped to the body's own ``subject_token`` field (Alert); a folder of such a
contract naming neither is refused at start (``adapter.folder.no_subject_token``), and a row
whose cell is empty (``adapter.folder.no_subject_token``) or not a token
(``adapter.folder.bad_subject_token``) is a rejected row. Or the token is derived from the row's
given name, family name and date of birth columns (``subject_token: {derive: {...}}``) under the
federation matching key the connector gives its adapters (connectors/identity/subject.py); a
folder asking to derive without a key is refused at start (``adapter.folder.no_matching_key``),
and a row whose identifiers are empty or not a date of birth is a rejected row
(``adapter.folder.underivable_subject``, naming the column). A child whose names are spelled in
a way the canonical form does not absorb gets another token: an agency that holds the token
(from a referral's header) should export it instead.

Layout under ``folder``: staff drop ``*.csv`` into ``incoming/``; a file is read once its size
and modification time are the same on two polls in a row (a file still being copied is left
alone; names starting with ``.`` or ``~$`` are ignored). Each row is checked and mapped; good
rows go to the connector's outbox, and ``reports/<file>.<hash>.report.csv`` (``<hash>``: the
first 12 hex digits of the file's SHA-256, so a later file of the same name never overwrites
an earlier report) lists every row (``row, column, code, message``: ``sent`` or why not, never
a cell's value) and ``reports/<file>.<hash>.rejected.csv`` holds the rejected rows as they were,
under the same header, to fix and drop again. A missing required column rejects the whole
file (the rejected copy is the whole file). Then the file moves to ``done/``. Received
messages, if asked for, are written to ``received/<message id>.json``. Everything the adapter
writes is owner-only (files 0600, the directories it creates 0700; rejected rows hold personal
data), through a randomly named temporary file opened with ``O_EXCL``.

Crash-safe and idempotent: a ledger (``folder_ledger``) keyed by the file's SHA-256 records
each row once it is in the outbox, so a restart part-way through a file sends only the rows
not sent, and the same file dropped again sends nothing (``adapter.folder.already_processed``).
Each row is sent under the idempotency key ``folder:<adapter>:<file hash>:<row>``: a crash after
the outbox took a row but before the ledger recorded it does not send it twice (the outbox adds
nothing for a key it holds).
A referral's ``referral_id``, when no column gives one, is derived from the file's hash and the
row, so it is the same whatever happens.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from connectors.adapters.base import AdapterContext, Outbound, OutboundRequest
from connectors.adapters.folder_ledger import MOVED, REPORTED, SENDING, FolderLedger
from connectors.adapters.folder_mapping import MISSING_COLUMN, RAGGED_ROW, ColumnMapping, RowProblem
from connectors.adapters.sql.mapping import DeriveSubject
from connectors.adapters.subjects import BODY_FIELD, about_a_child, token_or_none
from connectors.adapters.values import parse_options
from connectors.adapters.webhook import payload
from connectors.identity.keys import MatchingKey
from connectors.identity.subject import INVALID_DATE, SubjectColumns, UnderivableSubject, subject_token_from_row
from connectors.sdk.codec import ContractCodecs
from connectors.sdk.connector import ReceivedMessage
from connectors.status.index import StatusRecord
from connectors.triage.referral import REFERRAL, SAFEGUARDING_REFERRAL
from onedoor.errors import OneDoorError, ValidationFailed
from onedoor.files import write_atomically
from onedoor.ids import AgencyId, ContractName, Purpose
from onedoor.logging import get_logger

log = get_logger(__name__)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

BAD_OPTIONS: Final = "adapter.folder.bad_options"
UNKNOWN_CONTRACT: Final = "adapter.folder.unknown_contract"
UNUSABLE_FOLDER: Final = "adapter.folder.unusable_folder"
NOT_UTF8: Final = "adapter.folder.not_utf8"
NOT_CSV: Final = "adapter.folder.not_csv"
EMPTY_FILE: Final = "adapter.folder.empty_file"
TOO_LARGE: Final = "adapter.folder.too_large"
NOT_SENT: Final = "adapter.folder.not_sent"
ALREADY_PROCESSED: Final = "adapter.folder.already_processed"
NO_SUBJECT_TOKEN: Final = "adapter.folder.no_subject_token"  # noqa: S105 - an error code
NO_MATCHING_KEY: Final = "adapter.folder.no_matching_key"
UNDERIVABLE_SUBJECT: Final = "adapter.folder.underivable_subject"
BAD_SUBJECT_TOKEN: Final = "adapter.folder.bad_subject_token"  # noqa: S105 - an error code
SENT: Final = "sent"
_STAND_IN_TOKEN: Final = "st1_" + "0" * 43  # a placeholder of the right shape, never sent
REPORT_HEADER: Final = ("row", "column", "code", "message")
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ReceivedOptions(BaseModel):
    """Which received messages to write into ``received/``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contracts: list[str] = Field(min_length=1)


class FolderOptions(BaseModel):
    """What a folder adapter's ``options`` may hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: Path
    recipients: list[str] = Field(min_length=1, max_length=200)
    columns: dict[str, str] = Field(min_length=1)
    subject_token: Annotated[str, Field(min_length=1, max_length=200)] | DeriveSubject | None = None
    """The CSV column holding the young person's ``st1_`` token (for the envelope header), or
    ``{derive: {given_name, family_name, date_of_birth}}``: the columns it is derived from."""
    purpose: str = str(SAFEGUARDING_REFERRAL)
    contract: str = str(REFERRAL)
    version: int = Field(default=1, ge=1)
    defaults: dict[str, Any] = Field(default_factory=dict)
    date_format: str = Field(default="%Y-%m-%d", min_length=2, max_length=40)
    list_separator: str = Field(default=";", min_length=1, max_length=3)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    poll_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_file_mb: float = Field(default=20.0, gt=0, le=1024)
    received: ReceivedOptions | None = None


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What became of one dropped file."""

    digest: str
    sent: int
    """Rows in the outbox (including those sent before a restart)."""
    rejected: int
    status: str
    """``processed``, ``rejected`` (the whole file) or ``duplicate``."""
    report: Path
    problems: tuple[RowProblem, ...] = field(default=())


class _Retry(Exception):
    """The outbox could not take a row now: leave the file for the next poll."""


class FolderAdapter:
    """Reads CSV files from ``<root>/incoming`` and sends each good row; optionally writes received messages."""

    def __init__(
        self,
        name: str,
        *,
        root: Path,
        mapping: ColumnMapping,
        version: int,
        recipients: Sequence[AgencyId],
        purpose: Purpose,
        ledger: FolderLedger,
        poll_seconds: float = 5.0,
        delimiter: str = ",",
        max_bytes: int = 20 * 1024 * 1024,
        received_contracts: Iterable[str] = (),
        subject_column: str | None = None,
        derive_subject: SubjectColumns | None = None,
        matching_key: MatchingKey | None = None,
    ) -> None:
        self.name = name
        self.root = root
        self.mapping = mapping
        self.version = version
        self.recipients = tuple(recipients)
        self.purpose = purpose
        self.ledger = ledger
        self.poll_seconds = poll_seconds
        self.delimiter = delimiter
        self.max_bytes = max_bytes
        self.received_contracts = frozenset(received_contracts)
        self.subject_column = subject_column
        """The column the header's subject token comes from (``None``: the body's ``subject_token`` field)."""
        if derive_subject is not None and matching_key is None:
            raise ValidationFailed(NO_MATCHING_KEY, f"adapter {name}: deriving subject tokens needs the matching key")
        self.derive_subject = derive_subject
        """The columns the header's subject token is derived from (``None``: read, not derived)."""
        self._matching_key = matching_key
        self._seen: dict[str, tuple[int, int]] = {}
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for sub in ("incoming", "reports", "done", *(("received",) if self.received_contracts else ())):
            (root / sub).mkdir(exist_ok=True, mode=0o700)

    @property
    def incoming(self) -> Path:
        """Where staff drop files."""
        return self.root / "incoming"

    def status_records(self) -> Iterable[StatusRecord]:
        """None: a folder holds no status records."""
        return ()

    async def deliver(self, message: ReceivedMessage) -> bool:
        """Write a received message of a listed contract to ``received/<message id>.json`` (owner-only)."""
        if str(message.header.contract) not in self.received_contracts:
            return False
        text = json.dumps(payload(message), indent=2, ensure_ascii=False)
        target = self.root / "received" / f"{message.header.message_id}.json"
        await asyncio.to_thread(write_atomically, target, text.encode(), 0o600)
        return True

    async def run(self, outbound: Outbound) -> None:
        """Poll ``incoming/`` every ``poll_seconds`` until cancelled."""
        while True:
            try:
                await self.scan(outbound)
            except OSError as exc:
                # The folder is gone or unreadable for now (a network share?): keep polling.
                log.error("adapter.folder.scan_failed", adapter=self.name, error=type(exc).__name__)  # noqa: TRY400
            await asyncio.sleep(self.poll_seconds)

    async def scan(self, outbound: Outbound) -> list[FileOutcome]:
        """Process every file that has not changed since the previous scan; remember the others."""
        outcomes = []
        present: set[str] = set()
        for path in sorted(self.incoming.iterdir()):
            if not _candidate(path):
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            present.add(path.name)
            signature = (info.st_size, info.st_mtime_ns)
            if self._seen.get(path.name) != signature:
                self._seen[path.name] = signature
                continue
            try:
                outcomes.append(await self.process(path, outbound))
            except _Retry:
                log.warning("adapter.folder.retry_later", adapter=self.name)
                break
            except OSError as exc:
                log.error("adapter.folder.file_failed", adapter=self.name, error=type(exc).__name__)  # noqa: TRY400
                continue
            self._seen.pop(path.name, None)
        self._seen = {k: v for k, v in self._seen.items() if k in present}
        return outcomes

    async def process(self, path: Path, outbound: Outbound) -> FileOutcome:
        """Send one file's good rows, write its reports and move it to ``done/``.

        Raises:
            _Retry: the outbox refused a row for now (retriable); the file stays for the next poll.
            OSError: the file or the folder could not be read or written.
        """
        data = await asyncio.to_thread(path.read_bytes)
        digest = hashlib.sha256(data).hexdigest()
        report = self.root / "reports" / f"{path.name}.{digest[:12]}.report.csv"
        state = self.ledger.state(digest)
        if state == MOVED:
            problem = RowProblem(0, "", ALREADY_PROCESSED, "this file was processed before: nothing sent again")
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            report = report.with_name(f"{path.name}.{digest[:12]}.again-{stamp}.report.csv")
            _write_report(report, [problem])
            outcome = FileOutcome(digest, 0, 0, "duplicate", report, (problem,))
        elif state == REPORTED:
            outcome = FileOutcome(digest, 0, 0, "processed", report)
        else:
            self.ledger.set_state(digest, SENDING)
            outcome = await self._send_file(path, data, digest, report, outbound)
            self.ledger.set_state(digest, REPORTED)
        _move_to_done(path, self.root / "done", digest)
        self.ledger.set_state(digest, MOVED)
        log.info(
            "adapter.folder.file_done",
            adapter=self.name,
            file=digest[:16],
            status=outcome.status,
            sent=outcome.sent,
            rejected=outcome.rejected,
        )
        return outcome

    async def _send_file(self, path: Path, data: bytes, digest: str, report: Path, outbound: Outbound) -> FileOutcome:
        rejected_path = self.root / "reports" / f"{path.name}.{digest[:12]}.rejected.csv"
        parsed = self._read(data)
        if isinstance(parsed, RowProblem) or (header_problems := self._header_problems(parsed[0])):
            problems = [parsed] if isinstance(parsed, RowProblem) else header_problems
            _write_report(report, problems)
            write_atomically(rejected_path, data)
            return FileOutcome(digest, 0, 0, "rejected", report, tuple(problems))
        header, rows = parsed
        already = self.ledger.sent_rows(digest)
        lines: list[RowProblem] = []
        rejected: list[list[str]] = []
        sent = 0
        for number, cells in rows:
            mapped = self._row(header, cells, number, digest)
            if isinstance(mapped, tuple):
                body, token = mapped
                problems = await self._send_row(body, number, digest, already, outbound, token=token)
            else:
                problems = mapped
            if problems:
                lines += problems
                rejected.append(cells)
            else:
                sent += 1
                lines.append(RowProblem(number, "", SENT, "in the outbox"))
        _write_report(report, lines)
        if rejected:
            write_atomically(rejected_path, _csv_bytes([header, *rejected], self.delimiter))
        else:
            rejected_path.unlink(missing_ok=True)
        problems_only = tuple(p for p in lines if p.code != SENT)
        return FileOutcome(digest, sent, len(rejected), "processed", report, problems_only)

    def _header_problems(self, header: Sequence[str]) -> list[RowProblem]:
        problems = self.mapping.header_problems(header)
        column = self.subject_column
        if column is not None and column not in header and about_a_child(self.mapping.contract):
            problems.append(
                RowProblem(1, column, MISSING_COLUMN, f"the subject token column '{column}' is missing from the header")
            )
        for column in self.derive_subject.names() if self.derive_subject is not None else ():
            if column not in header:
                message = f"the column '{column}' the subject token is derived from is missing from the header"
                problems.append(RowProblem(1, column, MISSING_COLUMN, message))
        return problems

    def _row(
        self, header: list[str], cells: list[str], number: int, digest: str
    ) -> tuple[dict[str, Any], str | None] | list[RowProblem]:
        if len(cells) > len(header):
            return [RowProblem(number, "", RAGGED_ROW, f"the row has {len(cells)} cells; the header has {len(header)}")]
        row = dict(zip(header, [*cells, *[""] * (len(header) - len(cells))], strict=True))
        token = self._token(row, number)
        # A row whose token cannot be derived is still checked (with a stand-in, discarded) so the report
        # lists its other problems and not a missing subject_token field on top.
        stand_in = token if isinstance(token, str) else _STAND_IN_TOKEN
        extra = {BODY_FIELD: stand_in} if BODY_FIELD in self.mapping.filled else None
        mapped = self.mapping.map_row(row, number, row_key=f"{digest}:{number}", extra=extra)
        if isinstance(token, RowProblem):
            return [token, *([] if isinstance(mapped, dict) else mapped)]
        return (mapped, token) if isinstance(mapped, dict) else mapped

    def _token(self, row: Mapping[str, str], number: int) -> str | RowProblem | None:
        """The row's subject token for the header, or why the row cannot be sent without one."""
        if self.derive_subject is not None and self._matching_key is not None:
            return self._derived_token(row, number, self.derive_subject, self._matching_key)
        column = self.subject_column or self.mapping.column_of(BODY_FIELD) or ""
        try:
            token = token_or_none(row.get(column)) if column else None
        except ValueError:
            return RowProblem(number, column, BAD_SUBJECT_TOKEN, f"'{column}' is not an st1_ subject token")
        if token is None and about_a_child(self.mapping.contract):
            where = f"'{column}' is empty" if column else "no column gives the subject token"
            return RowProblem(
                number, column, NO_SUBJECT_TOKEN, f"{where}: a message about a child needs the young person's token"
            )
        return token

    def _derived_token(
        self, row: Mapping[str, str], number: int, columns: SubjectColumns, key: MatchingKey
    ) -> str | RowProblem:
        """The token derived from the row's identifiers (a date in ``date_format`` is read as such)."""
        cells: dict[str, Any] = dict(row)
        dob = (row.get(columns.date_of_birth) or "").strip()
        try:
            cells[columns.date_of_birth] = dt.datetime.strptime(dob, self.mapping.date_format).date()
        except ValueError:
            # Only an ISO date may differ from the file's format: reading another as day-first text
            # would swap day and month in a month-first file, and so give the child another token.
            if dob and not _ISO_DATE.fullmatch(dob):
                return RowProblem(
                    number,
                    columns.date_of_birth,
                    UNDERIVABLE_SUBJECT,
                    f"no subject token: '{columns.date_of_birth}' is not a date in the file's format or YYYY-MM-DD "
                    f"({INVALID_DATE})",
                )
        try:
            return str(subject_token_from_row(key, columns, cells))
        except UnderivableSubject as exc:
            return RowProblem(number, exc.column, UNDERIVABLE_SUBJECT, f"no subject token: {exc.message} ({exc.code})")

    async def _send_row(
        self,
        body: dict[str, Any],
        number: int,
        digest: str,
        already: set[int],
        outbound: Outbound,
        *,
        token: str | None,
    ) -> list[RowProblem]:
        if number in already:
            return []
        request = OutboundRequest(
            contract=self.mapping.contract,
            version=self.version,
            recipients=self.recipients,
            purpose=str(self.purpose),
            body=body,
            source=f"{self.name}:{digest[:16]}:{number}",
            idempotency_key=f"folder:{self.name}:{digest}:{number}",
            subject_token=token,
        )
        try:
            await outbound(request)
        except OneDoorError as exc:
            if exc.retriable:
                raise _Retry from None
            return [RowProblem(number, "", NOT_SENT, f"not sent ({exc.code}): {exc.message}")]
        self.ledger.mark_sent(digest, number)
        return []

    def _read(self, data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]] | RowProblem:
        if len(data) > self.max_bytes:
            return RowProblem(0, "", TOO_LARGE, f"the file is larger than {self.max_bytes // (1024 * 1024)} MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return RowProblem(0, "", NOT_UTF8, "the file is not UTF-8 text (save it as 'CSV UTF-8')")
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, strict=True))
        except csv.Error:
            return RowProblem(0, "", NOT_CSV, "the file is not valid CSV (an unclosed quote?)")
        if not records or not any(c.strip() for c in records[0]):
            return RowProblem(1, "", EMPTY_FILE, "the file has no header row")
        header = [c.strip() for c in records[0]]
        rows = [(i + 1, r) for i, r in enumerate(records) if i > 0 and any(c.strip() for c in r)]
        return header, rows

    async def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()


def _candidate(path: Path) -> bool:
    name = path.name
    return path.is_file() and name.lower().endswith(".csv") and not name.startswith((".", "~$"))


def _csv_bytes(rows: Iterable[Sequence[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode()


def _write_report(path: Path, problems: Iterable[RowProblem]) -> None:
    rows = [[str(p.row) if p.row else "", p.column, p.code, p.message] for p in problems]
    write_atomically(path, _csv_bytes([list(REPORT_HEADER), *rows]))


def _move_to_done(path: Path, done: Path, digest: str) -> None:
    target = done / path.name
    if target.exists():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        target = done / f"{path.stem}.{stamp}.{digest[:8]}{path.suffix}"
    os.replace(path, target)


def factory(name: str, options: Mapping[str, Any], context: AdapterContext) -> FolderAdapter:
    """Build a folder adapter from its options (``AdapterFactory``).

    Raises:
        ValidationFailed: ``adapter.folder.bad_options``, ``adapter.folder.unknown_contract``,
            ``adapter.folder.bad_mapping`` or ``adapter.folder.unusable_folder``.
    """
    settings = parse_options(FolderOptions, options, code=BAD_OPTIONS, adapter=name)
    if _SAFE_NAME.fullmatch(name) is None:
        raise ValidationFailed(BAD_OPTIONS, "a folder adapter's name must be letters, digits, '.', '_' or '-'")
    for i, recipient in enumerate(settings.recipients):
        if AgencyId.pattern.fullmatch(recipient) is None:
            raise ValidationFailed(BAD_OPTIONS, f"adapter {name}: recipients[{i}] is not an agency id")
    if Purpose.pattern.fullmatch(settings.purpose) is None:
        raise ValidationFailed(BAD_OPTIONS, f"adapter {name}: purpose is not a purpose name")
    received = settings.received.contracts if settings.received else []
    if any(ContractName.pattern.fullmatch(c) is None for c in received):
        raise ValidationFailed(BAD_OPTIONS, f"adapter {name}: received.contracts holds a name that is not a contract")
    try:
        schema = ContractCodecs.bundled().schema(settings.contract, settings.version)
    except OneDoorError:
        raise ValidationFailed(
            UNKNOWN_CONTRACT, f"adapter {name}: {settings.contract} v{settings.version} is not a known contract version"
        ) from None
    derive = settings.subject_token.derive.columns() if isinstance(settings.subject_token, DeriveSubject) else None
    # A derived token also fills the body's own subject_token field (Alert), unless a column is mapped to it.
    has_body_field = any(f.get("name") == BODY_FIELD for f in schema.parsed.get("fields", []))
    fills_body = derive is not None and has_body_field and BODY_FIELD not in settings.columns.values()
    mapping = ColumnMapping(
        schema,
        settings.columns,
        defaults=settings.defaults,
        date_format=settings.date_format,
        list_separator=settings.list_separator,
        adapter=name,
        filled=(BODY_FIELD,) if fills_body else (),
    )
    if derive is not None and context.matching_key is None:
        raise ValidationFailed(
            NO_MATCHING_KEY,
            f"adapter {name}: subject_token derives the token, which needs the federation matching key; "
            "this connector was given none",
        )
    if about_a_child(mapping.contract) and settings.subject_token is None and mapping.column_of(BODY_FIELD) is None:
        raise ValidationFailed(
            NO_SUBJECT_TOKEN,
            f"adapter {name}: {mapping.contract} is about a child: name the column holding the young person's st1_ "
            "token (subject_token: <column>), so the hub can apply their recorded consent",
        )
    root = settings.folder if settings.folder.is_absolute() else context.base_dir / settings.folder
    ledger = FolderLedger(context.data_dir / "adapters" / name / "folder-ledger.sqlite3")
    try:
        return FolderAdapter(
            name,
            root=root,
            mapping=mapping,
            version=settings.version,
            recipients=[AgencyId(r) for r in settings.recipients],
            purpose=Purpose(settings.purpose),
            ledger=ledger,
            poll_seconds=settings.poll_seconds,
            delimiter=settings.delimiter,
            max_bytes=int(settings.max_file_mb * 1024 * 1024),
            received_contracts=received,
            subject_column=settings.subject_token if isinstance(settings.subject_token, str) else None,
            derive_subject=derive,
            matching_key=context.matching_key if derive is not None else None,
        )
    except OSError as exc:
        ledger.close()
        raise ValidationFailed(
            UNUSABLE_FOLDER, f"adapter {name}: cannot use the folder {root} ({exc.strerror})"
        ) from None
