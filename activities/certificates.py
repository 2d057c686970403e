"""Activities of the ``CertificateSigning`` workflow: sign a station's request with the
CSMS's CA, and record what the station made of the certificate."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.certificate_authority import CertificateAuthority, CsrRefused, check_csr
from activities.persistence.database import Database
from activities.persistence.models import StationCertificate
from gateway.timestamps import utcnow


@dataclass(frozen=True)
class CertificateRequest:
    """One station's signing request, as its workflow knows it."""

    station_id: str
    request_id: int
    kind: str = "ChargingStation"
    timeout_s: float = 30.0


@dataclass(frozen=True)
class CertificateOutcome:
    """What became of an issued certificate: installed, rejected or failed."""

    request_id: int
    status: str


class CertificateActivities:
    """Signing with one CA (the operator's, or the development one)."""

    def __init__(self, db: Database, authority: CertificateAuthority) -> None:
        self._db = db
        self._authority = authority

    @activity.defn(name="sign_station_certificate")
    async def sign_station_certificate(self, request: CertificateRequest) -> str:
        """The signed chain (PEM, leaf first) of the station's stored request; signed
        once (a retry returns the same certificate). Its serial and expiry are kept."""
        async with self._db.sessions.begin() as session:
            row = await session.get(StationCertificate, request.request_id)
            if row is None or row.station_id != request.station_id:
                raise ApplicationError("no such signing request", non_retryable=True)
            if row.certificate is not None:
                return row.certificate
            try:
                csr = check_csr(row.csr, row.station_id)
            except CsrRefused as exc:
                row.status, row.updated_at = "failed", utcnow()
                raise ApplicationError(str(exc), type="CsrRefused", non_retryable=True) from None
            signed = self._authority.sign(csr, utcnow())
            row.certificate, row.serial_number = signed.chain_pem, signed.serial_number
            row.not_after, row.status, row.updated_at = signed.not_after, "signed", utcnow()
            return signed.chain_pem

    @activity.defn(name="settle_station_certificate")
    async def settle_station_certificate(self, outcome: CertificateOutcome) -> None:
        """Record the station's answer to CertificateSigned (or that it never got it)."""
        async with self._db.sessions.begin() as session:
            row = await session.get(StationCertificate, outcome.request_id)
            if row is not None:
                row.status, row.updated_at = outcome.status, utcnow()
