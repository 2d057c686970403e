"""GetTransactionStatus when a 2.x station's messages may be missing (block E, E14):
after a transaction ended with a gap in its sequence numbers, or after a message
the station sent while offline, the CSMS asks whether more are queued.

The answer is kept among the station's events (``TransactionStatus``); a gap the
station no longer holds the messages for goes to reconciliation, so an operator
knows the session's record is incomplete. Asked off the receive loop, after the
station has its answer, bounded in time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from activities.persistence.repositories import reconciliation, station_events
from gateway.connection import ChargerError, OcppConnection
from gateway.services import GatewayServices

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 30.0


class TransactionStatus:
    """Asks stations about transactions whose messages may be missing."""

    def __init__(self, services: GatewayServices) -> None:
        self._services = services
        self._tasks: set[asyncio.Task[None]] = set()

    def ask(self, conn: OcppConnection, transaction_id: str, missing: tuple[int, ...]) -> None:
        """Ask soon (the station's own CALL is answered first)."""
        task = asyncio.create_task(self._ask(conn, transaction_id, missing))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask(
        self, conn: OcppConnection, transaction_id: str, missing: tuple[int, ...]
    ) -> None:
        await asyncio.sleep(0)  # let the handler's answer go out first
        try:
            answer = await conn.call(
                "GetTransactionStatus", {"transactionId": transaction_id}, timeout=ASK_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError, ChargerError) as exc:
            log.info("%s: GetTransactionStatus %s: %s", conn.station_id, transaction_id, exc)
            return
        queued = answer.get("messagesInQueue")
        payload: dict[str, Any] = {
            "status": "Queued" if queued else "Complete",
            "request_id": None,
            "message": {
                "transactionId": transaction_id,
                "missingSeqNos": list(missing),
                "answer": answer,
            },
        }

        async def store(session: Any) -> None:
            station_events.add_event(
                session, station_id=conn.station_id, kind="TransactionStatus", payload=payload
            )
            if missing and queued is False:
                # The station holds nothing more: those messages are lost for good.
                reconciliation.add_item(
                    session,
                    station_id=conn.station_id,
                    kind="TransactionSeqNoGap",
                    payload={"transaction_id": transaction_id, "missing_seq_nos": list(missing)},
                    note=f"the station no longer holds seqNo {list(missing)}",
                )

        await self._services.writes.run(store)
