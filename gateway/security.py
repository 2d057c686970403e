"""OCPP security profiles: what each station must present, and the TLS setup behind them.

- Profile 0: none (development only; a password, if set, is still checked).
- Profile 1: HTTP Basic authentication over ws.
- Profile 2: TLS (wss) and HTTP Basic authentication.
- Profile 3: TLS with a client certificate whose common name is the station id.

A station connecting below its profile is refused at the handshake.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection

REQUIRED_TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    "ECDHE-ECDSA-AES256-GCM-SHA384",  # TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    "ECDHE-RSA-AES128-GCM-SHA256",  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    "ECDHE-RSA-AES256-GCM-SHA384",  # TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256
    "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_256_GCM_SHA384
)
"""The TLS 1.2 suites a CSMS must accept (OCPP security whitepaper / 2.0.1 part 2
A00.FR.318-319), in OpenSSL's names, strongest key exchange first. Python's default
server context leaves out the plain-RSA ones many stations' TLS stacks offer alone.
The ECDSA suites need an EC certificate, the RSA ones an RSA certificate: the
gateway serves both when given both (:attr:`TlsFiles.second_certificate`)."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the gateway's TLS endpoint."""

    certificate: str
    private_key: str
    # CA bundle that signs station certificates (profile 3); None disables client certs.
    client_ca: str | None = None
    # A second certificate of the other key type (RSA beside ECDSA or the reverse),
    # so every required suite can be negotiated.
    second_certificate: str | None = None
    second_private_key: str | None = None


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2+ server context offering the whitepaper's suites (TLS 1.3's as well);
    client certificates are requested when a CA is given.

    They are optional at the TLS layer so profile 2 stations (no certificate)
    share the port; profile 3 is enforced per station after the handshake.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(REQUIRED_TLS12_CIPHERS))
    context.load_cert_chain(files.certificate, files.private_key)
    if files.second_certificate and files.second_private_key:
        context.load_cert_chain(files.second_certificate, files.second_private_key)
    if files.client_ca:
        context.load_verify_locations(files.client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def peer_common_name(connection: ServerConnection) -> str | None:
    """Common name of the verified client certificate, if the station sent one."""
    ssl_object: Any = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate:
        return None
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def is_tls(connection: ServerConnection) -> bool:
    """True when the socket is wss."""
    return connection.transport.get_extra_info("ssl_object") is not None


def profile_refusal(
    profile: int, station_id: str, *, tls: bool, common_name: str | None
) -> str | None:
    """Why a connection falls short of the station's profile (None: it does not)."""
    if profile >= 2 and not tls:
        return f"security profile {profile} requires wss (TLS)"
    if profile == 3:
        if common_name is None:
            return "security profile 3 requires a client certificate"
        if common_name != station_id:
            return "the client certificate does not name this station"
    return None


def needs_password(profile: int, has_password: bool) -> bool:
    """Profiles 1 and 2 authenticate with HTTP Basic (and profile 0 if one is set)."""
    return profile in (1, 2) or (profile == 0 and has_password)
