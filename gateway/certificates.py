"""Stations' certificate signing requests at the gateway: checked, stored, handed to
their ``CertificateSigning`` workflow, and answered.

The check (:func:`~activities.certificate_authority.check_csr`) happens before the
answer, so a station hears Rejected for a request the CA would refuse; the CA's
key is not here (the worker signs). Starting the workflow is bounded and off the
receive loop: if Temporal is away the request stays stored as ``requested`` and
the station asks again, as OCPP has it do when no CertificateSigned comes.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import WorkflowIDConflictPolicy

from activities.certificate_authority import CsrRefused, check_csr
from activities.certificates import CertificateRequest
from activities.persistence.repositories import station_certificates
from gateway.connection import StationContext
from gateway.services import GatewayServices
from gateway.timestamps import utcnow
from workflows.certificate_signing import CertificateSigningWorkflow

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class StationCertificates:
    """Signing requests of one gateway node's stations."""

    def __init__(self, services: GatewayServices) -> None:
        self._services = services
        self._tasks: set[asyncio.Task[None]] = set()

    async def request(self, ctx: StationContext, csr: str, kind: str) -> str | None:
        """Take a signing request: None when accepted (signed and sent soon), else why
        it is refused."""
        station_id = ctx.station_id
        try:
            await asyncio.to_thread(check_csr, csr, station_id)
        except CsrRefused as exc:
            log.info("%s: certificate signing request refused: %s", station_id, exc)
            return str(exc)
        now = utcnow()

        async def store(session: AsyncSession) -> tuple[int, str]:
            row = await station_certificates.add_request(session, station_id, kind, csr, now)
            assert row.workflow_id is not None
            return row.id, row.workflow_id

        request_id, workflow_id = await self._services.writes.run(store)
        task = asyncio.create_task(
            self._start(CertificateRequest(station_id, request_id, kind), workflow_id)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    async def _start(self, request: CertificateRequest, workflow_id: str) -> None:
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                client = await self._services.temporal.client()
                await client.start_workflow(
                    CertificateSigningWorkflow.run,
                    request,
                    id=workflow_id,
                    task_queue=self._services.config.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    static_summary=f"{request.kind} certificate of {request.station_id}",
                )
        except Exception as exc:
            log.warning(
                "%s: certificate request %s stored, its workflow not started (%s);"
                " the station will ask again",
                request.station_id,
                request.request_id,
                exc,
            )
