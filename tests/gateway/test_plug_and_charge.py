"""Plug & Charge at the gateway (2.0.1 blocks C and M): GetCertificateStatus and
Authorize with ISO 15118 certificate hash data answered from a real OCSP responder
the test runs; Get15118EVCertificate through the contract-certificate provider.
A responder on an internal network that the deployment did not list is never
called (a station must not make the CSMS call its internal services)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.x509 import ocsp
from websockets.asyncio.client import ClientConnection

from activities.persistence.database import Database
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect, gateway_config
from tests.gateway.ocsp_responder import OcspAuthority
from tests.helpers import seed_station

BOOT = {"chargingStation": {"vendorName": "ACME", "model": "PnC-22"}, "reason": "PowerUp"}
PROTOCOL = "ocpp2.0.1"


@pytest.fixture
def responder() -> Iterator[OcspAuthority]:
    authority = OcspAuthority()
    authority.start()
    yield authority
    authority.stop()


@pytest.fixture
async def pnc_gateway(sqlite_db: Database) -> AsyncIterator[Gateway]:
    """A gateway that may call the local responder and has the test contract provider."""
    node = Gateway(
        gateway_config(ocsp_responder_hosts=("127.0.0.1",), contract_provider="test"), sqlite_db
    )
    await node.start()
    yield node
    await node.stop()


async def booted(gateway: Gateway, db: Database) -> tuple[ClientConnection, RawCharger]:
    ident = unique("PNC")
    await seed_station(db, ident, tokens={"EMAID-1": "accepted"})
    ws = await connect(gateway, ident, PROTOCOL)
    charger = RawCharger(ws)
    await charger.ok("BootNotification", BOOT)
    return ws, charger


async def test_TC_M_get_certificate_status_returns_the_responders_answer(
    pnc_gateway: Gateway, sqlite_db: Database, responder: OcspAuthority
) -> None:
    good, revoked = responder.issue("good"), responder.issue("revoked")
    responder.revoked.add(revoked.serial_number)
    ws, charger = await booted(pnc_gateway, sqlite_db)
    async with ws:
        for cert, status in (
            (good, ocsp.OCSPCertStatus.GOOD),
            (revoked, ocsp.OCSPCertStatus.REVOKED),
        ):
            reply = await charger.ok(
                "GetCertificateStatus", {"ocspRequestData": responder.hash_data(cert)}
            )
            assert reply["status"] == "Accepted"
            answer = ocsp.load_der_ocsp_response(base64.b64decode(reply["ocspResult"]))
            assert answer.serial_number == cert.serial_number
            assert answer.certificate_status is status
            # The station can check the responder's signature itself.
            assert answer.issuer_key_hash.hex() == responder.hash_data(cert)["issuerKeyHash"]


async def test_a_certificate_the_responder_does_not_know_fails(
    pnc_gateway: Gateway, sqlite_db: Database, responder: OcspAuthority
) -> None:
    stranger = OcspAuthority()
    stranger.start()
    try:
        data = {**stranger.hash_data(stranger.issue("elsewhere")), "responderURL": responder.url}
    finally:
        stranger.stop()
    ws, charger = await booted(pnc_gateway, sqlite_db)
    async with ws:
        reply = await charger.ok("GetCertificateStatus", {"ocspRequestData": data})
    assert reply["status"] == "Failed"


async def test_TC_C_authorize_with_a_revoked_contract_certificate_is_refused(
    pnc_gateway: Gateway, sqlite_db: Database, responder: OcspAuthority
) -> None:
    contract, lost = responder.issue("EMAID-1"), responder.issue("EMAID-1 old")
    responder.revoked.add(lost.serial_number)
    token = {"idToken": "EMAID-1", "type": "eMAID"}
    ws, charger = await booted(pnc_gateway, sqlite_db)
    async with ws:
        ok = await charger.ok(
            "Authorize",
            {"idToken": token, "iso15118CertificateHashData": [responder.hash_data(contract)]},
        )
        refused = await charger.ok(
            "Authorize",
            {"idToken": token, "iso15118CertificateHashData": [responder.hash_data(lost)]},
        )
    assert ok["certificateStatus"] == "Accepted" and ok["idTokenInfo"]["status"] == "Accepted"
    assert refused["certificateStatus"] == "CertificateRevoked"
    assert refused["idTokenInfo"]["status"] == "Invalid"


async def test_a_responder_on_an_internal_network_is_not_called_unless_listed(
    gateway: Gateway, sqlite_db: Database, responder: OcspAuthority
) -> None:
    """The plain gateway lists no responder host: 127.0.0.1 is refused unasked."""
    cert = responder.issue("good")
    ident = unique("PNC")
    await seed_station(sqlite_db, ident, tokens={"EMAID-1": "accepted"})
    async with await connect(gateway, ident, PROTOCOL) as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        reply = await charger.ok(
            "GetCertificateStatus", {"ocspRequestData": responder.hash_data(cert)}
        )
        refused = await charger.ok(
            "Authorize",
            {
                "idToken": {"idToken": "EMAID-1", "type": "eMAID"},
                "iso15118CertificateHashData": [responder.hash_data(cert)],
            },
        )
    assert reply["status"] == "Failed"
    assert refused["certificateStatus"] == "CertChainError"
    assert responder.requests == 0


async def test_get_15118_ev_certificate_goes_through_the_provider(
    pnc_gateway: Gateway, sqlite_db: Database
) -> None:
    exi = base64.b64encode(b"EXI CertificateInstallationReq").decode()
    ws, charger = await booted(pnc_gateway, sqlite_db)
    async with ws:
        reply = await charger.ok(
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Install",
                "exiRequest": exi,
            },
        )
    assert reply["status"] == "Accepted"
    digest = hashlib.sha256(exi.encode()).hexdigest()
    assert base64.b64decode(reply["exiResponse"]).decode() == f"TEST-CONTRACT:{digest}"
