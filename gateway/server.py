"""The gateway node: WebSocket server, station authentication and the connection registry."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from collections.abc import Sequence
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import text
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from activities.credentials import (
    hash_password,
    needs_rehash,
    recalls,
    remember,
    verify_password,
)
from activities.persistence.database import Database, dialect_insert
from activities.persistence.group_commit import GroupCommit
from activities.persistence.models import Station
from activities.persistence.repositories import registry, stations
from activities.temporal_link import TemporalLink
from gateway import security
from gateway.authorizer import TokenAuthorizer
from gateway.command_worker import CommandWorker, StationCommands
from gateway.config import GatewayConfig
from gateway.connection import OcppConnection, ProtocolHandlers, StationContext
from gateway.liveness import close_cause
from gateway.message_log import MessageLog
from gateway.metrics import GatewayMetrics
from gateway.ocpp2 import Ocpp2Handlers
from gateway.ocpp16 import Ocpp16Handlers
from gateway.outbox_relay import OutboxRelay
from gateway.probes import ProbeServer, check
from gateway.rate_limit import TokenBucket
from gateway.services import GatewayServices
from gateway.spool import Spool
from gateway.station_service import StationService
from gateway.timestamps import utcnow
from workflows.commands import gateway_task_queue

log = logging.getLogger(__name__)

# Newest first: with no registered version, a charger offering several gets the newest.
SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")


def station_identity(path: str) -> str:
    """The charger identity: the last segment of the URL path, percent-decoded."""
    return unquote(path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])


def _close_cause(websocket: ServerConnection) -> str:
    """Why a station's socket closed: by the station, replaced, half-open, lost."""
    protocol = websocket.protocol
    received, sent = protocol.close_rcvd, protocol.close_sent
    if received is not None and (sent is None or protocol.close_rcvd_then_sent):
        return close_cause(received.code, received.reason, by_station=True)
    if sent is not None:
        return close_cause(sent.code, sent.reason, by_station=False)
    return close_cause(None, "", by_station=False)


