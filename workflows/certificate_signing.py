"""A station's certificate from its signing request to CertificateSigned
(``certificate:{station}:{request}``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from activities.certificates import (
        CertificateActivities,
        CertificateOutcome,
        CertificateRequest,
    )
    from workflows.certificate_commands import CertificateSigned
    from workflows.commands import CommandRequest

DB_CALL = timedelta(seconds=10)


# Unsandboxed like the other command workflows.
@workflow.defn(name="CertificateSigning", sandboxed=False)
class CertificateSigningWorkflow:
    """Signs the station's checked request with the CSMS's CA and sends the chain
    (CertificateSigned); the station's answer is the certificate's status. The
    station's own retry (2.x ``CertSigningRepeatTimes``) covers a lost request."""

    def __init__(self) -> None:
        self._status = "requested"

    @workflow.run
    async def run(self, request: CertificateRequest) -> str:
        """installed, rejected (the station refused it) or failed (not signed, not sent)."""
        workflow.set_current_details(f"**signing** · {request.kind} of {request.station_id}")
        try:
            chain = await workflow.execute_activity_method(
                CertificateActivities.sign_station_certificate,
                request,
                start_to_close_timeout=DB_CALL,
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        except ActivityError:
            return await self._settle(request, "failed", "the request could not be signed")
        try:
            reply = await send_command(
                CommandRequest.of(
                    request.station_id,
                    CertificateSigned(certificate_chain=chain, kind=request.kind),  # type: ignore[arg-type]
                    f"certificate-{request.request_id}",
                    request.timeout_s,
                )
            )
        except ApplicationError as error:
            return await self._settle(request, "failed", f"{error.type}: {error.message}")
        status = "installed" if reply.status == "Accepted" else "rejected"
        return await self._settle(request, status, f"the station answered {reply.status}")

    async def _settle(self, request: CertificateRequest, status: str, why: str) -> str:
        await workflow.execute_activity_method(
            CertificateActivities.settle_station_certificate,
            CertificateOutcome(request.request_id, status),
            start_to_close_timeout=DB_CALL,
        )
        self._status = status
        workflow.set_current_details(
            f"**{status}** · {request.kind} of {request.station_id}: {why}"
        )
        return status
