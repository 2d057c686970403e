"""A gateway node whose chargers answer remediation commands as scripted, for
time-skipping tests of the station health workflow.

Its ``station_command`` activity does what the gateway and a charger do together:
it answers the command, and when the script says the command cures the fault, it
signals the health workflow the station's new status (as the gateway's outbox
would after the charger's StatusNotification). Everything happens inside the
activity, so the skipped clock cannot overtake it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.persistence.database import Database
from activities.persistence.repositories import registry
from tests.conftest import unique
from workflows.commands import CommandReply, CommandRequest, gateway_task_queue
from workflows.health import FactKind, StationFact, health_workflow_id


@dataclass
class Sent:
    """A command the node delivered: to whom, what, and when (the server's clock)."""

    station_id: str
    command: str
    arguments: dict
    at: datetime


@dataclass
class HealthNode:
    """One gateway node holding scripted chargers."""

    db: Database
    client: Client
    node_id: str = field(default_factory=lambda: unique("health-node"))
    # The command (e.g. "reset:soft", "trigger-message") that clears a station's fault.
    cures: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)  # a command's answer by name
    sent: list[Sent] = field(default_factory=list)

    @activity.defn(name="station_command")
    async def station_command(self, request: CommandRequest) -> CommandReply:
        at = activity.info().current_attempt_scheduled_time
        station = request.station_id
        self.sent.append(Sent(station, request.command, request.arguments, at))
        name = request.command
        if name == "reset":
            name = f"reset:{request.arguments['kind']}"
        if self.cures.get(station) == name:
            # Stamped with the server's clock (skipped ahead in time-skipping tests).
            fact = StationFact(station, FactKind.STATUS, at, "Available", 1, 1, "NoError")
            await self.client.get_workflow_handle(health_workflow_id(station)).signal("fact", fact)
        status = self.answers.get(name, "Accepted")
        return CommandReply(station, request.command, "1.6", name, status, {}, {}, self.node_id, 1)

    def worker(self) -> Worker:
        return Worker(
            self.client,
            task_queue=gateway_task_queue(self.node_id),
            activities=[self.station_command],
        )

    async def hold(self, *stations: str) -> None:
        """Register the stations' sockets with this node."""
        now = datetime.now(UTC)
        async with self.db.sessions.begin() as session:
            await registry.register(
                session,
                [
                    registry.Registration(s, self.node_id, unique("c"), "1.6", None, now)
                    for s in stations
                ],
            )

    def commands(self, station: str) -> list[str]:
        """What the station was sent, in order (resets with their kind)."""
        return [
            f"reset:{s.arguments['kind']}" if s.command == "reset" else s.command
            for s in self.sent
            if s.station_id == station
        ]
