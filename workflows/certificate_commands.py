"""Certificate commands (2.0.1 blocks A and M; the 1.6 security extension): the
station's trusted roots and its own signed certificate, in neutral names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RootKind = Literal["CSMSRoot", "ManufacturerRoot", "V2GRoot", "MORoot"]
"""Trusted roots a station holds: 1.6 knows the first two (CentralSystemRootCertificate,
ManufacturerRootCertificate), 2.x all four."""


@dataclass(frozen=True)
class InstallCertificate:
    """Install a trusted root certificate (PEM) on the station."""

    kind: RootKind
    certificate: str

    def __post_init__(self) -> None:
        if "-----BEGIN CERTIFICATE-----" not in self.certificate:
            raise ValueError("certificate is one PEM certificate")
        if len(self.certificate) > 5500:
            raise ValueError("a certificate is at most 5500 characters of PEM")


@dataclass(frozen=True)
class GetInstalledCertificateIds:
    """The hashes of the certificates of these kinds (2.x: all kinds when empty; 1.6
    asks for one kind at a time)."""

    kinds: list[
        Literal[
            "CSMSRoot",
            "ManufacturerRoot",
            "V2GRoot",
            "MORoot",
            "V2GCertificateChain",
        ]
    ] = field(default_factory=list)


@dataclass(frozen=True)
class DeleteCertificate:
    """Remove an installed certificate, named by its hash data (as the station reported
    it in get-installed-certificate-ids)."""

    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


@dataclass(frozen=True)
class CertificateSigned:
    """Send the station its signed certificate chain (PEM, leaf first): its own
    ChargingStation certificate or (2.x) its V2G certificate."""

    certificate_chain: str
    kind: Literal["ChargingStation", "V2G"] = "ChargingStation"

    def __post_init__(self) -> None:
        if "-----BEGIN CERTIFICATE-----" not in self.certificate_chain:
            raise ValueError("certificate_chain is PEM certificates, leaf first")
        if len(self.certificate_chain) > 10000:
            raise ValueError("a certificate chain is at most 10000 characters of PEM")
