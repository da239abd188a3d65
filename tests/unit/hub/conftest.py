"""Unit fixtures for the hub: an in-memory SQLite session with every hub table."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import hub.agencies.models  # noqa: F401 - registers the agency tables in the metadata
from onedoor.db import Base, make_engine, make_session_factory


def raw_public(private: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    """The raw 32 public-key bytes of a private key."""
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def new_signing_key() -> bytes:
    """A fresh raw Ed25519 public key."""
    return raw_public(Ed25519PrivateKey.generate())


def new_encryption_key() -> bytes:
    """A fresh raw X25519 public key."""
    return raw_public(X25519PrivateKey.generate())


def b64(raw: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def session() -> Iterator[Session]:
    """A session on a fresh in-memory database, inside a transaction rolled back at the end."""
    engine = make_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in ("agency", "agency_key")])
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        yield session
        session.rollback()
    engine.dispose()
