"""ISO 15118 Plug & Charge contract certificates (Get15118EVCertificate): the CSMS
forwards the vehicle's EXI request to a contract-certificate provider and returns
its EXI answer.

Providers plug in here: :class:`HttpContractProvider` posts to a bridge the
operator runs towards its PKI (a Hubject-style CPS, an eMSP); the built-in
:class:`TestContractProvider` answers every request (conformance runs, never a
real vehicle). Without one the station hears ``Failed`` / ``NoContractCertSvc``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Protocol

import httpx

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ContractAnswer:
    """The provider's verdict and the EXI response (base64) for the vehicle."""

    accepted: bool
    exi_response: str
    reason: str | None = None


class ContractProvider(Protocol):
    """Where contract certificates come from."""

    async def exchange(self, schema_version: str, action: str, exi_request: str) -> ContractAnswer:
        """The answer to one vehicle's Install or Update request."""
        ...


class TestContractProvider:
    """Answers every request Accepted with a recognisable EXI stand-in (the request's
    SHA-256 after ``TEST-CONTRACT:``), so a test can tell it came back."""

    async def exchange(self, schema_version: str, action: str, exi_request: str) -> ContractAnswer:
        """Accepted, with the stand-in response."""
        digest = hashlib.sha256(exi_request.encode()).hexdigest()
        return ContractAnswer(True, base64.b64encode(f"TEST-CONTRACT:{digest}".encode()).decode())


class HttpContractProvider:
    """Posts ``{"schemaVersion", "action", "exiRequest"}`` to ``url`` and expects
    ``{"status": "Accepted" | "Failed", "exiResponse": ...}`` back."""

    def __init__(self, url: str) -> None:
        self._url = url

    async def exchange(self, schema_version: str, action: str, exi_request: str) -> ContractAnswer:
        """The bridge's answer; Failed when it cannot be had."""
        body = {"schemaVersion": schema_version, "action": action, "exiRequest": exi_request}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
                answer = await http.post(self._url, json=body)
            answer.raise_for_status()
            data = answer.json()
            return ContractAnswer(
                data.get("status") == "Accepted", str(data.get("exiResponse", ""))[:17000]
            )
        except (httpx.HTTPError, ValueError) as exc:
            return ContractAnswer(False, "", reason=f"provider: {type(exc).__name__}")


def provider_of(setting: str | None) -> ContractProvider | None:
    """The provider a deployment configured: ``test``, an http(s) URL, or none."""
    if not setting:
        return None
    if setting == "test":
        return TestContractProvider()
    if setting.startswith(("http://", "https://")):
        return HttpContractProvider(setting)
    raise ValueError(f"contract provider {setting!r}: 'test' or an http(s) URL")
