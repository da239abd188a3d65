"""Pydantic in/out models of the agency registry, and the public-key text form.

Public keys travel as unpadded base64url of their raw 32 bytes. A key that does not load
with ``cryptography`` is refused with the stable code ``agency.bad_public_key``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from hub.agencies.directory import AgencyDirectory, AgencyEntry, DirectoryKey
from hub.agencies.enums import AgencyKind, AgencyStatus, KeyAlgorithm, KeyStatus, KeyUse
from onedoor.errors import ValidationFailed
from onedoor.ids import AgencyId, KeyId

if TYPE_CHECKING:
    from hub.agencies.models import Agency, AgencyKey

BAD_PUBLIC_KEY = "agency.bad_public_key"
_B64URL_32 = re.compile(r"[A-Za-z0-9_-]{43}=?")


def b64url(raw: bytes) -> str:
    """Unpadded base64url, the one text form of a public key."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def load_public_key(use: KeyUse, value: object) -> bytes:
    """Check ``value`` (base64url text, or raw bytes) loads as a ``use`` key; return the raw 32 bytes.

    Raises:
        ValidationFailed: ``agency.bad_public_key`` if it is not a usable raw public key.
    """
    algorithm = use.algorithm
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str) and _B64URL_32.fullmatch(value):
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=")
    else:
        raise ValidationFailed(BAD_PUBLIC_KEY, f"not a raw 32-byte {algorithm} key in base64url")
    try:
        if algorithm is KeyAlgorithm.ED25519:
            Ed25519PublicKey.from_public_bytes(raw)
        else:
            # A low-order point yields an all-zero shared secret; cryptography refuses it here.
            X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise ValidationFailed(BAD_PUBLIC_KEY, f"not a usable {algorithm} public key") from None
    return raw


def _pydantic_error(exc: ValidationFailed) -> PydanticCustomError:
    return PydanticCustomError(exc.code, exc.message)


def _identifier_parser(cls: type[AgencyId] | type[KeyId]) -> Callable[[object], Any]:
    def parse(value: object) -> AgencyId | KeyId:
        if not isinstance(value, str):
            raise PydanticCustomError(f"{cls.kind}.invalid", f"a {cls.kind} is a string")
        try:
            return cls(value)
        except ValidationFailed as exc:
            raise _pydantic_error(exc) from None

    return parse


def _key_parser(fixed: KeyUse | None) -> Callable[[object, ValidationInfo], bytes]:
    def parse(value: object, info: ValidationInfo) -> bytes:
        use = fixed or info.data.get("use")
        if use is None:
            # ``use`` was itself invalid and is reported; the model is never built, so no key is needed.
            return b""
        try:
            return load_public_key(use, value)
        except ValidationFailed as exc:
            raise _pydantic_error(exc) from None

    return parse


def _key_schema(what: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": f"^{_B64URL_32.pattern}$", "description": f"Raw 32-byte {what}, base64url."}
    )


AgencyIdField = Annotated[
    AgencyId,
    PlainValidator(_identifier_parser(AgencyId), json_schema_input_type=str),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": f"^{AgencyId.pattern.pattern}$"}),
]
"""An ``AgencyId`` in a request or response."""
KeyIdField = Annotated[
    KeyId,
    PlainValidator(_identifier_parser(KeyId), json_schema_input_type=str),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": f"^{KeyId.pattern.pattern}$"}),
]
"""A ``KeyId`` in a request or response."""
SigningPublicKey = Annotated[
    bytes,
    PlainValidator(_key_parser(KeyUse.SIGNING), json_schema_input_type=str),
    PlainSerializer(b64url, return_type=str),
    _key_schema("Ed25519 public key"),
]
EncryptionPublicKey = Annotated[
    bytes,
    PlainValidator(_key_parser(KeyUse.ENCRYPTION), json_schema_input_type=str),
    PlainSerializer(b64url, return_type=str),
    _key_schema("X25519 public key"),
]
PublicKeyForUse = Annotated[
    bytes,
    PlainValidator(_key_parser(None), json_schema_input_type=str),
    PlainSerializer(b64url, return_type=str),
    _key_schema("public key: Ed25519 to sign, X25519 to encrypt"),
]
"""A key checked against the model's ``use`` field (declared before it)."""
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class AgencyCreate(BaseModel):
    """Register an agency with its first signing and encryption keys."""

    model_config = ConfigDict(extra="forbid")

    id: AgencyIdField
    display_name: DisplayName
    kind: AgencyKind
    signing_public_key: SigningPublicKey
    """Ed25519, raw 32 bytes, base64url: verifies what the agency sends."""
    encryption_public_key: EncryptionPublicKey
    """X25519, raw 32 bytes, base64url: senders seal envelopes to it."""


class KeyCreate(BaseModel):
    """Add a key; it becomes current and the previous current key of that use retires."""

    model_config = ConfigDict(extra="forbid")

    use: KeyUse
    public_key: PublicKeyForUse
    not_after: AwareDatetime | None = None
    """Optional end of validity of the new key."""


