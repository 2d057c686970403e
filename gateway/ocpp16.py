"""OCPP 1.6J: the charger-initiated actions, translated into domain events.

The gateway answers only what it must answer fast (boot, heartbeat, authorize,
the transaction id) and hands every lifecycle event to Temporal through the
outbox. Transaction messages are always acknowledged: an unknown transaction
goes to the reconciliation inbox, never to an error the charger would retry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from activities.persistence.models import Transaction
from activities.persistence.repositories import (
    meter_samples,
    outbox,
    reconciliation,
    stations,
    transactions,
)
from gateway import metering
from gateway.connection import Handler, OcppConnection
from gateway.outbox_relay import SESSION_STARTED, SESSION_STOPPED, send_progress, to_json
from gateway.rpc import ErrorKind, OcppError
from gateway.services import GatewayServices
from gateway.timestamps import format_timestamp, parse_timestamp, utcnow
from workflows.domain import (
    SessionProgress,
    SessionStarted,
    SessionStopped,
    session_workflow_id,
)

log = logging.getLogger(__name__)

VERSION = "1.6"
# Actions a station may send before it is accepted (OCPP 1.6 §4.2 Pending).
_ALLOWED_WHILE_PENDING = frozenset({"BootNotification", "Heartbeat"})


def session_started(tx: Transaction) -> SessionStarted:
    """The domain event for a stored transaction."""
    return SessionStarted(
        station_id=tx.station_id,
        site_id=tx.site_id,
        connector_id=tx.connector_id,
        transaction_id=tx.transaction_ref or str(tx.id),
        id_token=tx.id_token,
        meter_start_wh=tx.meter_start_wh,
        started_at=tx.started_at,
        ocpp_version=tx.ocpp_version,
    )


class Ocpp16Handlers:
    """Handlers of OCPP 1.6 charger-initiated actions for one gateway node."""

    version = VERSION

    def __init__(self, services: GatewayServices) -> None:
        self.services = services
        self._table: dict[str, Handler] = {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "Authorize": self.authorize,
            "StartTransaction": self.start_transaction,
            "MeterValues": self.meter_values,
            "StopTransaction": self.stop_transaction,
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.acknowledge,
            "FirmwareStatusNotification": self.acknowledge,
        }

    def handler(self, action: str) -> Handler | None:
        """The handler of ``action``, guarded by the station's registration state."""
        found = self._table.get(action)
        if found is None:
            return None
        return found if action in _ALLOWED_WHILE_PENDING else self._accepted_only(found)

    @staticmethod
    def _accepted_only(handler: Handler) -> Handler:
        async def guarded(conn: OcppConnection, payload: dict[str, Any]) -> dict[str, Any]:
            if conn.context.registration_status != "accepted":
                raise OcppError(ErrorKind.SECURITY, "station is not accepted by the CSMS yet")
            return await handler(conn, payload)

        return guarded

    async def boot_notification(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Record vendor, model and firmware; accept, or keep a pending station pending."""
        now = utcnow()
        async with self.services.db.sessions.begin() as session:
            station = await stations.get_station(session, conn.station_id)
            if station is None:  # deleted while connected
                raise OcppError(ErrorKind.SECURITY, "station is not registered")
            await stations.record_boot(
                session,
                station,
                vendor=p["chargePointVendor"],
                model=p["chargePointModel"],
                serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
                firmware_version=p.get("firmwareVersion"),
                ocpp_version=VERSION,
                at=now,
            )
            status = station.registration_status
        conn.context.registration_status = status
        return {
            "status": "Accepted" if status == "accepted" else "Pending",
            "currentTime": format_timestamp(now),
            "interval": self.services.config.heartbeat_interval_s,
        }

    async def heartbeat(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Answer with the CSMS time; liveness is the open socket in the connection registry."""
        return {"currentTime": format_timestamp(utcnow())}

    async def status_notification(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Store the connector's status (connector 0 is the whole station)."""
        at = parse_timestamp(p["timestamp"]) if "timestamp" in p else utcnow()
        async with self.services.db.sessions.begin() as session:
            await stations.set_connector_status(
                session,
                conn.station_id,
                p["connectorId"],
                status=p["status"],
                error_code=p["errorCode"],
                info=p.get("info"),
                vendor_error_code=p.get("vendorErrorCode"),
                at=at,
            )
        return {}

    async def authorize(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Look the id tag up (cached) and answer its standing."""
        status = await self.services.authorizer.status(p["idTag"])
        return {"idTagInfo": {"status": status.value}}

    async def start_transaction(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Allocate the transaction id (idempotently) and queue the session start."""
        status = await self.services.authorizer.status(p["idTag"])
        started_at = parse_timestamp(p["timestamp"])
        async with self.services.db.sessions.begin() as session:
            outcome = await transactions.start_transaction(
                session,
                station_id=conn.station_id,
                site_id=conn.context.site_id,
                connector_id=p["connectorId"],
                id_token=p["idTag"],
                meter_start_wh=p["meterStart"],
                started_at=started_at,
                ocpp_version=VERSION,
            )
            tx = outcome.transaction
            event = None
            if outcome.created:
                event = outbox.enqueue(
                    session,
                    node_id=self.services.config.node_id,
                    kind=SESSION_STARTED,
                    workflow_id=session_workflow_id(conn.station_id, str(tx.id)),
                    payload={"start": to_json(session_started(tx))},
                )
        if event is not None:
            self.services.relay.submit(event)
        return {"transactionId": tx.id, "idTagInfo": {"status": status.value}}

    async def meter_values(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Queue the samples for the batched writer; send throttled progress."""
        tx_id = p.get("transactionId")
        rows = metering.normalise_v16(conn.station_id, p["connectorId"], tx_id, p["meterValue"])
        self.services.meter_writer.add(rows)
        if tx_id is not None:
            await self._maybe_progress(conn, str(tx_id), rows)
        return {}

    async def _maybe_progress(
        self, conn: OcppConnection, tx_ref: str, rows: list[dict[str, Any]]
    ) -> None:
        energy, power = metering.latest_reading(rows)
        if energy is None:
            return
        now = time.monotonic()
        # The first reading of a transaction starts its interval: the workflow
        # already knows the meter start, and short sessions then cost no signal.
        interval = self.services.config.progress_interval_s
        first = tx_ref not in conn.context.last_progress
        last = conn.context.last_progress.setdefault(tx_ref, now)
        if (first and interval > 0) or now - last < interval:
            return
        conn.context.last_progress[tx_ref] = now
        progress = SessionProgress(
            transaction_id=tx_ref,
            energy_register_wh=energy,
            power_w=power,
            measured_at=rows[-1]["sampled_at"],
        )
        await send_progress(
            self.services.temporal, session_workflow_id(conn.station_id, tx_ref), progress
        )

    async def stop_transaction(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Record the stop and queue it for the session workflow; never reject."""
        tx_id: int = p["transactionId"]
        stopped_at = parse_timestamp(p["timestamp"])
        # Samples still buffered must be in the database before the workflow settles.
        await self.services.meter_writer.flush()
        event = None
        async with self.services.db.sessions.begin() as session:
            tx = await transactions.get_transaction(session, tx_id)
            if tx is None or tx.station_id != conn.station_id:
                reconciliation.add_item(
                    session,
                    station_id=conn.station_id,
                    kind="StopTransaction",
                    payload=p,
                    note="unknown transaction id"
                    if tx is None
                    else f"transaction belongs to {tx.station_id}",
                )
                log.warning("%s stopped unknown transaction %s", conn.station_id, tx_id)
            elif await transactions.record_stop(
                tx, meter_stop_wh=p["meterStop"], stopped_at=stopped_at, reason=p.get("reason")
            ):
                # Only the first stop stores its samples: a retried stop adds nothing.
                await meter_samples.add_samples(
                    session,
                    metering.normalise_v16(
                        conn.station_id, tx.connector_id, tx.id, p.get("transactionData", [])
                    ),
                )
                stop = SessionStopped(
                    transaction_id=str(tx.id),
                    meter_stop_wh=p["meterStop"],
                    stopped_at=stopped_at,
                    reason=p.get("reason", "Local"),
                )
                event = outbox.enqueue(
                    session,
                    node_id=self.services.config.node_id,
                    kind=SESSION_STOPPED,
                    workflow_id=session_workflow_id(conn.station_id, str(tx.id)),
                    payload={"start": to_json(session_started(tx)), "stop": to_json(stop)},
                )
        conn.context.last_progress.pop(str(tx_id), None)
        if event is not None:
            self.services.relay.submit(event)
        if "idTag" in p:
            status = await self.services.authorizer.status(p["idTag"])
            return {"idTagInfo": {"status": status.value}}
        return {}

    async def data_transfer(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """No vendor extensions are known yet: say so, as the spec intends."""
        log.info("%s DataTransfer from vendor %s", conn.station_id, p["vendorId"])
        return {"status": "UnknownVendorId"}

    async def acknowledge(self, conn: OcppConnection, p: dict[str, Any]) -> dict[str, Any]:
        """Notifications that need only an empty answer for now."""
        return {}
