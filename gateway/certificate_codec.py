"""Certificate commands in the 1.6 security extension and in 2.x, and their answers."""

from __future__ import annotations

from typing import Any

from gateway.command_codec import Encoded, NotAvailable, drop_none
from workflows import certificate_commands as cert

ROOTS_16 = {
    "CSMSRoot": "CentralSystemRootCertificate",
    "ManufacturerRoot": "ManufacturerRootCertificate",
}
ROOTS_2X = {
    "CSMSRoot": "CSMSRootCertificate",
    "ManufacturerRoot": "ManufacturerRootCertificate",
    "V2GRoot": "V2GRootCertificate",
    "MORoot": "MORootCertificate",
    "V2GCertificateChain": "V2GCertificateChain",
}
NEUTRAL = {v: k for k, v in (ROOTS_16 | ROOTS_2X).items()}


def _hash_data(command: cert.DeleteCertificate) -> dict[str, Any]:
    return {
        "hashAlgorithm": command.hash_algorithm,
        "issuerNameHash": command.issuer_name_hash,
        "issuerKeyHash": command.issuer_key_hash,
        "serialNumber": command.serial_number,
    }


def encode16(command: Any) -> Encoded | None:
    """The security extension's form of a certificate command; None: not one of them."""
    match command:
        case cert.InstallCertificate():
            kind = ROOTS_16.get(command.kind)
            if kind is None:
                raise NotAvailable(
                    f"a 1.6 station holds no {command.kind} certificate", invalid=True
                )
            return "InstallCertificate", {
                "certificateType": kind,
                "certificate": command.certificate,
            }
        case cert.GetInstalledCertificateIds():
            kinds = [ROOTS_16.get(k) for k in command.kinds]
            if len(kinds) != 1 or kinds[0] is None:
                raise NotAvailable(
                    "1.6 asks for one kind at a time: CSMSRoot or ManufacturerRoot", invalid=True
                )
            return "GetInstalledCertificateIds", {"certificateType": kinds[0]}
        case cert.DeleteCertificate():
            return "DeleteCertificate", {"certificateHashData": _hash_data(command)}
        case cert.CertificateSigned():
            if command.kind != "ChargingStation":
                raise NotAvailable("a 1.6 station has no V2G certificate", invalid=True)
            return "CertificateSigned", {"certificateChain": command.certificate_chain}
    return None


def encode2(command: Any) -> Encoded | None:
    """The 2.x form of a certificate command; None: not one of them."""
    match command:
        case cert.InstallCertificate():
            return "InstallCertificate", {
                "certificateType": ROOTS_2X[command.kind],
                "certificate": command.certificate,
            }
        case cert.GetInstalledCertificateIds():
            kinds = [ROOTS_2X[k] for k in command.kinds]
            return "GetInstalledCertificateIds", drop_none({"certificateType": kinds or None})
        case cert.DeleteCertificate():
            return "DeleteCertificate", {"certificateHashData": _hash_data(command)}
        case cert.CertificateSigned():
            return "CertificateSigned", {
                "certificateChain": command.certificate_chain,
                "certificateType": f"{command.kind}Certificate",
            }
    return None


def _neutral_hash(data: dict[str, Any], kind: str | None) -> dict[str, Any]:
    return drop_none(
        {
            "kind": kind,
            "hash_algorithm": data["hashAlgorithm"],
            "issuer_name_hash": data["issuerNameHash"],
            "issuer_key_hash": data["issuerKeyHash"],
            "serial_number": data["serialNumber"],
        }
    )


def decode(
    version: str, command: Any, response: dict[str, Any]
) -> tuple[str | None, dict[str, Any]] | None:
    """The neutral status and data of a certificate answer; None: not one of them."""
    if isinstance(command, cert.GetInstalledCertificateIds):
        if version == "1.6":
            kind = command.kinds[0] if command.kinds else None
            found = [_neutral_hash(h, kind) for h in response.get("certificateHashData", [])]
        else:
            found = [
                _neutral_hash(chain["certificateHashData"], NEUTRAL.get(chain["certificateType"]))
                for chain in response.get("certificateHashDataChain", [])
            ]
        return response.get("status"), {"certificates": found}
    if isinstance(
        command, cert.InstallCertificate | cert.DeleteCertificate | cert.CertificateSigned
    ):
        return response.get("status"), {}
    return None