def basic_credentials(headers: Headers) -> tuple[str, str] | None:
    """``(user, password)`` from an HTTP Basic ``Authorization`` header, if any."""
    value = headers.get("Authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class Gateway:
    """One gateway node: serves OCPP-J, owns its outbox relay and meter writer."""

    def __init__(self, config: GatewayConfig, db: Database) -> None:
        self.config = config
        self.db = db
        link = TemporalLink(config.temporal_address, config.temporal_namespace)
        self.services = GatewayServices(
            config=config,
            db=db,
            authorizer=TokenAuthorizer(db, ttl_s=config.auth_cache_ttl_s),
            relay=OutboxRelay(
                db,
                link,
                node_id=config.node_id,
                task_queue=config.task_queue,
                health=config.health,
            ),
            temporal=link,
            writes=GroupCommit(db),
            samples=GroupCommit(db),
            spool=Spool(Path(config.spool_path)) if config.spool_path else None,
        )
        self.metrics = GatewayMetrics()
        self.services.relay.metrics = self.metrics
        service = StationService(self.services)
        self.station_service = service
        self._drainer: asyncio.Task[None] | None = None
        self.handlers: dict[str, ProtocolHandlers] = {
            "ocpp1.6": Ocpp16Handlers(service),
            "ocpp2.0.1": Ocpp2Handlers(service, "2.0.1"),
            "ocpp2.1": Ocpp2Handlers(service, "2.1"),
        }
        self.connections: dict[str, OcppConnection] = {}
        self.metrics.count_connections(lambda: len(self.connections))
        self.station_service.liveness.metrics = self.metrics
        self._probes: ProbeServer | None = None
        self.message_log = MessageLog(
            self.services.writes,
            config.node_id,
            mode=config.message_log,
            retention=timedelta(days=config.message_log_retention_days),
        )
        self.commands = StationCommands(
            config.node_id,
            self.connections,
            db,
            on_password_changed=self._forget_password,
        )
        self.command_worker = CommandWorker(link, gateway_task_queue(config.node_id), self.commands)
        self.failed_authentications = 0
        self._server: Server | None = None
        self._tls_server: Server | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Recent successful password checks: the stored hashes they were made against,
        # and a cheap memory-hard hash of the password (never the password, never a
        # fast hash of it).
        self._verified: dict[str, tuple[tuple[str, ...], str]] = {}
        self._hashing = asyncio.Semaphore(2)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Clear this node's stale registry rows, start background work and listen."""
        async with self.db.sessions.begin() as session:
            await registry.clear_node(session, self.config.node_id)
        self.services.writes.start()
        self.services.samples.start()
        self.services.relay.start()
        self.message_log.start()
        self.station_service.liveness.start()
        self.command_worker.start()
        if self.services.spool is not None:
            self._drainer = asyncio.create_task(self._drain_spool(), name="spool-drain")
        self._server = await self._listen(self.config.port, None)
        if self.config.metrics_port is not None:
            self._probes = ProbeServer(
                self.config.host, self.config.metrics_port, [self.metrics.registry], self._ready
            )
            await self._probes.start()
        log.info("gateway %s listening on %s:%s", self.config.node_id, self.config.host, self.port)
        if self.config.tls is not None:
            self._tls_server = await self._listen(
                self.config.tls_port, security.server_context(self.config.tls)
            )
            log.info(
                "gateway %s listening (wss) on %s:%s",
                self.config.node_id,
                self.config.host,
                self.tls_port,
            )

    async def _listen(self, port: int, ssl_context: ssl.SSLContext | None) -> Server:
        return await serve(
            self._serve_connection,
            self.config.host,
            port,
            ssl=ssl_context,
            subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
            select_subprotocol=self._select_subprotocol,
            process_request=self._authenticate,
            max_size=self.config.max_frame_bytes,
            # OCPP frames are small; per-connection deflate state costs more memory
            # and CPU than it saves bandwidth.
            compression=None,
            ping_interval=self.config.ping_interval_s,
            ping_timeout=self.config.ping_timeout_s,
            # A half-open socket cannot answer the close handshake either: give up on it
            # as soon as on a pong.
            close_timeout=min(10.0, self.config.ping_timeout_s),
            # Thousands of chargers reconnect at once after a network outage.
            backlog=2048,
        )

    @property
    def tls_port(self) -> int:
        """The bound wss port."""
        assert self._tls_server is not None
        return int(self._tls_server.sockets[0].getsockname()[1])

    @property
    def metrics_port(self) -> int:
        """The bound port of /metrics, /health and /ready."""
        assert self._probes is not None
        return self._probes.port

    async def _ready(self) -> dict[str, str]:
        """Ready when it listens, its database answers and Temporal does (the outbox
        keeps events while Temporal is away: not ready, but nothing is lost)."""
        checks = {"listening": "ok" if self._server is not None else "not listening"}

        async def database() -> None:
            async with self.db.sessions() as session:
                await session.execute(text("SELECT 1"))

        async def temporal() -> None:
            client = await self.services.temporal.client()
            await client.service_client.check_health()

        await check("database", database, checks)
        await check("temporal", temporal, checks)
        return checks

    async def stop(self) -> None:
        """Close every socket, flush telemetry, and leave the registry clean."""
        if self._probes is not None:
            await self._probes.stop()
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
                await server.wait_closed()
        if self._drainer is not None:
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
        await self.command_worker.stop()
        await self.station_service.liveness.stop()
        await self.message_log.stop()
        await self.services.relay.stop()
        await self.services.samples.stop()
        await self.services.writes.stop()
        async with self.db.sessions.begin() as session:
            await registry.clear_node(session, self.config.node_id)
        if self.services.spool is not None:
            self.services.spool.close()

    async def _drain_spool(self) -> None:
        """Replay what the spool holds whenever the database answers again."""
        while True:
            await asyncio.sleep(self.config.spool_drain_interval_s)
            try:
                # Batch after batch while the database answers: a backlog must drain
                # faster than chargers add to it.
                total = 0
                while drained := await self.station_service.drain_spool():
                    total += drained
            except Exception as exc:
                log.warning("spool drain paused: %s", exc)
                continue
            if total:
                log.info("replayed %d spooled messages", total)

    async def _authenticate(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if not any(p in SUBPROTOCOLS for p in offered):
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                f"no supported OCPP subprotocol offered; this CSMS speaks "
                f"{', '.join(SUBPROTOCOLS)}\n",
            )
        station_id = station_identity(request.path)
        if not station_id or len(station_id) > 48:
            return connection.respond(HTTPStatus.BAD_REQUEST, "station identity missing\n")
        # Joins the group commit: in a reconnect storm the admissions of a batch are
        # one query, queued with the registry and boot writes.
        station = await self.services.writes.run_batched(stations.admissions, station_id)
        if station is None:
            if self.config.unknown_stations == "reject":
                log.warning("refused unknown station %s", station_id)
                return connection.respond(HTTPStatus.NOT_FOUND, "unknown station\n")
            station = await self._admit_unknown(station_id)
        refusal = security.profile_refusal(
            station.security_profile,
            station_id,
            tls=security.is_tls(connection),
            common_name=security.peer_common_name(connection),
        )
        if (
            refusal is None
            and station.security_profile == 0
            and station.registration_status == "accepted"
            and not self.config.allow_unsecured_stations
        ):
            refusal = "security profile 0 (no authentication) is not allowed by this CSMS"
        if refusal is not None:
            self.failed_authentications += 1
            log.warning("refused station %s: %s", station_id, refusal)
            return connection.respond(HTTPStatus.FORBIDDEN, refusal + "\n")
        has_password = (
            station.password_hash is not None or station.pending_password_hash is not None
        )
        if security.needs_password(
            station.security_profile, has_password
        ) and not await self._password_ok(station, request.headers):
            # Counted and logged without the secret.
            self.failed_authentications += 1
            log.warning("authentication failed for station %s", station_id)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "authentication failed\n")
        pending = station.pending_security_profile
        if (
            pending is not None
            and pending > station.security_profile
            and security.profile_refusal(
                pending,
                station_id,
                tls=security.is_tls(connection),
                common_name=security.peer_common_name(connection),
            )
            is None
        ):
            # Moved by SetNetworkProfile and now connected that way: no going back.
            async with self.db.sessions.begin() as session:
                await stations.raise_security_profile(session, station_id, pending)
            log.info("station %s now at security profile %s", station_id, pending)
        connection.station_context = StationContext(  # type: ignore[attr-defined]
            station_id=station_id,
            site_id=station.site_id,
            registration_status=station.registration_status,
            ocpp_version=station.ocpp_version or "",
        )
        return None

    async def _admit_unknown(self, station_id: str) -> stations.Admission:
        """Create an unknown station as pending (``unknown_stations="pending"``)."""
        async with self.db.sessions.begin() as session:
            # Never overwrite a station the API registered a moment ago.
            await session.execute(
                dialect_insert(session)(Station)
                .values(id=station_id, registration_status="pending", security_profile=0)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            (station,) = await stations.admissions(session, [station_id])
        log.info("admitted unknown station %s as pending", station_id)
        # Deleted by an operator in between: admit this connection as pending anyway.
        return station or stations.Admission(station_id, "pending", None, 0, None, None)

    @staticmethod
    def _select_subprotocol(
        connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The station's registered version if offered, else the newest offered."""
        context: StationContext = connection.station_context  # type: ignore[attr-defined]
        registered = Subprotocol(f"ocpp{context.ocpp_version}")
        if context.ocpp_version and registered in offered:
            return registered
        return next((Subprotocol(p) for p in SUBPROTOCOLS if p in offered), None)

    def _forget_password(self, station_id: str) -> None:
        """Drop a cached password check: the station's password just changed."""
        self._verified.pop(station_id, None)

    async def _password_ok(self, station: stations.Admission, headers: Headers) -> bool:
        """Check HTTP Basic credentials against the stored hash, or a rotated password
        still pending confirmation (which then becomes the stored one)."""
        credentials = basic_credentials(headers)
        if credentials is None or credentials[0] != station.id:
            return False
        password = credentials[1]
        candidates = [
            h
            for h in (
                station.password_hash,
                *stations.pending_hashes(station.pending_password_hash),
            )
            if h
        ]
        if not candidates:
            return False
        # A recent success with the same stored hashes: a cheap memory-hard check
        # instead of the full hash, so a reconnect storm does not pay Argon2 per station.
        recent = self._verified.get(station.id)
        if recent is not None and recent[0] == tuple(candidates):
            async with self._hashing:
                if await asyncio.to_thread(recalls, password, recent[1]):
                    return True
        # At most a few full hashes at a time, off the event loop: a stream of wrong
        # passwords cannot occupy every worker thread.
        async with self._hashing:
            matched = None
            for encoded in candidates:
                if await asyncio.to_thread(verify_password, password, encoded):
                    matched = encoded
                    break
            if matched is None:
                return False
            remembered = await asyncio.to_thread(remember, password)
        if matched != station.password_hash or needs_rehash(matched):
            await self._confirm_password(station, matched, password)
        else:
            self._verified[station.id] = (tuple(candidates), remembered)
        return True

    async def _confirm_password(
        self, station: stations.Admission, matched: str, password: str
    ) -> None:
        """The station proved it holds ``matched``. A pending (rotated) password becomes
        the stored one and the other pending ones go; the current one, if outdated, is
        rehashed in place (rotations under way stay pending)."""
        current = matched
        if needs_rehash(matched):
            current = await asyncio.to_thread(hash_password, password)
        async with self.db.sessions.begin() as session:
            if matched == station.password_hash:
                await stations.rehash_password(session, station.id, matched, current)
            else:
                await stations.confirm_password(session, station.id, current)
        self._verified.pop(station.id, None)
        log.info("%s: password confirmed at the handshake", station.id)

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        context: StationContext = websocket.station_context  # type: ignore[attr-defined]
        version_handlers = self.handlers[websocket.subprotocol or "ocpp1.6"]
        context.ocpp_version = version_handlers.version
        conn = OcppConnection(
            websocket,
            context,
            version_handlers,
            TokenBucket(self.config.rate_limit_per_s, self.config.rate_limit_burst),
            self.message_log,
            on_call=self.station_service.liveness.message,
            metrics=self.metrics,
        )
        previous = self.connections.get(context.station_id)
        self.connections[context.station_id] = conn
        if previous is not None:
            # The charger reconnected (e.g. after a network change): the new socket wins
            # at once; the old one closes in the background (it may be half-open).
            log.info("%s reconnected; closing its previous socket", context.station_id)
            closing = asyncio.create_task(
                previous.websocket.close(1000, "replaced by a new connection")
            )
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        remote = websocket.remote_address
        try:
            await self.services.writes.run_batched(
                registry.register,
                registry.Registration(
                    station_id=context.station_id,
                    node_id=self.config.node_id,
                    connection_id=context.connection_id,
                    ocpp_version=version_handlers.version,
                    remote_address=f"{remote[0]}:{remote[1]}" if remote else None,
                    connected_at=utcnow(),
                ),
            )
            await self.station_service.liveness.connected(
                context, f"{remote[0]}:{remote[1]}" if remote else None
            )
            await conn.serve()
        finally:
            if self.connections.get(context.station_id) is conn:
                del self.connections[context.station_id]
                # Its symptoms end with it (a replaced socket's belong to the new one).
                await self.station_service.health_facts(
                    self.station_service.symptoms.forget(context.station_id)
                )
            try:
                await self.services.writes.run_batched(
                    registry.unregister,
                    registry.Departure(context.station_id, context.connection_id),
                )
            except Exception:
                log.exception("could not unregister %s", context.station_id)
            await self.station_service.liveness.closed(context, _close_cause(websocket))
