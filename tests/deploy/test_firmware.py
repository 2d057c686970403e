"""Firmware end to end: the stack (worker, gateway, API) on a Temporal dev server, and
simulated 1.6, 2.0.1 and 2.1 chargers over WebSockets that download a real file, verify
its signature, report every status, reboot and boot on the new version."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.simulated_firmware import FirmwarePlan, simulated_image
from deploy.simulator import SessionPlan, SimulationStats, provision, run_charger
from deploy.stack import Stack
from tests.conftest import unique
from tests.deploy.conftest import API_KEY, api_client, eventually

SIGNED_16 = ("SignedUpdateFirmware", "SignedFirmwareStatusNotification")


class FileServer:
    """A local HTTP server the chargers download firmware from."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(root))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.root = root
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def files(tmp_path: Path) -> Iterator[FileServer]:
    root = tmp_path / "firmware"
    root.mkdir()
    with FileServer(root) as server:
        yield server


def _signer() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A firmware signing key and its self-signed certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CSMS-Sim firmware signing")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


def _publish(
    files: FileServer,
    version: str,
    signer: tuple[ec.EllipticCurvePrivateKey, str] | None = None,
    *,
    signed_by: ec.EllipticCurvePrivateKey | None = None,
    models: tuple[str, ...] = ("Sim-11kW", "Sim-22kW"),
) -> dict[str, Any]:
    """Write an image to the file server; its catalogue entry (signed when asked)."""
    content = simulated_image(version)
    name = f"sim-{version}-{unique('f')}.bin"
    (files.root / name).write_bytes(content)
    image: dict[str, Any] = {
        "id": unique("img"),
        "vendor": "CSMS-Sim",
        "models": list(models),
        "version": version,
        "location": f"{files.url}/{name}",
        "sha256": hashlib.sha256(content).hexdigest(),
        "md5": hashlib.md5(content).hexdigest(),
    }
    if signer is not None:
        key, certificate = signer
        signature = (signed_by or key).sign(content, ec.ECDSA(hashes.SHA256()))
        image["signature"] = base64.b64encode(signature).decode()
        image["signing_certificate"] = certificate
    return image


@contextlib.asynccontextmanager
async def fleet(
    stack: Stack, chargers: dict[str, str], plan: FirmwarePlan
) -> AsyncIterator[asyncio.Event]:
    """Simulated chargers ``{station: version}`` registered, connected and waiting."""
    assert stack.gateway is not None
    site = unique("fw-site")
    await provision(f"http://127.0.0.1:{stack.api_port}", API_KEY, list(chargers), site)
    stop, stats = asyncio.Event(), SimulationStats()
    gateway = f"ws://127.0.0.1:{stack.gateway.port}"
    tasks = [
        asyncio.create_task(
            run_charger(gateway, s, SessionPlan(), stats, 0, stop, v, firmware=plan, charge=False)
        )
        for s, v in chargers.items()
    ]
    async with api_client(stack) as http:
        for station in chargers:
            await eventually(functools.partial(_booted, http, station))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _booted(http: httpx.AsyncClient, station: str) -> bool:
    answer = await http.get(f"/stations/{station}")
    return answer.status_code == 200 and answer.json().get("firmware_version") is not None


async def _actions(http: httpx.AsyncClient, station: str, *wanted: str) -> list[str]:
    """The station's logged actions, oldest first, once ``wanted`` are among them (the
    message log is written in batches, a moment after the frames)."""

    async def logged() -> list[str] | None:
        answer = await http.get(f"/stations/{station}/messages", params={"limit": 200})
        actions = [m["action"] for m in reversed(answer.json())]
        return actions if all(w in actions for w in wanted) else None

    return await eventually(logged)


