"""The CSMS's certificate authority for charging station certificates (OCPP 2.0.1
block A, the 1.6 security whitepaper's SignCertificate).

A station sends a certificate signing request; the gateway checks it
(:func:`check_csr`: well formed, self-signed by its key, the common name the
station's own id) before it answers Accepted; the ``CertificateSigning`` workflow
then has it signed here and sends the chain with CertificateSigned. The CA's key
is the operator's (``CSMS_CA_CERT`` / ``CSMS_CA_KEY``), or, for development, one
generated once under the data directory and kept there; it never leaves this
module (no log, no history: only the public chain travels).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTIFICATE_DAYS = 365
"""How long a station certificate is valid (renewal: TriggerMessage
SignChargingStationCertificate before it runs out)."""

MAX_CSR_CHARS = 5500
"""OCPP's ``csr`` field holds at most 5500 characters of PEM."""


class CsrRefused(ValueError):
    """Why a certificate signing request is refused (said to the station as Rejected)."""


def check_csr(pem: str, station_id: str) -> x509.CertificateSigningRequest:
    """The request if a station may have it signed: PEM, signed by the key it
    carries, an EC (P-256 or stronger) or RSA (2048 bits or more) key, and the common
    name the station's own id (a station cannot have another's identity signed)."""
    if len(pem) > MAX_CSR_CHARS:
        raise CsrRefused("the CSR is longer than OCPP allows")
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        raise CsrRefused("not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise CsrRefused("the CSR's signature does not match its key")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CsrRefused("an RSA key of fewer than 2048 bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < 256:
            raise CsrRefused("an EC key below P-256")
    else:
        raise CsrRefused("the key is neither EC nor RSA")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [station_id]:
        raise CsrRefused("the CSR's common name is not this station's id")
    return csr


@dataclass(frozen=True)
class SignedCertificate:
    """A station certificate as issued: the chain to send and what to keep."""

    chain_pem: str
    serial_number: str
    not_after: datetime


class CertificateAuthority:
    """Signs station certificates with one CA key."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self._key = key

    @property
    def certificate_pem(self) -> str:
        """The CA's own certificate: the root stations' certificates chain to (configure
        it as the gateway's client CA for security profile 3)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, csr: x509.CertificateSigningRequest, now: datetime) -> SignedCertificate:
        """A client certificate for the request's subject and key, chained to the CA."""
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CERTIFICATE_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
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
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.certificate.public_bytes(
            serialization.Encoding.PEM
        )
        return SignedCertificate(
            chain_pem=chain.decode(),
            serial_number=format(cert.serial_number, "x"),
            not_after=cert.not_valid_after_utc,
        )

    @classmethod
    def load(cls, certificate_file: str | Path, key_file: str | Path) -> CertificateAuthority:
        """The operator's CA (PEM certificate and unencrypted PEM EC key)."""
        cert = x509.load_pem_x509_certificate(Path(certificate_file).read_bytes())
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key must be an EC private key")
        return cls(cert, key)

    @classmethod
    def generate(cls, name: str = "CSMS development CA") -> CertificateAuthority:
        """A new self-signed CA (development and tests)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def development(cls, folder: Path) -> CertificateAuthority:
        """The development CA kept in ``folder`` (made on first use, key readable by the
        owner only), so a restart signs with the same root."""
        cert_file, key_file = folder / "ca.pem", folder / "ca.key"
        if cert_file.exists() and key_file.exists():
            return cls.load(cert_file, key_file)
        authority = cls.generate()
        folder.mkdir(parents=True, exist_ok=True)
        key_bytes = authority._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key_bytes)
        cert_file.write_text(authority.certificate_pem)
        return authority
