"""Station passwords (OCPP security profile 1/2 HTTP Basic auth), stored only as salted hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_ITERATIONS = 60_000


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    """PBKDF2-SHA256 hash in the form ``pbkdf2_sha256$iterations$salt$digest``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join(
        [
            "pbkdf2_sha256",
            str(iterations),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (constant-time comparison)."""
    try:
        scheme, iterations, salt_b64, digest_b64 = encoded.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt_b64), int(iterations)
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
