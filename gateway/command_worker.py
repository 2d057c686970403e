"""This node's charger-command activity, on its own task queue ``gateway.<node-id>``.

Temporal routes a command here because the connection registry says this node
holds the station's socket; the activity translates the neutral command into the
station's OCPP version, sends the CALL, validates and translates the answer.
A failure carries one of :class:`workflows.commands.CommandFailure`'s types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from temporalio import activity
from temporalio.converter import value_to_type
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.credentials import hash_password
from activities.persistence.database import Database
from activities.persistence.repositories import site_plans, station_variables, stations
from activities.temporal_link import TemporalLink
from gateway import batching, commands2, commands16, schemas
from gateway.command_codec import Encoded, NotAvailable
from gateway.connection import ChargerError, OcppConnection
from gateway.redaction import redact
from gateway.rpc import OcppError
from gateway.timestamps import utcnow
from workflows import commands as c
from workflows.device_commands import SetNetworkProfile
from workflows.domain import ReportedVariable
from workflows.smart_charging import DeliveryReport, SiteDelivery

log = logging.getLogger(__name__)


def _fail(kind: str, message: str, **details: Any) -> ApplicationError:
    # Never retried by Temporal: a command is not idempotent (a second Reset is a
    # second reboot); the routing workflow decides what to do instead.
    extra = [details] if details else []
    return ApplicationError(message, *extra, type=kind, non_retryable=True)


_TAKEN = ("Accepted", "RebootRequired")


def _overall(statuses: list[str | None]) -> str:
    """One status for several values: Accepted if all were, RebootRequired if all were
    taken and some need a reboot, else Rejected (each value's own is in the data)."""
    if statuses and all(s == "Accepted" for s in statuses):
        return "Accepted"
    if statuses and all(s in _TAKEN for s in statuses):
        return "RebootRequired"
    return "Rejected"


def _security_profile_set(command: Any, version: str) -> int | None:
    """The security profile a command moves the station to: 2.x SetNetworkProfile,
    1.6 ChangeConfiguration of the security whitepaper's ``SecurityProfile``."""
    if isinstance(command, SetNetworkProfile):
        return command.security_profile
    if (
        version == "1.6"
        and isinstance(command, c.ChangeConfiguration)
        and command.key.strip().casefold() == "securityprofile"
        and command.value.strip() in ("1", "2", "3")
    ):
        return int(command.value)
    return None


def _payload(command: Any) -> object:
    return commands2.encode(command)[1]


class StationCommands:
    """Sends commands to the stations whose sockets this node holds."""

    def __init__(
        self,
        node_id: str,
        connections: Mapping[str, OcppConnection],
        db: Database,
        on_password_changed: Callable[[str], None] = lambda station_id: None,
    ) -> None:
        self.node_id = node_id
        self.connections = connections
        self.db = db
        self.on_password_changed = on_password_changed

    @activity.defn(name="station_command")
    async def station_command(self, request: c.CommandRequest) -> c.CommandReply:
        """Send one command to a station connected to this node and return its answer."""
        return await self.send(request)

    @activity.defn(name="station_commands")
    async def station_commands(self, requests: list[c.CommandRequest]) -> list[c.CommandOutcome]:
        """Send a batch of commands (one per station) concurrently; every outcome.

        A fan-out to thousands of stations then costs one activity per node and
        chunk instead of one per station.
        """
        return list(await asyncio.gather(*(self._outcome(r) for r in requests)))

    @activity.defn(name="site_commands")
    async def site_commands(self, delivery: SiteDelivery) -> DeliveryReport:
        """Send a site plan's commands to this node's stations among ``delivery``'s:
        read from the database (the plan is too big for a payload at a large site),
        each station's in order (a clear before the next car's profile), stations
        concurrently. A station stops at its first failure (offline, moved, timed
        out): what follows assumed what came before; the next plan tries again."""
        async with self.db.sessions() as session:
            planned = await site_plans.commands_for(
                session, delivery.site_id, delivery.plan, delivery.station_ids
            )

        async def station(requests: list[dict[str, Any]]) -> tuple[int, str | None]:
            sent = 0
            for raw in requests:
                request = value_to_type(c.CommandRequest, raw)
                try:
                    await self.send(request)
                except ApplicationError as error:
                    return sent, f"{error.type}: {error.message}"
                sent += 1
            return sent, None

        stations = list(planned)
        results = await asyncio.gather(*(station(planned[s]) for s in stations))
        return DeliveryReport(
            sent=sum(sent for sent, _ in results),
            failed={s: why for s, (_, why) in zip(stations, results, strict=True) if why},
        )

    async def _outcome(self, request: c.CommandRequest) -> c.CommandOutcome:
        try:
            return c.CommandOutcome(request.station_id, reply=await self.send(request))
        except ApplicationError as error:
            return c.CommandOutcome(request.station_id, error=error.type, reason=error.message)

    async def send(self, request: c.CommandRequest) -> c.CommandReply:
        """The command's round trip (also callable without Temporal)."""
        if request.expired(utcnow()):
            raise _fail(
                c.CommandFailure.EXPIRED,
                f"{request.command} to {request.station_id} not sent: its deadline passed",
            )
        conn = self.connections.get(request.station_id)
        if conn is None:
            raise _fail(
                c.CommandFailure.MOVED, f"{request.station_id} is not connected to {self.node_id}"
            )
        kind = c.COMMANDS.get(request.command)
        if kind is None:
            raise _fail(c.CommandFailure.NOT_SUPPORTED, f"unknown command {request.command!r}")
        try:
            command = value_to_type(kind, request.arguments)
        except (TypeError, ValueError) as exc:
            raise _fail(c.CommandFailure.INVALID, f"{request.command}: {exc}") from None
        if isinstance(command, c.RemoteStart | c.ReserveNow):
            # Its transaction will start on this connection: check claims again.
            conn.context.claims_possible = True
            conn.context.claims_generation += 1
        parts = await self._parts(request.station_id, conn.version, command)
        if len(parts) > 1 or parts[0] is not command:
            return await self._send_parts(conn, request, command, parts)
        codec = commands16 if conn.version == "1.6" else commands2
        password: str | None = None
        if isinstance(command, c.RotatePassword):
            password = codec.new_password()
        action, payload = self._encoded(conn.version, command, password)
        pending: str | None = None
        if password is not None:
            # Stored as pending before it is sent: if the answer is lost, the station
            # may have taken it, and the handshake accepts either until one is proven.
            pending = await asyncio.to_thread(hash_password, password)
            async with self.db.sessions.begin() as session:
                await stations.set_pending_password(session, request.station_id, pending)
        began, answer = await self._round_trip(conn, request, action, payload)
        self._check(conn.version, action, answer, response=True)
        status, data = codec.decode(command, answer)
        # What goes on (the workflow's history, the API) carries no secret a charger
        # reported (e.g. an AuthorizationKey in a GetConfiguration answer).
        answer, data = redact(answer), redact(data)
        if pending is not None:
            await self._settle_password(request.station_id, pending, accepted=status == "Accepted")
        await self._remember_configuration(request.station_id, command, status, data, conn.version)
        await self._offer_profile(request.station_id, command, status, conn.version)
        return c.CommandReply(
            station_id=request.station_id,
            command=request.command,
            ocpp_version=conn.version,
            action=action,
            status=status,
            data=data,
            # The generated secret is never echoed (1.6 answers carry no payload echo).
            response=answer,
            node_id=self.node_id,
            round_trip_ms=round((time.perf_counter() - began) * 1000, 2),
        )

    def _encoded(self, version: str, command: Any, password: str | None = None) -> Encoded:
        """The command's CALL in the station's version, checked against its schema
        (a password rotation carries the generated ``password``)."""
        codec = commands16 if version == "1.6" else commands2
        try:
            if password is not None:
                action, payload = codec.rotate_password(password)
            else:
                action, payload = codec.encode(command)
        except NotAvailable as exc:
            kind = c.CommandFailure.INVALID if exc.invalid else c.CommandFailure.NOT_SUPPORTED
            raise _fail(kind, f"OCPP {version}: {exc}") from None
        self._check(version, action, payload, response=False)
        return action, payload

    async def _parts(self, station_id: str, version: str, command: Any) -> list[Any]:
        """The CALLs a command takes: several values split as the station allows (1.6:
        one ChangeConfiguration each), anything else as it is."""
        if isinstance(command, c.SetVariables) and version == "1.6":
            return [c.ChangeConfiguration(s.key, s.value) for s in command.settings]
        many = isinstance(command, c.SetVariables) or (
            isinstance(command, c.GetConfiguration) and command.keys
        )
        if not many:
            return [command]
        if version == "1.6":
            assert isinstance(command, c.GetConfiguration)
            # 1.6 bounds the keys of one GetConfiguration by GetConfigurationMaxKeys.
            async with self.db.sessions() as session:
                rows = await station_variables.of_station(
                    session, station_id, "GetConfigurationMaxKeys"
                )
            most = next((int(r.value) for r in rows if r.value and r.value.isdigit()), 0)
            if most <= 0 or len(command.keys) <= most:
                return [command]
            return [
                c.GetConfiguration(command.keys[i : i + most])
                for i in range(0, len(command.keys), most)
            ]
        action = "SetVariables" if isinstance(command, c.SetVariables) else "GetVariables"
        async with self.db.sessions() as session:
            rows = await station_variables.of_station(session, station_id, "DeviceDataCtrlr.")
        items, size = batching.limits({r.key: r.value for r in rows}, action)
        if isinstance(command, c.SetVariables):
            return [
                c.SetVariables(part)
                for part in batching.chunks(
                    command.settings,
                    lambda part: _payload(c.SetVariables(list(part))),
                    items,
                    size,
                )
            ]
        return [
            c.GetConfiguration(part)
            for part in batching.chunks(
                command.keys, lambda part: _payload(c.GetConfiguration(list(part))), items, size
            )
        ]

    async def _send_parts(
        self, conn: OcppConnection, request: c.CommandRequest, command: Any, parts: list[Any]
    ) -> c.CommandReply:
        """Send each part in turn; one reply with every value's result."""
        codec = commands16 if conn.version == "1.6" else commands2
        began = time.perf_counter()
        answers: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        statuses: list[str | None] = []
        action = ""
        for part in parts:
            action, payload = self._encoded(conn.version, part)
            _, answer = await self._round_trip(conn, request, action, payload)
            self._check(conn.version, action, answer, response=True)
            status, data = codec.decode(part, answer)
            answers.append(redact(answer))
            if isinstance(part, c.ChangeConfiguration):
                results.append({"key": part.key, "status": status})
                statuses.append(status)
                # A 1.6 SecurityProfile among several values moves the station too.
                await self._offer_profile(request.station_id, part, status, conn.version)
            elif isinstance(part, c.SetVariables):
                results += data["results"]
                statuses += [r["status"] for r in data["results"]]
            else:
                results += redact(data)["values"]
                statuses.append(status)
        if isinstance(command, c.GetConfiguration):
            status = "Accepted" if "Accepted" in statuses else "Rejected"
            data = {"values": results}
        else:
            status = _overall(statuses)
            data = {"results": results}
        await self._remember_configuration(request.station_id, command, status, data, conn.version)
        return c.CommandReply(
            station_id=request.station_id,
            command=request.command,
            ocpp_version=conn.version,
            action=action,
            status=status,
            data=data,
            response=answers[0] if len(answers) == 1 else {"parts": answers},
            node_id=self.node_id,
            round_trip_ms=round((time.perf_counter() - began) * 1000, 2),
        )

    async def _offer_profile(
        self, station_id: str, command: Any, status: str | None, version: str
    ) -> None:
        """A station that took a higher security profile moves to it at its first
        connection that meets it (see ``stations.offer_security_profile``)."""
        moved_to = _security_profile_set(command, version)
        if moved_to is not None and status in ("Accepted", "RebootRequired"):
            async with self.db.sessions.begin() as session:
                await stations.offer_security_profile(session, station_id, moved_to)

    async def _round_trip(
        self, conn: OcppConnection, request: c.CommandRequest, action: str, payload: dict[str, Any]
    ) -> tuple[float, dict[str, Any]]:
        began = time.perf_counter()
        try:
            answer = await conn.call(action, payload, timeout=request.timeout_s)
        except TimeoutError:
            raise _fail(
                c.CommandFailure.TIMEOUT,
                f"{request.station_id} did not answer {action} within {request.timeout_s:g} s",
            ) from None
        except ConnectionError:
            raise _fail(
                c.CommandFailure.STATION_OFFLINE,
                f"{request.station_id} disconnected before answering {action}",
            ) from None
        except ChargerError as exc:
            raise _fail(
                c.CommandFailure.CHARGER_ERROR,
                f"{request.station_id} answered {action} with {exc.code}: {exc.description}",
                code=exc.code,
                description=exc.description,
            ) from None
        return began, answer

    @staticmethod
    def _check(version: str, action: str, payload: dict[str, Any], *, response: bool) -> None:
        try:
            schemas.validate(version, action, payload, response=response, message_id="-")
        except OcppError as exc:
            if response:
                raise _fail(
                    c.CommandFailure.CHARGER_ERROR,
                    f"the charger's {action} response breaks the OCPP {version} schema: {exc}",
                ) from None
            raise _fail(c.CommandFailure.INVALID, f"{action} for OCPP {version}: {exc}") from None

    async def _remember_configuration(
        self, station_id: str, command: Any, status: str | None, data: dict[str, Any], version: str
    ) -> None:
        """Keep what a configuration read returned or a change set (GET .../configuration)."""
        rows: list[ReportedVariable] = []
        if isinstance(command, c.GetConfiguration):
            rows = [
                ReportedVariable(v["key"], v["value"], v["readonly"])
                for v in data.get("values", [])
                if v["status"] == "Accepted"
            ]
        elif isinstance(command, c.ChangeConfiguration) and status in (
            "Accepted",
            "RebootRequired",
        ):
            key = command.key if version == "1.6" else command.key_2x or command.key
            rows = [ReportedVariable(key, command.value, False)]
        elif isinstance(command, c.SetVariables):
            taken = {r["key"] for r in data["results"] if r["status"] in _TAKEN}
            for setting in command.settings:
                key = setting.key if version == "1.6" else setting.key_2x or setting.key
                if key in taken:
                    rows.append(ReportedVariable(key, setting.value, False))
        if rows:
            async with self.db.sessions.begin() as session:
                await station_variables.upsert_many(
                    session, station_id, rows, source=command.__class__.__name__, at=utcnow()
                )

    async def _settle_password(self, station_id: str, pending: str, *, accepted: bool) -> None:
        async with self.db.sessions.begin() as session:
            if accepted:
                await stations.confirm_password(session, station_id, pending)
            else:
                await stations.drop_pending_password(session, station_id, pending)
        self.on_password_changed(station_id)
        log.info("%s %s the new password", station_id, "accepted" if accepted else "refused")


class CommandWorker:
    """Runs :class:`StationCommands` on ``gateway.<node-id>``, connecting when Temporal is up.

    The gateway serves chargers even while Temporal is unreachable; this worker
    keeps trying to connect in the background and polls once it can.
    """

    def __init__(self, link: TemporalLink, task_queue: str, commands: StationCommands) -> None:
        self._link = link
        self.task_queue = task_queue
        self._commands = commands
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self.running = asyncio.Event()

    def start(self) -> None:
        """Connect and poll in the background."""
        self._task = asyncio.create_task(self._run(), name="command-worker")

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                client = await self._link.client()
            except Exception as exc:
                log.debug("command worker waits for Temporal: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._worker = Worker(
                client,
                task_queue=self.task_queue,
                activities=[
                    self._commands.station_command,
                    self._commands.station_commands,
                    self._commands.site_commands,
                ],
                # A fan-out sends one command to thousands of stations at once;
                # each activity only waits on a socket.
                max_concurrent_activities=2000,
                max_concurrent_activity_task_polls=10,
            )
            self.running.set()
            await self._worker.run()
            return

    async def stop(self) -> None:
        """Let running commands finish (briefly), then stop polling."""
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._worker.shutdown(), 10)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
