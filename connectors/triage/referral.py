"""The master referral as JSON: parse it into the contract's record, check it, and write it back as JSON.

Agency systems and ``onedoor referral submit`` send a MasterReferral as JSON (dates as
``YYYY-MM-DD``, times as ISO 8601 or milliseconds). ``parse_referral`` converts it to the
values the Avro contract takes, fills ``referral_id`` and ``submitted_at`` when absent, checks
every field against the contract (errors name the field, never quote a value) and refuses a
referral with no way to identify the child. ``to_json`` is the inverse, for the workbench
store. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from contracts import codec
from contracts.catalog import ContractSchema, bundled_contract
from onedoor.errors import ValidationFailed
from onedoor.ids import ContractName, Purpose

REFERRAL: Final = ContractName("onedoor.referral.MasterReferral")
REFERRAL_VERSION: Final = 1
ALERT: Final = ContractName("onedoor.alert.Alert")
SAFEGUARDING_REFERRAL: Final = Purpose("safeguarding-referral")
"""Referrals to the triage desk and intervention referrals to a service."""
INTELLIGENCE_SHARING: Final = Purpose("intelligence-sharing")
"""Intelligence shared back to the child's local authority."""

INVALID: Final = "referral.invalid"
NO_IDENTIFIER: Final = "referral.no_identifier"

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_IDENTIFYING: Final = ("given_name", "family_name", "known_as", "nhs_number", "unique_pupil_number")


def referral_schema() -> ContractSchema:
    """The bundled MasterReferral contract."""
    return bundled_contract(str(REFERRAL))


def parse_referral(document: object, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The contract's record for referral JSON, checked field by field.

    Args:
        document: the referral as parsed JSON.
        now: ``submitted_at`` when the document has none (default: the current time).

    Returns:
        The record, ready for ``Connector.send`` (dates as ``date``, times as ``datetime``).

    Raises:
        ValidationFailed: ``referral.invalid`` naming the field that does not fit the contract;
            ``referral.no_identifier`` when nothing identifies the child.
    """
    if not isinstance(document, Mapping):
        raise ValidationFailed(INVALID, "a referral is a JSON object")
    value = dict(document)
    value.setdefault("referral_id", str(uuid.uuid4()))
    value.setdefault("submitted_at", now or dt.datetime.now(dt.UTC))
    schema = referral_schema()
    converted = _Converter(schema.parsed.get("__named_schemas", {})).record(value, schema.parsed, "")
    if not isinstance(converted.get("referral_id"), str) or not _UUID.fullmatch(converted["referral_id"]):
        raise ValidationFailed(INVALID, "referral_id must be a lowercase UUID")
    require_identifier(converted)
    try:
        codec.encode(schema, converted)
    except ValidationFailed as exc:
        where = exc.message.split(": ", 1)[-1]
        raise ValidationFailed(INVALID, f"the referral does not fit the contract: {where}") from None
    return converted


def missing_required(document: Mapping[str, Any]) -> list[str]:
    """Paths of fields the contract requires (no default) that ``document`` does not hold.

    A referral received under a limited agreement lacks the fields it withheld; those the
    contract gives a default (or ``null``) are filled when it is encoded, these cannot be.
    A required record that is absent counts by its required fields (``child.given_name``);
    one whose fields all have defaults (``exploitation``) is not missing.
    """
    schema = referral_schema()
    named = schema.parsed.get("__named_schemas", {})
    return _missing(document, schema.parsed, "", named)


def _missing(value: Mapping[str, Any], record: Mapping[str, Any], path: str, named: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for field in record["fields"]:
        where = f"{path}.{field['name']}" if path else field["name"]
        inner = named.get(field["type"], field["type"]) if isinstance(field["type"], str) else field["type"]
        held = value.get(field["name"])
        if _is_record(inner) and (isinstance(held, Mapping) or (held is None and "default" not in field)):
            found += _missing(held if isinstance(held, Mapping) else {}, inner, where, named)
        elif field["name"] not in value and "default" not in field:
            found.append(where)
    return found


def require_identifier(referral: Mapping[str, Any]) -> None:
    """Refuse a referral with no name, nickname, NHS number or pupil number for the child.

    Raises:
        ValidationFailed: ``referral.no_identifier``.
    """
    child = referral.get("child")
    if isinstance(child, Mapping) and any(_present(child.get(name)) for name in _IDENTIFYING):
        return
    raise ValidationFailed(
        NO_IDENTIFIER,
        "the referral has no way to identify the child: give child.given_name, child.family_name, "
        "child.known_as, child.nhs_number or child.unique_pupil_number",
    )


def _present(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Sequence):
        return any(_present(v) for v in value)
    return False


def to_json(value: Any) -> Any:
    """``value`` with dates and times as ISO 8601 text: JSON that ``parse_referral`` reads back."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


class _Converter:
    """JSON values to the Python values fastavro writes, guided by the parsed schema."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self._named = named

    def value(self, value: Any, schema: Any, path: str) -> Any:  # noqa: PLR0911 - one return per schema kind
        if isinstance(schema, str) and schema in self._named:
            schema = self._named[schema]
        if isinstance(schema, list):
            return self._union(value, schema, path)
        if isinstance(schema, str):
            return value
        logical = schema.get("logicalType")
        if logical == "date":
            return _date(value, path)
        if logical == "timestamp-millis":
            return _timestamp(value, path)
        kind = schema["type"]
        if kind == "record" and isinstance(value, Mapping):
            return self.record(value, schema, path)
        if kind == "array" and isinstance(value, list):
            return [self.value(v, schema["items"], f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def record(self, value: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> dict[str, Any]:
        types = {f["name"]: f["type"] for f in schema["fields"]}
        out: dict[str, Any] = {}
        for name, item in value.items():
            where = f"{path}.{name}" if path else str(name)
            out[str(name)] = self.value(item, types[name], where) if name in types else item
        for field in schema["fields"]:
            # A nested record with no default (``exploitation``) may be left out when its own
            # fields all have defaults: the JSON need not spell out an empty section.
            inner = self._named.get(field["type"], field["type"]) if isinstance(field["type"], str) else field["type"]
            if field["name"] not in out and "default" not in field and _is_record(inner):
                out[field["name"]] = self.record({}, inner, f"{path}.{field['name']}" if path else field["name"])
        return out

    def _union(self, value: Any, branches: list[Any], path: str) -> Any:
        if value is None:
            return None
        others = [b for b in branches if b != "null"]
        return self.value(value, others[0], path) if len(others) == 1 else value


def _is_record(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "record"


def _date(value: Any, path: str) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(INVALID, f"{path} must be a date as YYYY-MM-DD") from None
    return value


def _timestamp(value: Any, path: str) -> Any:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(INVALID, f"{path} must be a date and time in ISO 8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value
