"""Envelope bytes: Avro binary of ``contracts/schemas/onedoor.envelope.avsc``.

The record ends with two fixed-size fields, a 64-byte signature and a 32-byte hub MAC, so
what each covers is a plain prefix of the value: the signature covers ``value[:-96]`` and
the MAC covers ``value[:-32]``. Nothing needs re-encoding to be checked.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import fastavro

from onedoor.envelope.header import Header
from onedoor.errors import ValidationFailed

FORMAT_VERSION = 1
MAX_FUTURE_FORMAT = 15
"""Format numbers above ours up to this are a newer envelope, not noise."""
SIGNATURE_SIZE = 64
MAC_SIZE = 32
TRAILER_SIZE = SIGNATURE_SIZE + MAC_SIZE


def _without_logical_types(node: Any) -> Any:
    # The wire bytes of timestamp-millis are a plain long; reading them as ints skips a
    # datetime conversion per field on the router's hot path.
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def _load_schemas() -> tuple[Any, Any, Any]:
    text = resources.files("contracts").joinpath("schemas/onedoor.envelope.avsc").read_text()
    raw = _without_logical_types(json.loads(text))
    fields = {f["name"]: f for f in raw["fields"]}
    header_schema = fastavro.parse_schema(fields["header"]["type"])
    tail = {
        "type": "record",
        "name": "EnvelopeTail",
        "namespace": "onedoor.envelope",
        "fields": [fields[n] for n in ("ephemeral_key", "wrapped_keys", "nonce", "ciphertext")],
    }
    return fastavro.parse_schema(raw), header_schema, fastavro.parse_schema(tail)


ENVELOPE_SCHEMA, HEADER_SCHEMA, _TAIL_SCHEMA = _load_schemas()


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """The data key wrapped for one recipient."""

    recipient: str
    """Agency id this copy is for."""
    key_id: str
    """The recipient's X25519 key id it is wrapped to."""
    wrapped: bytes
    """AES-256-GCM of the data key (48 bytes)."""


@dataclass(frozen=True, slots=True)
class ParsedEnvelope:
    """An envelope split into its parts, with the byte ranges each check needs."""

    value: bytes
    """The whole record as it travelled."""
    header_record: dict[str, Any]
    """The header as decoded Avro, not yet validated into a ``Header``."""
    header_bytes: bytes
    """The header's exact bytes: the body's associated data."""
    ephemeral_key: bytes
    wrapped_keys: tuple[WrappedKey, ...]
    nonce: bytes
    ciphertext: bytes

    @property
    def signed_part(self) -> bytes:
        """Every byte the sender's signature covers."""
        return self.value[:-TRAILER_SIZE]

    @property
    def signature(self) -> bytes:
        """The sender's Ed25519 signature."""
        return self.value[-TRAILER_SIZE:-MAC_SIZE]

    @property
    def maced_part(self) -> bytes:
        """Every byte the hub MAC covers."""
        return self.value[:-MAC_SIZE]

    @property
    def hub_mac(self) -> bytes:
        """The HMAC-SHA256 the hub checks."""
        return self.value[-MAC_SIZE:]

    def header(self) -> Header:
        """The header, validated into typed identifiers."""
        return Header.from_avro(self.header_record)


def _zigzag_long(value: int) -> bytes:
    out = bytearray()
    n = (value << 1) ^ (value >> 63)
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_header(header: Header) -> bytes:
    """Avro binary of the header: the associated data of the body and of every wrapped key."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, HEADER_SCHEMA, header.to_avro())
    return buf.getvalue()


def encode_unsigned(
    header_bytes: bytes,
    ephemeral_key: bytes,
    wrapped_keys: list[WrappedKey],
    nonce: bytes,
    ciphertext: bytes,
) -> bytes:
    """Every byte before the signature: format, header, keys, nonce, ciphertext."""
    buf = io.BytesIO()
    buf.write(_zigzag_long(FORMAT_VERSION))
    buf.write(header_bytes)
    fastavro.schemaless_writer(
        buf,
        _TAIL_SCHEMA,
        {
            "ephemeral_key": ephemeral_key,
            "wrapped_keys": [
                {"recipient": w.recipient, "key_id": w.key_id, "wrapped": w.wrapped} for w in wrapped_keys
            ],
            "nonce": nonce,
            "ciphertext": ciphertext,
        },
    )
    return buf.getvalue()


def _read(stream: io.BytesIO, schema: Any) -> Any:
    try:
        return fastavro.schemaless_reader(stream, schema)
    except Exception as exc:  # noqa: BLE001 - any decoder failure on untrusted bytes means "malformed"
        raise ValidationFailed("envelope.malformed", f"not an Avro envelope ({type(exc).__name__})") from None


_FORMAT_BYTE = 2  # zigzag varint of FORMAT_VERSION


def read_header(value: bytes) -> dict[str, Any]:
    """Decode only the header: the router's fast path (it never needs the rest).

    Raises:
        ValidationFailed: ``envelope.malformed`` or ``envelope.unsupported_format``.
    """
    if len(value) < TRAILER_SIZE + 8:
        raise ValidationFailed("envelope.malformed", "too short to be an envelope")
    if value[0] != _FORMAT_BYTE:
        fmt = value[0] >> 1 if not value[0] & 0x81 else None
        if fmt is not None and FORMAT_VERSION < fmt <= MAX_FUTURE_FORMAT:
            raise ValidationFailed("envelope.unsupported_format", f"envelope format {fmt} is not supported")
        raise ValidationFailed("envelope.malformed", "does not start with an envelope format number")
    stream = io.BytesIO(value)
    stream.seek(1)
    header: dict[str, Any] = _read(stream, HEADER_SCHEMA)
    if stream.tell() > len(value) - TRAILER_SIZE:
        raise ValidationFailed("envelope.malformed", "header runs into the signature")
    return header


def parse(value: bytes) -> ParsedEnvelope:
    """Split an envelope's bytes into its parts.

    Raises:
        ValidationFailed: ``envelope.malformed`` for anything that is not a format-1 envelope.
    """
    if len(value) < TRAILER_SIZE + 8:
        raise ValidationFailed("envelope.malformed", "too short to be an envelope")
    body = memoryview(value)[:-TRAILER_SIZE]
    stream = io.BytesIO(body)
    fmt = _read(stream, "int")
    if fmt != FORMAT_VERSION and isinstance(fmt, int) and FORMAT_VERSION < fmt <= MAX_FUTURE_FORMAT:
        raise ValidationFailed("envelope.unsupported_format", f"envelope format {fmt!r} is not supported")
    if fmt != FORMAT_VERSION:
        raise ValidationFailed("envelope.malformed", "does not start with an envelope format number")
    start = stream.tell()
    header_record = _read(stream, HEADER_SCHEMA)
    end = stream.tell()
    tail = _read(stream, _TAIL_SCHEMA)
    if stream.tell() != len(body):
        raise ValidationFailed("envelope.malformed", "trailing bytes before the signature")
    return ParsedEnvelope(
        value=value,
        header_record=header_record,
        header_bytes=bytes(body[start:end]),
        ephemeral_key=tail["ephemeral_key"],
        wrapped_keys=tuple(WrappedKey(w["recipient"], w["key_id"], w["wrapped"]) for w in tail["wrapped_keys"]),
        nonce=tail["nonce"],
        ciphertext=tail["ciphertext"],
    )
