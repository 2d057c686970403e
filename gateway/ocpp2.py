"""OCPP 2.0.1 and 2.1: translates the charger-initiated actions to and from the domain model.

The two versions share these messages' shapes; each is validated against its
own version's schemas, so a field only 2.1 knows is refused on a 2.0.1 socket.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway import bounds, contract_certificates, device_model, health_facts, metering, ocsp
from gateway.connection import Handler, OcppConnection, guarded
from gateway.rpc import ErrorKind, OcppError
from gateway.station_service import StationService
from gateway.timestamps import format_timestamp, parse_timestamp, utcnow
from workflows.domain import (
    Authorization,
    AuthorizationStatus,
    ChargingNeeds,
    ConnectorStatus,
    NoticeKind,
    ReservationEnded,
    StationIdentity,
    StationNotice,
    TransactionEvent,
    TransactionEventKind,
)
from workflows.health import StationFact

log = logging.getLogger(__name__)

NO_AUTHORIZATION = "NoAuthorization"

# Notifications that are answered with an empty response and kept for operators.
_NOTICES: dict[str, NoticeKind] = {
    "NotifyMonitoringReport": NoticeKind.REPORT,
    "NotifyCustomerInformation": NoticeKind.REPORT,
    "NotifyDisplayMessages": NoticeKind.REPORT,
    "NotifyEvent": NoticeKind.EVENT,
    "SecurityEventNotification": NoticeKind.SECURITY_EVENT,
    "FirmwareStatusNotification": NoticeKind.FIRMWARE_STATUS,
    "PublishFirmwareStatusNotification": NoticeKind.PUBLISH_FIRMWARE_STATUS,
    "LogStatusNotification": NoticeKind.LOG_STATUS,
    "NotifyChargingLimit": NoticeKind.CHARGING_LIMIT,
    "ClearedChargingLimit": NoticeKind.CHARGING_LIMIT,
    "ReportChargingProfiles": NoticeKind.CHARGING_PROFILES,
    "NotifyEVChargingSchedule": NoticeKind.EV_CHARGING_SCHEDULE,
}


def id_token_info(authorization: Authorization) -> dict[str, Any]:
    """2.x IdTokenInfo."""
    info: dict[str, Any] = {"status": authorization.status.value}
    if authorization.cache_expires_at is not None:
        info["cacheExpiryDateTime"] = format_timestamp(authorization.cache_expires_at)
    if authorization.group_id is not None:
        info["groupIdToken"] = {"idToken": authorization.group_id, "type": "Central"}
    return info


def _token(p: dict[str, Any]) -> str | None:
    token = p.get("idToken")
    if not token or token.get("type") == NO_AUTHORIZATION or not token.get("idToken"):
        return None
    return str(token["idToken"])


def _rejection(reason: str) -> dict[str, Any]:
    return {"reasonCode": reason[:20]}


class Ocpp2Handlers:
    """Handlers of OCPP 2.0.1 or 2.1 charger-initiated actions for one gateway node."""

    def __init__(self, service: StationService, version: str) -> None:
        self.service = service
        config = service.services.config
        self._ocsp_hosts = frozenset(config.ocsp_responder_hosts)
        self._contracts = contract_certificates.provider_of(config.contract_provider)
        self.version = version
        self._table: dict[str, Handler] = {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "Authorize": self.authorize,
            "TransactionEvent": self.transaction_event,
            "MeterValues": self.meter_values,
            "NotifyEVChargingNeeds": self.ev_charging_needs,
            "ReservationStatusUpdate": self.reservation_status,
            "NotifyReport": self.notify_report,
            "DataTransfer": self.data_transfer,
            "SignCertificate": self.sign_certificate,
            "Get15118EVCertificate": self.ev_certificate,
            "GetCertificateStatus": self.certificate_status,
        }
        for action, kind in _NOTICES.items():
            self._table[action] = self._notice(kind)

    def handler(self, action: str) -> Handler | None:
        """The handler of ``action``, guarded by the station's registration state."""
        return guarded(self._table, action)

    async def boot_notification(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Record the station's identity; Accepted, Pending or Rejected by registration."""
        station = p["chargingStation"]
        status = await self.service.boot(
            conn.context,
            StationIdentity(
                vendor=station["vendorName"],
                model=station["model"],
                serial_number=station.get("serialNumber"),
                firmware_version=station.get("firmwareVersion"),
                ocpp_version=self.version,
            ),
        )
        interval = self.service.boot_interval(status)
        return {
            "currentTime": format_timestamp(utcnow()),
            "interval": interval,
            "status": status.value.capitalize(),
        }

    async def heartbeat(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Answer with the CSMS time."""
        return {"currentTime": format_timestamp(utcnow())}

    async def status_notification(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """A connector's status."""
        await self.service.connector_status(
            conn.context,
            ConnectorStatus(
                evse_id=bounds.station_id_field(p["evseId"], "evseId"),
                connector_id=bounds.station_id_field(p["connectorId"], "connectorId"),
                status=p["connectorStatus"],
                at=parse_timestamp(p["timestamp"]),
            ),
        )
        return {}

    async def authorize(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """The token's standing, its group and how long the charger may cache it."""
        token = _token(p)
        if token is None:
            raise OcppError(ErrorKind.PROPERTY, "idToken: an identifier to authorize is required")
        authorization = await self.service.authorize(token)
        self.service.symptoms.authorized(
            conn.context.station_id, authorization.status is AuthorizationStatus.ACCEPTED
        )
        info = id_token_info(authorization)
        hashes = p.get("iso15118CertificateHashData") or []
        if not hashes:
            return {"idTokenInfo": info}
        # Plug & Charge: the contract certificate's chain, checked by OCSP at once.
        results = [await ocsp.check(h, self._ocsp_hosts) for h in hashes[:4]]
        if any(r.status == "revoked" for r in results):
            return {
                "idTokenInfo": {**info, "status": "Invalid"},
                "certificateStatus": "CertificateRevoked",
            }
        if any(r.status != "good" for r in results):
            return {
                "idTokenInfo": {**info, "status": "Invalid"},
                "certificateStatus": "CertChainError",
            }
        return {"idTokenInfo": info, "certificateStatus": "Accepted"}

    async def transaction_event(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Started / Updated / Ended: one transaction lifecycle, keyed by the charger's id."""
        info = p["transactionInfo"]
        evse = p.get("evse") or {}
        notes: list[str] = []
        sampled = metering.readings_v2(p.get("meterValue", []))
        at, unusable_time = bounds.event_time_as_sent(p["timestamp"], "timestamp", notes)
        event = TransactionEvent(
            kind=TransactionEventKind(p["eventType"]),
            station_id=conn.station_id,
            transaction_ref=info["transactionId"],
            timestamp=at,
            unusable_time=unusable_time,
            evse_id=bounds.id_or_zero(evse.get("id", 1), "evse.id", notes),
            connector_id=bounds.id_or_zero(evse.get("connectorId", 1), "evse.connectorId", notes),
            id_token=_token(p),
            seq_no=p["seqNo"],
            trigger_reason=p["triggerReason"],
            offline=p.get("offline", False),
            readings=tuple(sampled.readings),
            stopped_reason=info.get("stoppedReason"),
            remote_start_id=bounds.id_or_none(info.get("remoteStartId"), "remoteStartId", notes),
            charging_state=info.get("chargingState"),
            reservation_id=bounds.id_or_none(p.get("reservationId"), "reservationId", notes),
            notes=(*notes, *sampled.dropped),
        )
        outcome = await self.service.transaction_event(conn.context, event)
        ended = event.kind is TransactionEventKind.ENDED
        if ended and outcome.transaction_ref and (event.offline or outcome.missing_seq_nos):
            # Its end came with a gap, or from an offline queue: are messages missing? (E14)
            self.service.transaction_status.ask(
                conn, outcome.transaction_ref, outcome.missing_seq_nos
            )
        answer: dict[str, Any] = {}
        if outcome.authorization is not None:
            answer["idTokenInfo"] = id_token_info(outcome.authorization)
        cost = await self.service.running_costs.total_cost(
            conn.context, event, outcome.transaction_pk
        )
        if cost is not None:
            answer["totalCost"] = float(cost)  # the driver's display: a JSON number
        return answer

    async def meter_values(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Samples outside a transaction event (EVSE 0 is the main meter)."""
        sampled = metering.readings_v2(p["meterValue"])
        await self.service.meter_values(
            conn.context,
            evse_id=bounds.station_id_field(p["evseId"], "evseId"),
            connector_id=0,
            transaction_pk=None,
            transaction_ref=None,
            readings=sampled.readings,
            dropped=sampled.dropped,
        )
        return {}

    async def ev_charging_needs(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Keep the vehicle's needs. At a smart-charged site the site re-plans with them
        (Accepted: a charging profile follows); elsewhere no schedule is computed (Rejected)."""
        needs = p["chargingNeeds"]
        parameters = needs.get("acChargingParameters") or needs.get("dcChargingParameters") or {}
        energy = parameters.get("energyAmount")
        departure = needs.get("departureTime")
        notice = StationNotice(
            NoticeKind.EV_CHARGING_NEEDS,
            None,
            None,
            p,
            needs=ChargingNeeds(
                evse_id=bounds.station_id_field(p["evseId"], "evseId"),
                energy_wh=float(energy) if energy is not None else None,
                departure=bounds.event_time(departure, "departureTime", []) if departure else None,
            ),
        )
        if await self.service.notices.ev_charging_needs(conn.context, notice):
            return {"status": "Accepted"}
        return {"status": "Rejected", "statusInfo": _rejection("NoSmartCharging")}

    async def notify_report(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """A part of a base report: kept, and its values stored as the configuration."""
        await self.service.notices.keep(
            conn.context,
            StationNotice(
                NoticeKind.REPORT,
                None,
                p.get("requestId"),
                p,
                variables=device_model.reported_variables(p.get("reportData", [])),
            ),
        )
        return {}

    async def reservation_status(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """The station expired or removed a reservation; kept, and the reservation ends."""
        ended = bounds.id_or_none(p["reservationId"], "reservationId", [])
        status = p["reservationUpdateStatus"]
        await self.service.notices.keep(
            conn.context,
            StationNotice(
                NoticeKind.EVENT,
                status,
                None,
                p,
                reservation_ended=None
                if ended is None
                else ReservationEnded(reservation_id=ended, status=status.lower()),
            ),
        )
        return {}

    async def data_transfer(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """No vendor extensions are known yet: say so, as the spec intends."""
        return {"status": "UnknownVendorId"}

    async def sign_certificate(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """A certificate signing request: checked here, signed by the CSMS's CA and sent
        back with CertificateSigned. V2G certificates come from the V2G PKI, not from
        this CA: refused."""
        if p.get("certificateType", "ChargingStationCertificate") != "ChargingStationCertificate":
            return {"status": "Rejected", "statusInfo": _rejection("NoV2GCertAuthority")}
        refused = await self.service.certificates.request(conn.context, p["csr"], "ChargingStation")
        if refused is not None:
            return {
                "status": "Rejected",
                "statusInfo": {"reasonCode": "InvalidCSR", "additionalInfo": refused[:512]},
            }
        return {"status": "Accepted"}

    async def ev_certificate(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """A vehicle's contract certificate request, forwarded to the configured
        contract-certificate provider; Failed when there is none."""
        provider = self._contracts
        if provider is None:
            return {
                "status": "Failed",
                "exiResponse": "",
                "statusInfo": _rejection("NoContractCertSvc"),
            }
        answer = await provider.exchange(p["iso15118SchemaVersion"], p["action"], p["exiRequest"])
        reply: dict[str, Any] = {
            "status": "Accepted" if answer.accepted else "Failed",
            "exiResponse": answer.exi_response,
        }
        if answer.reason is not None:
            reply["statusInfo"] = _rejection("ProviderFailed")
        return reply

    async def certificate_status(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """The OCSP response for the certificate the station names, from the responder
        it names; Failed when none could be had (the station then decides)."""
        result = await ocsp.check(p["ocspRequestData"], self._ocsp_hosts)
        if result.response_b64 is None:
            log.info("%s: OCSP check failed: %s", conn.station_id, result.reason)
            return {"status": "Failed", "statusInfo": _rejection("OcspFailed")}
        return {"status": "Accepted", "ocspResult": result.response_b64}

    def _notice(self, kind: NoticeKind) -> Handler:
        # NotifyEVChargingSchedule is the one notice whose answer has a status: the
        # vehicle's schedule is kept within the profile the CSMS gave, so Accepted.
        answer = {"status": "Accepted"} if kind is NoticeKind.EV_CHARGING_SCHEDULE else {}

        async def keep(conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
            station = conn.context.station_id
            facts: tuple[StationFact, ...] = ()
            if kind is NoticeKind.EVENT:
                facts = tuple(health_facts.event_facts(station, p))
            elif kind is NoticeKind.SECURITY_EVENT:
                found = health_facts.security_fact(station, p)
                facts = () if found is None else (found,)
            await self.service.notices.keep(
                conn.context,
                StationNotice(kind, p.get("status"), p.get("requestId"), p, facts=facts),
            )
            return dict(answer)

        return keep
