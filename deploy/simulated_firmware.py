"""Firmware updates as a simulated charger does them, in any OCPP version.

The charger downloads the image from its URL, verifies its signature against the
signing certificate when the request was signed (RSA or ECDSA over SHA-256, with
``cryptography``), reports each status, reboots (its socket closes, it reconnects
and boots) and reports the version written in the image. A simulated image is a
file whose first line is ``CSMS-SIM-FIRMWARE <version>``
(:func:`simulated_image`); anything else does not install.

A :class:`FirmwarePlan` makes a share of the stations (or named ones) fail at a
chosen step, as a test or a demonstration needs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

log = logging.getLogger(__name__)

MAGIC = b"CSMS-SIM-FIRMWARE "

FailStep = Literal["download", "signature", "install", "old_version", "never_back"]
Family = Literal["1.6", "1.6-signed", "2.x"]
"""1.6 UpdateFirmware, 1.6 security extension SignedUpdateFirmware, 2.0.1/2.1."""


def simulated_image(version: str, size: int = 4096) -> bytes:
    """A firmware file the simulated chargers install as ``version``."""
    head = MAGIC + version.encode() + b"\n"
    return head + bytes(i % 251 for i in range(max(0, size - len(head))))


def image_version(content: bytes) -> str | None:
    """The version a simulated image installs, or None if it is not one."""
    first, _, _ = content.partition(b"\n")
    if not first.startswith(MAGIC):
        return None
    return first[len(MAGIC) :].decode(errors="replace").strip() or None


def signature_valid(content: bytes, signature_b64: str, certificate_pem: str) -> bool:
    """Whether ``signature_b64`` signs ``content`` with the key of the certificate."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        signature = base64.b64decode(signature_b64, validate=True)
        key = certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, content, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class FirmwarePlan:
    """Which simulated stations fail an update, and where; how fast the steps go."""

    fail_share: float = 0.0
    fail_step: FailStep = "install"
    fail_stations: frozenset[str] = frozenset()
    step_s: float = 0.05
    reboot_s: float = 0.2

    def fails(self, station_id: str) -> FailStep | None:
        """The step at which ``station_id`` fails, if it does (stable per station)."""
        if station_id in self.fail_stations:
            return self.fail_step
        digest = int(hashlib.sha256(station_id.encode()).hexdigest()[:8], 16)
        return self.fail_step if digest % 10_000 < self.fail_share * 10_000 else None


@dataclass
class FirmwareState:
    """What a simulated station keeps across its reboots."""

    version: str
    # Statuses to report after the next boot (1.6 and 2.x: Installed).
    after_boot: list[tuple[str, int | None]] = field(default_factory=list)
    reboot: asyncio.Event = field(default_factory=asyncio.Event)
    updating: bool = False


Report = Callable[[str, int | None], Awaitable[None]]
"""Send a firmware status notification (status, request id) over the current socket."""


class FirmwareInstaller:
    """Runs one station's firmware update after the charger accepted the request."""

    def __init__(self, station_id: str, state: FirmwareState, plan: FirmwarePlan) -> None:
        self.station_id = station_id
        self.state = state
        self.plan = plan
        self._task: asyncio.Task[None] | None = None

    def begin(
        self,
        family: Family,
        location: str,
        request_id: int | None,
        report: Report,
        signature: str | None = None,
        certificate: str | None = None,
    ) -> bool:
        """Start the update in the background; False if one is under way already."""
        if self.state.updating:
            return False
        self.state.updating = True
        self._task = asyncio.create_task(
            self._run(family, location, request_id, report, signature, certificate)
        )
        return True

    async def _run(
        self,
        family: Family,
        location: str,
        request_id: int | None,
        report: Report,
        signature: str | None,
        certificate: str | None,
    ) -> None:
        fails = self.plan.fails(self.station_id)
        try:
            await self._steps(family, location, request_id, report, signature, certificate, fails)
        except Exception as error:  # a simulated charger keeps running
            log.warning("%s: firmware update broke off: %s", self.station_id, error)
            self.state.updating = False

    async def _steps(
        self,
        family: Family,
        location: str,
        request_id: int | None,
        report: Report,
        signature: str | None,
        certificate: str | None,
        fails: FailStep | None,
    ) -> None:
        pause = self.plan.step_s

        async def say(status: str) -> None:
            await asyncio.sleep(pause)
            await report(status, request_id)

        await say("Downloading")
        content: bytes | None = None
        if fails != "download":
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    answer = await http.get(location)
                    answer.raise_for_status()
                    content = answer.content
            except httpx.HTTPError as error:
                log.info("%s: download of %s failed: %s", self.station_id, location, error)
        if content is None:
            await say("DownloadFailed")
            self.state.updating = False
            return
        await say("Downloaded")
        if signature is not None and certificate is not None:
            if fails == "signature" or not signature_valid(content, signature, certificate):
                await say("InvalidSignature")
                self.state.updating = False
                return
            await say("SignatureVerified")
        await say("Installing")
        version = image_version(content)
        if fails == "install" or version is None:
            await say(
                "InstallationFailed" if family != "2.x" or version else "InstallVerificationFailed"
            )
            self.state.updating = False
            return
        if family != "1.6":
            await say("InstallRebooting")
        if fails == "never_back":
            # Bricked: it reboots and never connects again.
            self.state.version = "bricked"
            self.state.reboot.set()
            return
        if fails != "old_version":
            self.state.version = version
            self.state.after_boot.append(("Installed", request_id))
        self.state.updating = False
        self.state.reboot.set()
