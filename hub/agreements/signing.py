"""Approval signatures: an agency's Ed25519 signing key over what exactly it approved.

The signed message binds the agreement id, the version number and the SHA-256 digest of the
version's canonical JSON, under a domain prefix, so a signature cannot be replayed for another
agreement, another version, or anything else the agency signs (envelopes use their own prefix).
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

APPROVAL_DOMAIN: Final = b"onedoor.agreement-approval.v1\x00"
SIGNATURE_SIZE: Final = 64


def approval_message(agreement_id: str, version: int, digest: str) -> bytes:
    """The bytes an approval signature covers."""
    return APPROVAL_DOMAIN + f"{agreement_id}\x00{version}\x00{digest}".encode()


def sign_approval(key: Ed25519PrivateKey, agreement_id: str, version: int, digest: str) -> bytes:
    """Sign an approval of ``version`` of ``agreement_id`` whose content has ``digest``."""
    return key.sign(approval_message(agreement_id, version, digest))


def verify_approval(public_key: bytes, signature: bytes, agreement_id: str, version: int, digest: str) -> bool:
    """Whether ``signature`` is ``public_key``'s signature of that approval."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, approval_message(agreement_id, version, digest)
        )
    except (InvalidSignature, ValueError):
        return False
    return True
