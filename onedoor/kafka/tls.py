"""TLS for the broker's client listener (SASL_SSL): a local CA and the broker's certificate, made here.

A secured local cluster (``onedoor.kafka.local.BrokerSecurity`` with ``tls=True``) keeps its TLS
material in ``<data dir>/tls/``:

``ca.pem``
    The CA certificate (public, 0644): what every client trusts (``ClientCredentials.ca_file``,
    ``ONEDOOR_KAFKA__CA_FILE``, ``ONEDOOR_CONNECTOR_KAFKA__CA_FILE``) and the brokers' truststore.
``ca.key``
    The CA's private key (0600). It signs the broker certificate and nothing else.
``broker.pem``
    The broker's private key (PKCS#8, unencrypted) followed by its certificate and the CA's:
    Kafka's PEM keystore (``ssl.keystore.type=PEM``, Kafka 2.7 and later), mode 0600. Unencrypted
    like ``server.properties`` (which holds the inter-broker password): the file mode protects both.

Keys are ECDSA P-256 (Java's TLS stack supports it everywhere; Ed25519 certificates it does not).
The broker certificate names ``DNS:localhost`` and ``IP:127.0.0.1``, the addresses the cluster
listens on and advertises, so clients verify the host name (``check_hostname``) as well as the chain.
It is valid for a year (the CA for five); :func:`ensure_broker_tls` renews it with the same CA
when less than 30 days are left, so clients keep trusting ``ca.pem``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onedoor.errors import ValidationFailed
from onedoor.files import write_atomically

CA_DAYS: Final = 5 * 365
SERVER_DAYS: Final = 365
RENEW_BEFORE: Final = dt.timedelta(days=30)
DEFAULT_DNS: Final = ("localhost",)
DEFAULT_IPS: Final = ("127.0.0.1",)
PROTOCOLS: Final = "TLSv1.3,TLSv1.2"
CA_FILE_CODE: Final = "kafka.ca_file"
UNTRUSTED: Final = "certificate not trusted: "
_ORG: Final = "OneDoor local broker"


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """Where a cluster's TLS files are; :meth:`properties` are the broker's ``ssl.*`` settings."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients trust (public)."""
        return self.directory / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        """The CA's private key (0600)."""
        return self.directory / "ca.key"

    @property
    def keystore_file(self) -> Path:
        """The broker's key and certificate chain, Kafka's PEM keystore (0600)."""
        return self.directory / "broker.pem"

    def properties(self) -> dict[str, str]:
        """Broker properties for every SSL listener: PEM keystore and truststore, TLS 1.3/1.2, no client certs."""
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "ssl.client.auth": "none",
            "ssl.enabled.protocols": PROTOCOLS,
            "ssl.protocol": "TLSv1.3",
            # Brokers replicating to each other check the name too (Kafka's default, said out loud).
            "ssl.endpoint.identification.algorithm": "https",
        }


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(
    *, now: dt.datetime | None = None, days: int = CA_DAYS
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new self-signed CA (P-256): may sign end-entity certificates only (path length 0)."""
    start = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("OneDoor local broker CA")
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - dt.timedelta(minutes=5))
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    dns_names: Sequence[str] = DEFAULT_DNS,
    ip_addresses: Sequence[str] = DEFAULT_IPS,
    now: dt.datetime | None = None,
    days: int = SERVER_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and its TLS server certificate signed by the CA, naming ``dns_names`` and ``ip_addresses``.

    Raises:
        ValidationFailed: ``kafka.tls_names`` when no name is given or an address does not parse.
    """
    if not dns_names and not ip_addresses:
        raise ValidationFailed("kafka.tls_names", "a broker certificate names at least one host or address")
    try:
        addresses = [ipaddress.ip_address(ip) for ip in ip_addresses]
    except ValueError:
        raise ValidationFailed("kafka.tls_names", "a broker certificate address is not an IP address") from None
    start = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(a) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0] if dns_names else str(addresses[0])))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - dt.timedelta(minutes=5))
        .not_valid_after(min(start + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether ``ca_cert`` signed ``cert`` (signature and issuer name)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _needs_server_cert(tls: BrokerTls, ca_cert: x509.Certificate, now: dt.datetime) -> bool:
    try:
        chain = x509.load_pem_x509_certificates(tls.keystore_file.read_bytes())
    except (OSError, ValueError):
        return True
    return not chain or not issued_by(chain[0], ca_cert) or chain[0].not_valid_after_utc - now < RENEW_BEFORE


def ensure_broker_tls(
    directory: Path,
    *,
    dns_names: Sequence[str] = DEFAULT_DNS,
    ip_addresses: Sequence[str] = DEFAULT_IPS,
    now: dt.datetime | None = None,
) -> BrokerTls:
    """The TLS files in ``directory`` (0700): reused when present, made when missing, the broker's renewed when due.

    The CA is made once per directory: clients that trust its ``ca.pem`` keep trusting a renewed
    broker certificate. A CA with less than 30 days left is replaced (and clients need the new ``ca.pem``).
    """
    tls = BrokerTls(directory)
    at = now or _now()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    ca = _load_ca(tls)
    if ca is None or ca[1].not_valid_after_utc - at < RENEW_BEFORE:
        ca = make_ca(now=at)
        write_atomically(tls.ca_key_file, _pem_key(ca[0]), 0o600)
        write_atomically(tls.ca_file, _pem_cert(ca[1]), 0o644)
        tls.keystore_file.unlink(missing_ok=True)
    ca_key, ca_cert = ca
    if _needs_server_cert(tls, ca_cert, at):
        key, cert = make_server_certificate(ca_key, ca_cert, dns_names=dns_names, ip_addresses=ip_addresses, now=at)
        write_atomically(tls.keystore_file, _pem_key(key) + _pem_cert(cert) + _pem_cert(ca_cert), 0o600)
    return tls


def _load_ca(tls: BrokerTls) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    try:
        key = serialization.load_pem_private_key(tls.ca_key_file.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return key, cert


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context trusting only ``ca_file``: chain and host name verified, TLS 1.2 or later.

    Raises:
        ValidationFailed: ``kafka.ca_file`` when the file cannot be read or holds no certificate.
    """
    # Not create_default_context: it would trust the system's CAs too; the broker's own CA only.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no PEM certificate in it"
        raise ValidationFailed(CA_FILE_CODE, f"cannot use the broker CA file {ca_file}: {reason}") from None
    return context


def read_ca_pem(ca_file: Path) -> str:
    """The CA certificate's PEM text (to hand to a connector), checked exactly as the connector checks it.

    The same check as :func:`parse_ca_pem` (one certificate, a CA): a file the connector would
    refuse is refused here, before the hub rotates the agency's password.

    Raises:
        ValidationFailed: ``kafka.ca_file`` when it cannot be read or is not one PEM CA certificate.
    """
    try:
        data = ca_file.read_bytes()
    except OSError as exc:
        raise ValidationFailed(CA_FILE_CODE, f"cannot read the broker CA file {ca_file}: {exc.strerror}") from None
    try:
        return parse_ca_pem(data.decode("ascii")).decode("ascii")
    except UnicodeDecodeError:
        raise ValidationFailed(CA_FILE_CODE, f"the broker CA file {ca_file} is not PEM text") from None
    except ValidationFailed as exc:
        raise ValidationFailed(CA_FILE_CODE, f"{ca_file}: {exc.message}") from None


def parse_ca_pem(text: str) -> bytes:
    """``text`` as PEM bytes, checked to be exactly one certificate that is a CA.

    Raises:
        ValidationFailed: ``kafka.ca_file`` otherwise.
    """
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationFailed(CA_FILE_CODE, "the broker CA certificate is not PEM text") from None
    if len(certs) != 1:
        raise ValidationFailed(CA_FILE_CODE, "the broker CA certificate must be exactly one certificate")
    try:
        constraints = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValidationFailed(CA_FILE_CODE, "the broker CA certificate is not a CA certificate")
    return _pem_cert(certs[0])


async def speaks_tls(host: str, port: int, within: float) -> bool:
    """Whether ``host:port`` completes a TLS handshake (certificate NOT checked: a probe for error messages)."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # never used for data: it only tells "this port wants TLS" apart
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=probe), timeout=within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def tls_failure(exc: BaseException) -> str | None:
    """Why a TLS connection failed, in words, when ``exc`` (or what caused it) is a TLS error; else ``None``."""
    current: BaseException | None = exc
    for _ in range(5):
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"{UNTRUSTED}{current.verify_message}"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed: {current.reason or type(current).__name__}"
        if current is None:
            return None
        current = current.__cause__ or current.__context__
    return None
