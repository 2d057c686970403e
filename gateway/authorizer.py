"""Id-token authorization from the database, with a short per-node cache."""

from __future__ import annotations

import time

from activities.persistence.database import Database
from activities.persistence.repositories import id_tokens
from gateway.timestamps import utcnow
from workflows.domain import Authorization


class TokenAuthorizer:
    """Answers Authorize fast; a change made through the API is seen within ``ttl_s``."""

    def __init__(self, db: Database, *, ttl_s: float = 30.0, max_entries: int = 100_000) -> None:
        self._db = db
        self._ttl = ttl_s
        self._max = max_entries
        self._cache: dict[str, tuple[float, Authorization]] = {}

    def last_known(self, token: str) -> Authorization | None:
        """The standing last read for ``token``, however old (for when the database is
        away), or None."""
        hit = self._cache.get(token)
        return hit[1] if hit is not None else None

    async def authorize(self, token: str) -> Authorization:
        """Current standing of ``token``."""
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._db.sessions() as session:
            row = await id_tokens.get_token(session, token)
        result = id_tokens.authorization_of(row, utcnow())
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[token] = (now + self._ttl, result)
        return result
