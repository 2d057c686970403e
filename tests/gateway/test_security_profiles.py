"""Security profiles 1-3 over real sockets: Basic auth, wss, and client certificates.

Certificates are made for the test run: a CA, the gateway's server certificate
for 127.0.0.1, and client certificates naming stations.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from activities.credentials import hash_password
from activities.persistence.database import Database
from activities.persistence.models import Station
from gateway.config import GatewayConfig
from gateway.security import REQUIRED_TLS12_CIPHERS, TlsFiles
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, gateway_config
from tests.helpers import seed_station
from workflows.commands import ChangeConfiguration, CommandRequest

PASSWORD = "profile-password-0123456789"
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Secure"}


@dataclass
class Pki:
    """A test CA that issues the server and station certificates."""

    folder: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def issue(self, name: str, *, server: bool = False, rsa_key: bool = False) -> tuple[Path, Path]:
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_file, key_file = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CSMS Test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pki = Pki(folder, key, cert)
    pki.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pki


@pytest.fixture
async def tls_gateway(sqlite_db: Database, pki: Pki) -> AsyncIterator[Gateway]:
    cert, key = pki.issue("gateway", server=True)
    rsa_cert, rsa_key = pki.issue("gateway-rsa", server=True, rsa_key=True)
    node = Gateway(
        GatewayConfig(
            allow_unsecured_stations=True,
            node_id="gw-tls",
            host="127.0.0.1",
            port=0,
            tls_port=0,
            tls=TlsFiles(str(cert), str(key), str(pki.ca_file), str(rsa_cert), str(rsa_key)),
            temporal_address="127.0.0.1:1",
        ),
        sqlite_db,
    )
    await node.start()
    yield node
    await node.stop()


async def secured_station(db: Database, profile: int) -> str:
    ident = unique("SEC")
    await seed_station(db, ident, password_hash=hash_password(PASSWORD) if profile < 3 else None)
    async with db.sessions.begin() as session:
        row = await session.get(Station, ident)
        assert row is not None
        row.security_profile = profile
    return ident


def basic(ident: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{ident}:{password}".encode()).decode()}


def client_tls(pki: Pki, certificate_for: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if certificate_for is not None:
        cert, key = pki.issue(certificate_for)
        context.load_cert_chain(str(cert), str(key))
    return context


async def connect(
    gateway: Gateway, ident: str, *, tls: ssl.SSLContext | None = None, **kwargs: Any
) -> Any:
    scheme, port = ("wss", gateway.tls_port) if tls else ("ws", gateway.port)
    return await websockets.connect(
        f"{scheme}://127.0.0.1:{port}/{ident}",
        subprotocols=[Subprotocol("ocpp1.6")],
        ssl=tls,
        **kwargs,
    )


async def refused(coro: Any) -> int:
    with pytest.raises(websockets.InvalidStatus) as caught:
        await coro
    return int(caught.value.response.status_code)


async def boots(ws: Any) -> bool:
    async with ws:
        return (await RawCharger(ws).ok("BootNotification", BOOT))["status"] == "Accepted"


async def test_TC_A_profile_1_basic_auth_over_ws(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki
) -> None:
    ident = await secured_station(sqlite_db, 1)
    assert await refused(connect(tls_gateway, ident)) == 401
    wrong = basic(ident, "x" * 20)
    assert await refused(connect(tls_gateway, ident, additional_headers=wrong)) == 401
    assert await boots(await connect(tls_gateway, ident, additional_headers=basic(ident)))
    # A stronger transport is fine for a lower profile.
    assert await boots(
        await connect(tls_gateway, ident, tls=client_tls(pki), additional_headers=basic(ident))
    )


async def test_TC_A_profile_2_needs_tls_and_a_password(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki
) -> None:
    ident = await secured_station(sqlite_db, 2)
    before = tls_gateway.failed_authentications
    assert await refused(connect(tls_gateway, ident, additional_headers=basic(ident))) == 403
    assert await refused(connect(tls_gateway, ident, tls=client_tls(pki))) == 401
    assert tls_gateway.failed_authentications == before + 2
    assert await boots(
        await connect(tls_gateway, ident, tls=client_tls(pki), additional_headers=basic(ident))
    )


async def test_TC_A_profile_3_needs_the_stations_own_certificate(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki
) -> None:
    ident = await secured_station(sqlite_db, 3)
    assert await refused(connect(tls_gateway, ident)) == 403
    assert await refused(connect(tls_gateway, ident, tls=client_tls(pki))) == 403
    other = client_tls(pki, certificate_for="SOMEONE-ELSE")
    assert await refused(connect(tls_gateway, ident, tls=other)) == 403
    assert await boots(
        await connect(tls_gateway, ident, tls=client_tls(pki, certificate_for=ident))
    )


async def test_a_certificate_from_another_ca_fails_the_tls_handshake(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki, tmp_path: Path
) -> None:
    ident = await secured_station(sqlite_db, 3)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ident)])
    now = datetime.now(UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(stranger_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(stranger_key, hashes.SHA256())
    )
    (tmp_path / "forged.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "forged.key").write_bytes(
        stranger_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = client_tls(pki)
    context.load_cert_chain(str(tmp_path / "forged.pem"), str(tmp_path / "forged.key"))
    # The TLS layer refuses it before any HTTP, so no station is ever served.
    with pytest.raises(
        (ssl.SSLError, OSError, websockets.InvalidMessage, websockets.ConnectionClosed)
    ):
        ws = await connect(tls_gateway, ident, tls=context)
        async with ws:  # TLS 1.3 reports a rejected client certificate on first use
            await RawCharger(ws).ok("BootNotification", BOOT)


async def test_an_unauthenticated_station_is_refused_unless_the_deployment_opts_in(
    sqlite_db: Database,
) -> None:
    """Profile 0 lets anyone who knows the id take the socket: refused (403) by a gateway
    that does not allow it. A pending station may still boot (it can do nothing else)."""
    node = Gateway(gateway_config(allow_unsecured_stations=False), sqlite_db)
    await node.start()
    try:
        open_station = await secured_station(sqlite_db, 0)
        with pytest.raises(InvalidStatus) as refused:
            await connect(node, open_station)
        assert refused.value.response.status_code == 403
        pending = unique("SEC")
        async with sqlite_db.sessions.begin() as session:
            session.add(Station(id=pending, registration_status="pending"))
        async with await connect(node, pending) as ws:
            reply = await RawCharger(ws).ok(
                "BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X"}
            )
        assert reply["status"] == "Pending"
    finally:
        await node.stop()


async def test_a_legacy_password_hash_is_replaced_by_argon2_at_the_handshake(
    tls_gateway: Gateway, sqlite_db: Database
) -> None:
    """Hashes from before Argon2 (PBKDF2) still let the station in, once; the stored
    hash is then an Argon2id one, and reconnects use the cheap cache."""
    from tests.activities.test_billing_and_credentials import _legacy_pbkdf2

    ident = await secured_station(sqlite_db, 1)
    async with sqlite_db.sessions.begin() as session:
        row = await session.get(Station, ident)
        assert row is not None
        row.password_hash = _legacy_pbkdf2(PASSWORD)
    for _ in range(2):
        assert await boots(await connect(tls_gateway, ident, additional_headers=basic(ident)))
    async with sqlite_db.sessions() as session:
        row = await session.get(Station, ident)
    assert row is not None and (row.password_hash or "").startswith("$argon2id$")
    assert (
        await refused(connect(tls_gateway, ident, additional_headers=basic(ident, "x" * 20))) == 401
    )
    cached = tls_gateway._verified[ident]
    assert PASSWORD not in repr(cached) and cached[1].startswith("$argon2id$")


@pytest.mark.parametrize("suite", REQUIRED_TLS12_CIPHERS)
async def test_TC_A_every_tls12_suite_the_whitepaper_requires_connects(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki, suite: str
) -> None:
    """A station whose TLS 1.2 stack offers this one suite (and nothing else) connects
    and boots; the suite is the one negotiated."""
    ident = await secured_station(sqlite_db, 2)
    context = client_tls(pki)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(suite)
    ws = await connect(tls_gateway, ident, tls=context, additional_headers=basic(ident))
    assert ws.transport.get_extra_info("ssl_object").cipher()[0] == suite
    assert await boots(ws)


@pytest.mark.parametrize("suite", ["ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384"])
async def test_a_suite_outside_the_required_set_is_refused_at_the_handshake(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki, suite: str
) -> None:
    """CBC suites are not among the whitepaper's: a station offering only one fails."""
    ident = await secured_station(sqlite_db, 2)
    context = client_tls(pki)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(suite)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await connect(tls_gateway, ident, tls=context, additional_headers=basic(ident))


