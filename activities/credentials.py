"""Station passwords (OCPP security profile 1/2 HTTP Basic auth), stored only as hashes.

Argon2id (argon2-cffi) with OWASP's minimum parameters for it (19 MiB, two passes):
about 25 ms a hash here, so a guessed password costs an attacker as much. Hashes
written by earlier versions (PBKDF2-SHA256) still verify and are replaced at
the next successful check (:func:`needs_rehash`). Every function here is
CPU-bound: callers run them off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)

# For the gateway's memory of recent successful checks (see ``gateway.server``): still
# memory-hard and salted, so a memory dump gives no fast path to a password, but cheap
# enough (about 3 ms) that a reconnect storm does not redo the full hash per station.
_RECENT = PasswordHasher(time_cost=1, memory_cost=4_096, parallelism=1)

_LEGACY = "pbkdf2_sha256"


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (PHC string format, salt included)."""
    return _HASHER.hash(password)


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (Argon2id, or a legacy PBKDF2 hash)."""
    if encoded.startswith(_LEGACY + "$"):
        return _verify_legacy(password, encoded)
    try:
        return _HASHER.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    """Whether a hash that just verified should be replaced by a current one."""
    if encoded.startswith(_LEGACY + "$"):
        return True
    try:
        return _HASHER.check_needs_rehash(encoded)
    except InvalidHashError:
        return True


def remember(password: str) -> str:
    """A cheap memory-hard hash for a cache of passwords that just verified."""
    return _RECENT.hash(password)


def recalls(password: str, remembered: str) -> bool:
    """Whether ``password`` is the one :func:`remember` hashed."""
    try:
        return _RECENT.verify(remembered, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_legacy(password: str, encoded: str) -> bool:
    try:
        _, iterations, salt_b64, digest_b64 = encoded.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        rounds = int(iterations)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return hmac.compare_digest(digest, expected)
