"""OCPP 1.6J: translates the charger-initiated actions to and from the domain model."""

from __future__ import annotations

import logging
from typing import Any

from gateway import bounds, health_facts, metering
from gateway.connection import Handler, OcppConnection, guarded
from gateway.station_service import StationService
from gateway.timestamps import format_timestamp, parse_timestamp, utcnow
from workflows.domain import (
    Authorization,
    AuthorizationStatus,
    ConnectorStatus,
    NoticeKind,
    StationIdentity,
    StationNotice,
    TransactionEvent,
    TransactionEventKind,
)

log = logging.getLogger(__name__)

VERSION = "1.6"


def id_tag_info(authorization: Authorization) -> dict[str, Any]:
    """1.6 IdTagInfo; 1.6 has no Unknown, so an unknown tag is Invalid."""
    status = authorization.status
    if status is AuthorizationStatus.UNKNOWN:
        status = AuthorizationStatus.INVALID
    info: dict[str, Any] = {"status": status.value}
    if authorization.cache_expires_at is not None:
        info["expiryDate"] = format_timestamp(authorization.cache_expires_at)
    if authorization.group_id is not None:
        info["parentIdTag"] = authorization.group_id[:20]
    return info


class Ocpp16Handlers:
    """Handlers of OCPP 1.6 charger-initiated actions for one gateway node."""

    version = VERSION

    def __init__(self, service: StationService) -> None:
        self.service = service
        self._table: dict[str, Handler] = {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "Authorize": self.authorize,
            "StartTransaction": self.start_transaction,
            "MeterValues": self.meter_values,
            "StopTransaction": self.stop_transaction,
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.diagnostics_status,
            "FirmwareStatusNotification": self.firmware_status,
            # The security extension's signed firmware updates (with a requestId).
            "SignedFirmwareStatusNotification": self.signed_firmware_status,
            "SecurityEventNotification": self.security_event,
            "LogStatusNotification": self.log_status,
            "SignCertificate": self.sign_certificate,
        }

    def handler(self, action: str) -> Handler | None:
        """The handler of ``action``, guarded by the station's registration state."""
        return guarded(self._table, action)

    async def boot_notification(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Record vendor, model and firmware; answer the registration state."""
        status = await self.service.boot(
            conn.context,
            StationIdentity(
                vendor=p["chargePointVendor"],
                model=p["chargePointModel"],
                serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
                firmware_version=p.get("firmwareVersion"),
                ocpp_version=VERSION,
            ),
        )
        interval = self.service.boot_interval(status)
        return {
            "status": status.value.capitalize(),
            "currentTime": format_timestamp(utcnow()),
            "interval": interval,
        }

    async def heartbeat(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Answer with the CSMS time; liveness is the open socket in the connection registry."""
        return {"currentTime": format_timestamp(utcnow())}

    async def status_notification(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """A connector's status; 1.6 connector n is stored as EVSE n, connector n."""
        connector = bounds.station_id_field(p["connectorId"], "connectorId")
        await self.service.connector_status(
            conn.context,
            ConnectorStatus(
                evse_id=connector,
                connector_id=connector,
                status=p["status"],
                at=parse_timestamp(p["timestamp"]) if "timestamp" in p else utcnow(),
                error_code=p["errorCode"],
                info=p.get("info"),
                vendor_error_code=p.get("vendorErrorCode"),
            ),
        )
        return {}

    async def authorize(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Look the id tag up (cached) and answer its standing."""
        authorization = await self.service.authorize(p["idTag"])
        self.service.symptoms.authorized(
            conn.context.station_id, authorization.status is AuthorizationStatus.ACCEPTED
        )
        return {"idTagInfo": id_tag_info(authorization)}

    async def start_transaction(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Allocate the transaction id (idempotently) and queue the session start."""
        notes: list[str] = []
        connector = bounds.id_or_zero(p["connectorId"], "connectorId", notes)
        at, unusable_time = bounds.event_time_as_sent(p["timestamp"], "timestamp", notes)
        outcome = await self.service.transaction_event(
            conn.context,
            TransactionEvent(
                kind=TransactionEventKind.STARTED,
                station_id=conn.station_id,
                transaction_ref=None,
                timestamp=at,
                unusable_time=unusable_time,
                evse_id=connector,
                connector_id=connector,
                id_token=p["idTag"],
                register_wh=bounds.register_or_none(p["meterStart"], "meterStart", notes),
                reservation_id=bounds.id_or_none(p.get("reservationId"), "reservationId", notes),
                notes=tuple(notes),
            ),
        )
        assert outcome.transaction_pk is not None and outcome.authorization is not None
        return {
            "transactionId": outcome.transaction_pk,
            "idTagInfo": id_tag_info(outcome.authorization),
        }

    async def meter_values(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Queue the samples for the batched writer."""
        tx_id = p.get("transactionId")
        connector = bounds.station_id_field(p["connectorId"], "connectorId")
        sampled = metering.readings_v16(p["meterValue"])
        await self.service.meter_values(
            conn.context,
            evse_id=connector,
            connector_id=connector,
            # 1.6 transaction ids are the CSMS's primary keys; the service links the
            # samples only to a transaction of this station.
            transaction_pk=tx_id if tx_id is not None and 0 < tx_id < 2**63 else None,
            transaction_ref=None if tx_id is None else str(tx_id),
            readings=sampled.readings,
            dropped=sampled.dropped,
        )
        return {}

    async def stop_transaction(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Record the stop and queue it for the session workflow; never reject."""
        notes: list[str] = []
        sampled = metering.readings_v16(p.get("transactionData", []))
        at, unusable_time = bounds.event_time_as_sent(p["timestamp"], "timestamp", notes)
        outcome = await self.service.transaction_event(
            conn.context,
            TransactionEvent(
                kind=TransactionEventKind.ENDED,
                station_id=conn.station_id,
                transaction_ref=str(p["transactionId"]),
                timestamp=at,
                unusable_time=unusable_time,
                evse_id=0,
                connector_id=0,
                id_token=p.get("idTag"),
                readings=tuple(sampled.readings),
                register_wh=bounds.register_or_none(p["meterStop"], "meterStop", notes),
                stopped_reason=p.get("reason", "Local"),
                notes=(*notes, *sampled.dropped),
            ),
        )
        if outcome.authorization is None:
            return {}
        return {"idTagInfo": id_tag_info(outcome.authorization)}

    async def data_transfer(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """No vendor extensions are known yet: say so, as the spec intends."""
        log.info("%s DataTransfer from vendor %s", conn.station_id, p["vendorId"])
        return {"status": "UnknownVendorId"}

    async def diagnostics_status(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Keep the diagnostics upload progress."""
        await self.service.notices.keep(
            conn.context, StationNotice(NoticeKind.LOG_STATUS, p["status"], None, p)
        )
        return {}

    async def firmware_status(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Keep the firmware update progress."""
        await self.service.notices.keep(
            conn.context, StationNotice(NoticeKind.FIRMWARE_STATUS, p["status"], None, p)
        )
        return {}

    async def signed_firmware_status(
        self, conn: OcppConnection, p: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep the signed firmware update progress (security extension)."""
        await self.service.notices.keep(
            conn.context,
            StationNotice(NoticeKind.FIRMWARE_STATUS, p["status"], p.get("requestId"), p),
        )
        return {}

    async def security_event(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Keep a security event (security extension), as 2.x stations' are kept."""
        found = health_facts.security_fact(conn.context.station_id, p)
        await self.service.notices.keep(
            conn.context,
            StationNotice(
                NoticeKind.SECURITY_EVENT,
                p["type"],
                None,
                p,
                facts=() if found is None else (found,),
            ),
        )
        return {}

    async def log_status(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Keep the progress of a GetLog upload (security extension, with its requestId)."""
        await self.service.notices.keep(
            conn.context,
            StationNotice(NoticeKind.LOG_STATUS, p["status"], p.get("requestId"), p),
        )
        return {}

    async def sign_certificate(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """A certificate signing request (security extension): checked here, signed by
        the CSMS's CA and sent back with CertificateSigned."""
        refused = await self.service.certificates.request(conn.context, p["csr"], "ChargingStation")
        return {"status": "Rejected" if refused is not None else "Accepted"}
