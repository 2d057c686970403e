"""Station certificates end to end (TC_A_*, 1.6 TC_074-077 style): a strict station's
SignCertificate is checked by the gateway, signed by the CSMS's CA in its
``CertificateSigning`` workflow and sent back with CertificateSigned; the API
shows it installed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from deploy.stack import Stack
from tests.activities.test_certificate_authority import make_csr
from tests.deploy.conftest import eventually
from tests.deploy.live_stations import booted_station
from tests.gateway.conformance.station import StrictStation

STATIONS = {"ocpp1.6": "CERT-16", "ocpp2.0.1": "CERT-201"}


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One node for the whole module."""
    return module_stack


@pytest.fixture(scope="module")
def http(module_http: httpx.AsyncClient) -> httpx.AsyncClient:
    """Its API."""
    return module_http


@pytest.fixture(scope="module")
async def stations(stack: Stack) -> AsyncIterator[dict[str, StrictStation]]:
    """One booted strict station per version."""
    connected = {p: await booted_station(stack, s, p) for p, s in STATIONS.items()}
    yield connected
    for station in connected.values():
        await station.close()
        assert station.failures == [], station.failures


def _request(protocol: str, csr: str) -> dict[str, Any]:
    if protocol == "ocpp1.6":
        return {"csr": csr}
    return {"csr": csr, "certificateType": "ChargingStationCertificate"}


@pytest.mark.parametrize("protocol", list(STATIONS))
async def test_TC_A_02_a_stations_request_is_signed_sent_and_installed(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    station, station_id = stations[protocol], STATIONS[protocol]
    answer = await station.call("SignCertificate", _request(protocol, make_csr(station_id)))
    assert answer["status"] == "Accepted"
    sent = await station.next_command("CertificateSigned", timeout=30)
    leaf, root = x509.load_pem_x509_certificates(sent["certificateChain"].encode())
    leaf.verify_directly_issued_by(root)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == station_id
    if protocol != "ocpp1.6":
        assert sent["certificateType"] == "ChargingStationCertificate"

    async def installed() -> dict[str, Any] | None:
        rows = (await http.get(f"/stations/{station_id}/certificates")).json()
        return rows[0] if rows and rows[0]["status"] == "installed" else None

    row = await eventually(installed, timeout=30)
    assert row["serial_number"] == format(leaf.serial_number, "x")
    assert row["certificate"] == sent["certificateChain"]


@pytest.mark.parametrize("protocol", list(STATIONS))
async def test_a_request_in_another_stations_name_is_rejected_and_not_kept(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], protocol: str
) -> None:
    station, station_id = stations[protocol], STATIONS[protocol]
    before = (await http.get(f"/stations/{station_id}/certificates")).json()
    answer = await station.call("SignCertificate", _request(protocol, make_csr("SOMEONE-ELSE")))
    assert answer["status"] == "Rejected"
    if protocol != "ocpp1.6":
        assert answer["statusInfo"]["reasonCode"] == "InvalidCSR"
    assert (await http.get(f"/stations/{station_id}/certificates")).json() == before


async def test_a_station_that_refuses_the_certificate_leaves_it_rejected(
    http: httpx.AsyncClient, stations: dict[str, StrictStation]
) -> None:
    station, station_id = stations["ocpp2.0.1"], STATIONS["ocpp2.0.1"]
    await station.answer("CertificateSigned", {"status": "Rejected"})
    try:
        answer = await station.call("SignCertificate", _request("ocpp2.0.1", make_csr(station_id)))
        assert answer["status"] == "Accepted"
        await station.next_command("CertificateSigned", timeout=30)

        async def rejected() -> dict[str, Any] | None:
            rows = (await http.get(f"/stations/{station_id}/certificates")).json()
            return rows[0] if rows and rows[0]["status"] == "rejected" else None

        await eventually(rejected, timeout=30)
    finally:
        await station.answer("CertificateSigned", {"status": "Accepted"})