class KeyOut(BaseModel):
    """A public key as the registry holds it."""

    key_id: KeyIdField
    use: KeyUse
    algorithm: KeyAlgorithm
    public_key: str
    """Raw 32 bytes, base64url."""
    status: KeyStatus
    created_at: datetime
    not_after: datetime | None

    @classmethod
    def from_model(cls, key: AgencyKey) -> Self:
        """Render a key row."""
        return cls(
            key_id=KeyId(key.key_id),
            use=key.use,
            algorithm=key.algorithm,
            public_key=b64url(key.public_key),
            status=key.status,
            created_at=key.created_at,
            not_after=key.not_after,
        )


def _key_order(key: AgencyKey) -> tuple[datetime, str, str]:
    # Oldest first; a registration's two keys share a timestamp, so break the tie by use and id.
    return key.created_at, key.use.value, key.key_id


class AgencyOut(BaseModel):
    """An agency with every key it has had."""

    id: AgencyIdField
    display_name: str
    kind: AgencyKind
    status: AgencyStatus
    created_at: datetime
    current_signing_key_id: KeyIdField | None
    current_encryption_key_id: KeyIdField | None
    keys: list[KeyOut]

    @classmethod
    def from_model(cls, agency: Agency) -> Self:
        """Render an agency row and its keys."""

        def current(use: KeyUse) -> KeyId | None:
            found = [k for k in agency.keys if k.use is use and k.status is KeyStatus.CURRENT]
            return KeyId(found[0].key_id) if found else None

        return cls(
            id=AgencyId(agency.id),
            display_name=agency.display_name,
            kind=agency.kind,
            status=agency.status,
            created_at=agency.created_at,
            current_signing_key_id=current(KeyUse.SIGNING),
            current_encryption_key_id=current(KeyUse.ENCRYPTION),
            keys=[KeyOut.from_model(k) for k in sorted(agency.keys, key=_key_order)],
        )


class AgencyList(BaseModel):
    """Every registered agency, by id."""

    items: list[AgencyOut]


class DirectoryKeyOut(BaseModel):
    """A public key that may be used now."""

    key_id: KeyIdField
    algorithm: KeyAlgorithm
    public_key: str
    """Raw 32 bytes, base64url."""
    status: KeyStatus
    """``current`` (use it) or ``retired`` (still accept it until ``not_after``)."""
    not_after: datetime | None


class DirectoryAgencyOut(BaseModel):
    """An active agency and the keys to verify it and encrypt to it."""

    id: AgencyIdField
    display_name: str
    kind: AgencyKind
    signing_keys: list[DirectoryKeyOut]
    encryption_keys: list[DirectoryKeyOut]


class DirectoryOut(BaseModel):
    """The public directory connectors fetch: every active agency's usable public keys."""

    generated_at: datetime
    hub_public_key: str
    """The hub's X25519 public key (raw 32 bytes, base64url): senders key the hub MAC with it."""
    agencies: list[DirectoryAgencyOut]

    @classmethod
    def from_directory(cls, directory: AgencyDirectory, *, hub_public_key: bytes) -> Self:
        """Publish the active agencies of ``directory`` and the hub's MAC key."""

        def keys(found: Mapping[KeyId, DirectoryKey]) -> list[DirectoryKeyOut]:
            return [
                DirectoryKeyOut(
                    key_id=k.key_id,
                    algorithm=k.use.algorithm,
                    public_key=b64url(k.public_key),
                    status=KeyStatus.CURRENT if k.current else KeyStatus.RETIRED,
                    not_after=k.not_after,
                )
                for k in found.values()
            ]

        return cls(
            generated_at=directory.generated_at,
            hub_public_key=b64url(hub_public_key),
            agencies=[
                DirectoryAgencyOut(
                    id=entry.agency_id,
                    display_name=entry.display_name,
                    kind=entry.kind,
                    signing_keys=keys(entry.signing_keys),
                    encryption_keys=keys(entry.encryption_keys),
                )
                for entry in directory.agencies.values()
                if entry.active
            ],
        )

    def to_directory(self) -> AgencyDirectory:
        """The lookup structure a connector builds from a fetched directory document."""

        def keys(use: KeyUse, found: list[DirectoryKeyOut]) -> dict[KeyId, DirectoryKey]:
            return {
                k.key_id: DirectoryKey(
                    key_id=k.key_id,
                    use=use,
                    public_key=load_public_key(use, k.public_key),
                    current=k.status is KeyStatus.CURRENT,
                    not_after=k.not_after,
                )
                for k in found
            }

        return AgencyDirectory.build(
            generated_at=self.generated_at,
            entries=[
                AgencyEntry(
                    agency_id=a.id,
                    display_name=a.display_name,
                    kind=a.kind,
                    active=True,
                    signing_keys=keys(KeyUse.SIGNING, a.signing_keys),
                    encryption_keys=keys(KeyUse.ENCRYPTION, a.encryption_keys),
                )
                for a in self.agencies
            ],
        )