async def test_TC_083_a_security_profile_upgrade_holds_and_never_goes_back(
    tls_gateway: Gateway, sqlite_db: Database, pki: Pki
) -> None:
    """A profile-1 station accepts security profile 2 (1.6: ChangeConfiguration
    SecurityProfile; 2.x: SetNetworkProfile, the same path): it may still connect as
    before until it first comes over wss; from then on plain ws is refused."""
    ident = await secured_station(sqlite_db, 1)
    ws = await connect(tls_gateway, ident, additional_headers=basic(ident))
    await RawCharger(ws).ok("BootNotification", BOOT)

    async def accept_one() -> None:
        frame = json.loads(await ws.recv())
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))

    answering = asyncio.create_task(accept_one())
    command = ChangeConfiguration("SecurityProfile", "2")
    reply = await tls_gateway.commands.send(CommandRequest.of(ident, command, "net-1"))
    await answering
    await ws.close()
    assert (reply.action, reply.status) == ("ChangeConfiguration", "Accepted")

    async def profile() -> tuple[int, int | None]:
        async with sqlite_db.sessions() as session:
            row = await session.get(Station, ident)
            assert row is not None
            return row.security_profile, row.pending_security_profile

    assert await profile() == (1, 2)
    # Not moved yet: the old way still works, and changes nothing.
    assert await boots(await connect(tls_gateway, ident, additional_headers=basic(ident)))
    assert await profile() == (1, 2)
    assert await boots(
        await connect(tls_gateway, ident, tls=client_tls(pki), additional_headers=basic(ident))
    )
    assert await profile() == (2, None)
    assert await refused(connect(tls_gateway, ident, additional_headers=basic(ident))) == 403
