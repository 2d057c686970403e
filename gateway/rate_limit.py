"""Per-connection message rate limit (token bucket)."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows ``rate`` messages per second on average and bursts of ``burst``.

    Chargers send one CALL at a time, so a well-behaved one never comes near
    the default; a flood from a faulty or hostile one is answered without being
    processed, and the rest of the node stays responsive.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def allow(self) -> bool:
        """Take one token if there is one."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
