"""OCSP checks a station asks for (GetCertificateStatus; Authorize with ISO 15118
certificate hash data): the CSMS asks the responder the request names.

A station names the responder, so the URL is untrusted: only http(s), bounded
in time and size, and never an address on the CSMS's own networks (loopback,
private, link-local) unless the deployment lists that host
(``GatewayConfig.ocsp_responder_hosts``); otherwise a station could make the CSMS
call its internal services.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
MAX_RESPONSE_BYTES = 4096
"""OCPP's ``ocspResult`` holds at most 5500 characters of base64: 4125 bytes."""

_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@dataclass(frozen=True)
class OcspResult:
    """The responder's verdict on one certificate, and its response to pass on."""

    status: Literal["good", "revoked", "unknown", "failed"]
    response_b64: str | None = None
    reason: str | None = None


class ResponderRefused(ValueError):
    """The responder URL may not be called."""


async def _check_responder(url: str, allowed_hosts: frozenset[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ResponderRefused("the responder URL is not http(s)")
    host = parts.hostname
    if host in allowed_hosts:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or 80, type=socket.SOCK_STREAM
        )
    except OSError:
        raise ResponderRefused(f"the responder host {host!r} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local:
            raise ResponderRefused(f"the responder host {host!r} is on an internal network")


class _TooLarge(Exception):
    pass


class _Refused(Exception):
    pass


async def _post(url: str, body: bytes) -> bytes:
    headers = {"Content-Type": "application/ocsp-request"}
    async with (
        httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as http,
        http.stream("POST", url, content=body, headers=headers) as answer,
    ):
        if answer.status_code != 200:
            raise _Refused(str(answer.status_code))
        raw = b""
        async for chunk in answer.aiter_bytes():
            raw += chunk
            if len(raw) > MAX_RESPONSE_BYTES:
                raise _TooLarge
        return raw


def build_request(data: dict[str, Any]) -> bytes:
    """The DER OCSP request for one certificate named by OCPP's hash data."""
    algorithm = _ALGORITHMS.get(data["hashAlgorithm"])
    if algorithm is None:
        raise ValueError(f"hash algorithm {data['hashAlgorithm']!r}")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            bytes.fromhex(data["issuerNameHash"]),
            bytes.fromhex(data["issuerKeyHash"]),
            int(data["serialNumber"], 16),
            algorithm(),
        )
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


async def check(data: dict[str, Any], allowed_hosts: frozenset[str] = frozenset()) -> OcspResult:
    """Ask ``data["responderURL"]`` about the certificate ``data`` names (OCPP's
    OCSPRequestData); ``failed`` with the reason when no verdict could be had."""
    url = data.get("responderURL") or ""
    try:
        await _check_responder(url, allowed_hosts)
        body = build_request(data)
    except (ResponderRefused, ValueError) as exc:
        return OcspResult("failed", reason=str(exc))
    try:
        raw = await _post(url, body)
    except _TooLarge:
        return OcspResult("failed", reason="the OCSP response is too large")
    except _Refused as exc:
        return OcspResult("failed", reason=f"the responder answered {exc}")
    except httpx.HTTPError as exc:
        return OcspResult("failed", reason=f"the responder is unreachable: {type(exc).__name__}")
    try:
        response = ocsp.load_der_ocsp_response(raw)
    except ValueError:
        return OcspResult("failed", reason="not an OCSP response")
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OcspResult("failed", reason=f"OCSP {response.response_status.name}")
    if response.serial_number != int(data["serialNumber"], 16):
        return OcspResult("failed", reason="the response is about another certificate")
    verdict = {
        ocsp.OCSPCertStatus.GOOD: "good",
        ocsp.OCSPCertStatus.REVOKED: "revoked",
        ocsp.OCSPCertStatus.UNKNOWN: "unknown",
    }[response.certificate_status]
    return OcspResult(verdict, base64.b64encode(raw).decode())  # type: ignore[arg-type]
