"""One charger command sent on an operator's behalf (``command:{station}:{request}``)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from workflows.commands import CommandFailure, CommandReply, CommandRequest


# Unsandboxed like the session workflow (short, frequent runs); the code only
# awaits activities.
@workflow.defn(name="StationCommand", sandboxed=False)
class StationCommandWorkflow:
    """Routes one command to the gateway node holding the station and returns the answer.

    Its history shows the operator which node delivered it and what the charger
    said; a failure carries a :class:`workflows.commands.CommandFailure` type.
    """

    @workflow.run
    async def run(self, request: CommandRequest) -> CommandReply:
        """Send the command; fail with a typed, non-retryable error if it cannot be."""
        workflow.set_current_details(f"{request.command} → {request.station_id}")
        if request.expired(workflow.now()):
            # The operator stopped waiting: a command delivered now would be a surprise.
            workflow.set_current_details(
                f"{request.command} → {request.station_id}: **not sent** (deadline passed)"
            )
            raise ApplicationError(
                f"{request.command} to {request.station_id} not sent: no worker took it "
                f"before its deadline {request.send_by}",
                type=CommandFailure.EXPIRED,
                non_retryable=True,
            )
        reply = await send_command(request, node_id=request.node_hint)
        workflow.set_current_details(
            f"{request.command} → {request.station_id}: **{reply.status}** "
            f"({reply.action}, OCPP {reply.ocpp_version}, via {reply.node_id})"
        )
        return reply
