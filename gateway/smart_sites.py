"""Which sites are smart-charged, as one gateway node knows it.

A session at a smart-charged site tells the site's workflow when it starts and
ends, and a vehicle's charging needs there wake a re-plan; other sites pay
nothing for it. The flag is read from the database at most every 30 s per site.
"""

from __future__ import annotations

import time

from activities.persistence.group_commit import GroupCommit
from activities.persistence.models import SiteCharging

SMART_SITE_TTL_S = 30.0
"""How long a node trusts what it read about a site being smart-charged."""


class SmartSites:
    """A per-node cache of the sites' smart-charging flag."""

    def __init__(self, writes: GroupCommit) -> None:
        self._writes = writes
        # Site id -> (smart-charged, valid until monotonic time).
        self._known: dict[str, tuple[bool, float]] = {}

    async def refresh(self, site_id: str) -> bool:
        """Whether the site is smart-charged (read again once the cached answer is old)."""
        smart, until = self._known.get(site_id, (False, 0.0))
        now = time.monotonic()
        if until > now:
            return smart
        row = await self._writes.run(lambda session: session.get(SiteCharging, site_id))
        smart = row is not None and row.enabled
        self._known[site_id] = (smart, now + SMART_SITE_TTL_S)
        return smart

    def cached(self, site_id: str | None) -> bool:
        """The last answer for the site, without a read (False if never read)."""
        return self._known.get(site_id or "", (False, 0.0))[0]
