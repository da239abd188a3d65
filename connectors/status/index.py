"""The agency's own status index: its records, their identity tokens, and token lookups.

Built once from the agency's records (``StatusIndex.build``; or ``load`` from a JSON or CSV
file of synthetic records): each record's tokens are derived once under the federation
matching key, and every ``(kind, token)`` points at the records holding it. A query is then a
few set lookups to find candidates, and ``connectors.identity.match`` scores each candidate.
Nothing here leaves the connector; the responder answers with what an agreement allows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.identity import Identifiers, IdentityTokens, Match, MatchingKey, derive_tokens, match
from connectors.status.messages import LeadProfessional, NrmStage, StatusFlag
from onedoor.errors import OneDoorError, ValidationFailed

INVALID_RECORDS = "status.invalid_records"

CSV_COLUMNS = (
    "record_reference",
    "given_name",
    "family_name",
    "date_of_birth",
    "postcode",
    "flags",
    "nrm_stage",
    "missing_episodes_last_90_days",
    "case_open",
    "lead_role",
    "lead_team",
    "lead_phone",
    "lead_email",
)
"""The header of a records CSV; ``flags`` are separated by ``;``, ``case_open`` is ``1``/``0``."""


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One of the agency's own records, as the status check answers from it. ``repr`` hides the identifiers."""

    record_reference: str
    """The agency's opaque reference, quoted in a reply."""
    identifiers: Identifiers
    flags: frozenset[StatusFlag] = frozenset()
    nrm_stage: NrmStage = NrmStage.NOT_KNOWN
    missing_episodes_last_90_days: int | None = None
    case_open: bool = False
    lead_professional: LeadProfessional | None = None

    def __repr__(self) -> str:
        return f"StatusRecord({self.record_reference!r}, <identifiers redacted>)"

    def to_json(self) -> dict[str, Any]:
        """The record as one object of a records JSON file."""
        ids = self.identifiers
        lead = self.lead_professional
        return {
            "record_reference": self.record_reference,
            "given_name": ids.given_name,
            "family_name": ids.family_name,
            "date_of_birth": ids.date_of_birth.isoformat(),
            "postcode": ids.postcode,
            "flags": sorted(self.flags),
            "nrm_stage": str(self.nrm_stage),
            "missing_episodes_last_90_days": self.missing_episodes_last_90_days,
            "case_open": self.case_open,
            "lead_professional": None if lead is None else lead.to_avro(),
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> StatusRecord:
        """A record from one object of a records JSON file (the shape ``to_json`` writes).

        Raises:
            ValidationFailed: the identity module's codes for bad identifiers, or
                ``status.invalid_records`` naming the field (never its value).
        """
        lead = item.get("lead_professional")
        if lead is not None and not isinstance(lead, Mapping):
            raise ValidationFailed(INVALID_RECORDS, "lead_professional must be an object")
        return cls._make(
            reference=item.get("record_reference"),
            given=item.get("given_name"),
            family=item.get("family_name"),
            dob=item.get("date_of_birth"),
            postcode=item.get("postcode"),
            flags=item.get("flags") or (),
            stage=item.get("nrm_stage") or NrmStage.NOT_KNOWN,
            missing=item.get("missing_episodes_last_90_days"),
            case_open=item.get("case_open", False),
            lead=None if lead is None else dict(lead),
        )

    @classmethod
    def from_csv_row(cls, row: Mapping[str, str | None]) -> StatusRecord:
        """A record from one row of a records CSV (``CSV_COLUMNS``).

        Raises:
            ValidationFailed: as ``from_json``.
        """
        missing = (row.get("missing_episodes_last_90_days") or "").strip()
        role, team = (row.get("lead_role") or "").strip(), (row.get("lead_team") or "").strip()
        lead = None
        if role or team:
            lead = {"role": role, "team": team, "phone": row.get("lead_phone") or None}
            lead["email"] = row.get("lead_email") or None
        return cls._make(
            reference=row.get("record_reference"),
            given=row.get("given_name"),
            family=row.get("family_name"),
            dob=row.get("date_of_birth"),
            postcode=row.get("postcode") or None,
            flags=[f for f in (row.get("flags") or "").split(";") if f.strip()],
            stage=(row.get("nrm_stage") or "").strip() or NrmStage.NOT_KNOWN,
            missing=int(missing) if missing.isdigit() else (missing or None),
            case_open=(row.get("case_open") or "").strip().lower() in {"1", "true", "yes"},
            lead=lead,
        )

    @classmethod
    def _make(
        cls,
        *,
        reference: Any,
        given: Any,
        family: Any,
        dob: Any,
        postcode: Any,
        flags: Iterable[Any],
        stage: Any,
        missing: Any,
        case_open: Any,
        lead: dict[str, Any] | None,
    ) -> StatusRecord:
        if not isinstance(reference, str) or not reference.strip():
            raise ValidationFailed(INVALID_RECORDS, "record_reference is missing")
        if not all(isinstance(v, str) for v in (given, family, dob)):
            raise ValidationFailed(INVALID_RECORDS, "given_name, family_name and date_of_birth must be text")
        identifiers = Identifiers.parse(given, family, dob, postcode if isinstance(postcode, str) else None)
        try:
            parsed_flags = frozenset(StatusFlag(str(f).strip()) for f in flags)
        except ValueError:
            raise ValidationFailed(INVALID_RECORDS, f"flags must be some of {', '.join(StatusFlag)}") from None
        try:
            parsed_stage = NrmStage(str(stage))
        except ValueError:
            raise ValidationFailed(INVALID_RECORDS, f"nrm_stage must be one of {', '.join(NrmStage)}") from None
        if missing is not None and (not isinstance(missing, int) or isinstance(missing, bool) or missing < 0):
            raise ValidationFailed(INVALID_RECORDS, "missing_episodes_last_90_days must be a whole number")
        if not isinstance(case_open, bool):
            raise ValidationFailed(INVALID_RECORDS, "case_open must be true or false")
        professional = None
        if lead is not None:
            role, team = lead.get("role"), lead.get("team")
            if not isinstance(role, str) or not isinstance(team, str) or not role or not team:
                raise ValidationFailed(INVALID_RECORDS, "lead_professional needs a role and a team")
            professional = LeadProfessional(role, team, lead.get("phone") or None, lead.get("email") or None)
        return cls(
            reference.strip(),
            identifiers,
            parsed_flags,
            parsed_stage,
            missing,
            case_open,
            professional,
        )


class StatusIndex:
    """The agency's records with their tokens, looked up by token. Build with ``build`` or ``load``."""

    __slots__ = ("_by_token", "_records", "_tokens")

    def __init__(self, records: Sequence[StatusRecord], tokens: Sequence[IdentityTokens]) -> None:
        self._records = tuple(records)
        self._tokens = tuple(tokens)
        by_token: dict[tuple[str, str], list[int]] = {}
        for position, held in enumerate(self._tokens):
            for kind, values in held.items():
                for value in values:
                    by_token.setdefault((kind, value), []).append(position)
        self._by_token = {key: tuple(positions) for key, positions in by_token.items()}

    @classmethod
    def build(cls, records: Iterable[StatusRecord], key: MatchingKey) -> StatusIndex:
        """Derive every record's tokens once (under the federation matching ``key``) and index them."""
        kept = list(records)
        return cls(kept, [derive_tokens(record.identifiers, key) for record in kept])

    @classmethod
    def load(cls, path: Path, key: MatchingKey) -> StatusIndex:
        """Build from a records file: ``.json`` (``StatusRecord.to_json`` objects) or ``.csv`` (``CSV_COLUMNS``).

        Raises:
            ValidationFailed: ``status.invalid_records`` (or an identity code), naming the
                record's position and the field, never a value.
        """
        return cls.build(read_records(path), key)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[StatusRecord, ...]:
        """Every record, in the order built."""
        return self._records

    def lookup(self, query: IdentityTokens) -> list[tuple[StatusRecord, Match]]:
        """The records that match ``query``, best first (highest confidence, then reference)."""
        candidates: set[int] = set()
        for kind, values in query.items():
            for value in values:
                candidates.update(self._by_token.get((kind, value), ()))
        found = []
        for position in candidates:
            scored = match(query, self._tokens[position])
            if scored is not None:
                found.append((self._records[position], scored))
        found.sort(key=lambda pair: (-pair[1].confidence, pair[0].record_reference))
        return found


def given_or_read(records: Iterable[StatusRecord] | None, path: Path | None) -> list[StatusRecord]:
    """``records`` if given, else those of the records file at ``path``, else none.

    Raises:
        ValidationFailed: ``status.invalid_records`` (or an identity code) for an unreadable or bad file.
    """
    if records is not None:
        return list(records)
    if path is None:
        return []
    try:
        return read_records(path)
    except OSError as exc:
        raise ValidationFailed(INVALID_RECORDS, f"cannot read {path}: {exc.strerror}") from None


def read_records(path: Path) -> list[StatusRecord]:
    """Records from a ``.json`` or ``.csv`` file (see ``StatusIndex.load``)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:  # where, never what: the text may hold a name
            raise ValidationFailed(INVALID_RECORDS, f"{path.name}: not valid JSON (line {exc.lineno})") from None
        if not isinstance(items, list):
            raise ValidationFailed(INVALID_RECORDS, f"{path.name}: a records JSON file holds a list of objects")
        return [_numbered(position, StatusRecord.from_json, item) for position, item in enumerate(items, 1)]
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            absent = set(CSV_COLUMNS) - set(reader.fieldnames or ())
            if absent:
                raise ValidationFailed(INVALID_RECORDS, f"{path.name}: missing columns {', '.join(sorted(absent))}")
            return [_numbered(position, StatusRecord.from_csv_row, row) for position, row in enumerate(reader, 1)]
    raise ValidationFailed(INVALID_RECORDS, f"{path.name}: records must be a .json or .csv file")


def write_records(path: Path, records: Iterable[StatusRecord]) -> None:
    """Write records as a JSON file ``read_records`` reads back."""
    path.write_text(json.dumps([r.to_json() for r in records], indent=1), encoding="utf-8")


def _numbered(position: int, parse: Any, item: Any) -> StatusRecord:
    if not isinstance(item, Mapping):
        raise ValidationFailed(INVALID_RECORDS, f"record {position}: not an object")
    try:
        record: StatusRecord = parse(item)
    except OneDoorError as exc:
        raise ValidationFailed(exc.code, f"record {position}: {exc.message}") from None
    return record
