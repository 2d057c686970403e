"""The CSMS's certificate authority: which signing requests a station may have signed,
and what it issues (a client certificate chained to the CA, kept across restarts)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from activities.certificate_authority import CertificateAuthority, CsrRefused, check_csr


def make_csr(
    common_name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None
) -> str:
    """A station's signing request in PEM."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Depot Operator"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_a_stations_own_request_is_signed_into_a_client_certificate_of_the_ca() -> None:
    authority = CertificateAuthority.generate()
    now = datetime.now(UTC)
    signed = authority.sign(check_csr(make_csr("CP-7"), "CP-7"), now)
    leaf_pem, root_pem = signed.chain_pem.split("-----END CERTIFICATE-----\n")[:2]
    leaf = x509.load_pem_x509_certificate((leaf_pem + "-----END CERTIFICATE-----\n").encode())
    root = x509.load_pem_x509_certificate((root_pem + "-----END CERTIFICATE-----\n").encode())
    assert root == authority.certificate
    leaf.verify_directly_issued_by(authority.certificate)  # raises if not
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-7"
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signed.serial_number == format(leaf.serial_number, "x")
    assert (signed.not_after - now).days in (364, 365)


@pytest.mark.parametrize(
    ("csr", "reason"),
    [
        (lambda: make_csr("CP-OTHER"), "common name"),
        (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n", "not a PEM"),
        (lambda: make_csr("CP-7", rsa.generate_private_key(65537, 1024)), "2048"),
        (lambda: make_csr("CP-7") + "x" * 6000, "longer"),
    ],
)
def test_a_request_the_station_may_not_have_signed_is_refused(
    csr: Callable[[], str], reason: str
) -> None:
    with pytest.raises(CsrRefused, match=reason):
        check_csr(csr(), "CP-7")


def test_a_tampered_request_fails_its_signature() -> None:
    good = x509.load_pem_x509_csr(make_csr("CP-7").encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CsrRefused, match="signature"):
        check_csr(tampered.decode(), "CP-7")


def test_the_development_ca_is_made_once_and_its_key_kept_private(tmp_path: Path) -> None:
    first = CertificateAuthority.development(tmp_path / "ca")
    again = CertificateAuthority.development(tmp_path / "ca")
    assert again.certificate == first.certificate
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    # A request signed by the reloaded CA chains to the first one's certificate.
    leaf_pem = again.sign(check_csr(make_csr("CP-1"), "CP-1"), datetime.now(UTC)).chain_pem
    leaf = x509.load_pem_x509_certificates(leaf_pem.encode())[0]
    leaf.verify_directly_issued_by(first.certificate)