async def test_a_mixed_fleet_campaign_installs_signed_firmware_and_a_failed_install_is_counted(
    stack: Stack, files: FileServer
) -> None:
    signer = _signer()
    s16, s16b, s2, s2_fails, s21 = (unique(p) for p in ("F16", "F16B", "F201", "F201X", "F21"))
    chargers = {s16: "1.6", s16b: "1.6", s2: "2.0.1", s2_fails: "2.0.1", s21: "2.1"}
    plan = FirmwarePlan(fail_stations=frozenset({s2_fails}), fail_step="install")
    # One image per model (the simulator's 1.6 chargers are 11 kW, its 2.x ones 22 kW).
    image = _publish(files, "3.1.0", signer, models=("Sim-11kW",))
    image22 = _publish(files, "3.2.0", signer, models=("Sim-22kW",))
    async with fleet(stack, chargers, plan), api_client(stack) as http:
        assert (await http.post("/firmware", json=image)).status_code == 201
        assert (await http.post("/firmware", json=image22)).status_code == 201
        started = await http.post(
            "/rollouts",
            json={
                "image_id": image["id"],
                "other_image_ids": [image22["id"]],
                "targets": {"station_ids": list(chargers)},
                "canary_count": 1,
                "soak_s": 0,
                "promote_share": 0.5,
                "abort_min_stations": 2,
                "abort_shares": {"install_failed": 0.5},
                "max_site_share": 1.0,
            },
        )
        assert started.status_code == 201, started.text
        rollout = started.json()["id"]

        async def over() -> dict[str, Any] | None:
            answer = (await http.get(f"/rollouts/{rollout}", params={"stations": True})).json()
            return answer if answer["state"] != "running" else None

        done = await eventually(over, timeout=90)
        assert done["state"] == "completed", done
        assert done["progress"]["counts"] == {"succeeded": 4, "failed": 1}
        assert done["progress"]["failures"] == {"install_failed": 1}
        assert done["other_image_ids"] == [image22["id"]]
        for station, version in ((s16, "3.1.0"), (s16b, "3.1.0"), (s2, "3.2.0"), (s21, "3.2.0")):
            history = (await http.get(f"/stations/{station}/firmware")).json()
            assert history["version"] == version
            assert history["updates"][0]["status"] == "succeeded"
            assert [v["version"] for v in history["versions"]][:1] == [version]
        failed = (await http.get(f"/stations/{s2_fails}/firmware")).json()
        assert failed["version"] == "2.0.0"
        assert (failed["updates"][0]["failure"], failed["updates"][0]["charger_status"]) == (
            "install_failed",
            "InstallationFailed",
        )
        # Signed images reach 1.6 stations through the security extension.
        actions = await _actions(http, s16, *SIGNED_16)
        assert actions.count("BootNotification") == 2
        assert "SignedUpdateFirmware" not in await _actions(http, s2, "UpdateFirmware")


async def test_one_station_is_updated_with_a_plain_image(stack: Stack, files: FileServer) -> None:
    station = unique("F16P")
    image = _publish(files, "1.0.1")
    async with fleet(stack, {station: "1.6"}, FirmwarePlan()), api_client(stack) as http:
        assert (await http.post("/firmware", json=image)).status_code == 201
        started = await http.post(
            f"/stations/{station}/firmware-updates", json={"image_id": image["id"]}
        )
        assert started.status_code == 202, started.text
        again = await http.post(
            f"/stations/{station}/firmware-updates", json={"image_id": image["id"]}
        )
        assert again.status_code == 409

        async def finished() -> dict[str, Any] | None:
            history = (await http.get(f"/stations/{station}/firmware")).json()
            update = history["updates"][0] if history["updates"] else None
            return history if update and update["finished_at"] else None

        history = await eventually(finished, timeout=60)
        assert history["updates"][0]["status"] == "succeeded", history
        assert history["version"] == "1.0.1"
        actions = await _actions(http, station, "UpdateFirmware", "FirmwareStatusNotification")
        assert "SignedUpdateFirmware" not in actions


async def test_an_invalid_signature_stops_the_campaign_at_the_canary(
    stack: Stack, files: FileServer
) -> None:
    signer, impostor = _signer(), _signer()
    chargers = {unique("F201S"): "2.0.1", unique("F16S"): "1.6", unique("F201T"): "2.0.1"}
    # Signed by another key than the certificate's: every charger refuses it.
    image = _publish(files, "9.9.9", signer, signed_by=impostor[0])
    async with fleet(stack, chargers, FirmwarePlan()), api_client(stack) as http:
        assert (await http.post("/firmware", json=image)).status_code == 201
        started = await http.post(
            "/rollouts",
            json={
                "image_id": image["id"],
                "targets": {"station_ids": list(chargers)},
                "canary_count": 1,
                "soak_s": 0,
                "max_site_share": 1.0,
            },
        )
        rollout = started.json()["id"]

        async def over() -> dict[str, Any] | None:
            answer = (await http.get(f"/rollouts/{rollout}")).json()
            return answer if answer["state"] != "running" else None

        done = await eventually(over, timeout=60)
        assert done["state"] == "aborted", done
        assert "invalid firmware signature" in done["reason"]
        assert done["progress"]["counts"] == {"failed": 1, "pending": 2}
        inbox = (
            await http.get("/reconciliation", params={"kind": "FirmwareRolloutAborted"})
        ).json()
        assert rollout in str(inbox)
        versions = [(await http.get(f"/stations/{s}")).json()["firmware_version"] for s in chargers]
        assert "9.9.9" not in versions
