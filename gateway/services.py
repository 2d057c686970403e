"""What every protocol handler of a gateway node shares."""

from __future__ import annotations

from dataclasses import dataclass

from activities.persistence.database import Database
from activities.persistence.group_commit import GroupCommit
from activities.temporal_link import TemporalLink
from gateway.authorizer import TokenAuthorizer
from gateway.config import GatewayConfig
from gateway.outbox_relay import OutboxRelay
from gateway.spool import Spool


@dataclass
class GatewayServices:
    """Database, caches and the Temporal link of one gateway node."""

    config: GatewayConfig
    db: Database
    authorizer: TokenAuthorizer
    relay: OutboxRelay
    temporal: TemporalLink
    # Small writes (registry, boot, status, notices, message log) share transactions
    # under load.
    writes: GroupCommit
    # Meter samples: the same group commit, its own queue, so that telemetry (which a
    # charger waits on) never queues behind a burst of registry or message-log writes.
    samples: GroupCommit
    # Charger messages kept while the database is away (None: not kept, refused).
    spool: Spool | None = None
