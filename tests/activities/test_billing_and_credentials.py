"""Password hashing."""

from __future__ import annotations

from activities.credentials import hash_password, verify_password


def test_password_hash_verifies_and_is_salted() -> None:
    first, second = hash_password("correct-horse-battery"), hash_password("correct-horse-battery")
    assert first != second
    assert verify_password("correct-horse-battery", first)
    assert not verify_password("wrong", first)
    assert not verify_password("correct-horse-battery", "garbage")


def _legacy_pbkdf2(password: str) -> str:
    """A hash as versions before Argon2 wrote it."""
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 60_000)
    return (
        f"pbkdf2_sha256$60000${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


def test_passwords_are_argon2id_and_legacy_hashes_verify_then_ask_for_a_rehash() -> None:
    from activities.credentials import needs_rehash, recalls, remember

    current = hash_password("correct-horse-battery")
    assert current.startswith("$argon2id$") and not needs_rehash(current)
    legacy = _legacy_pbkdf2("correct-horse-battery")
    assert verify_password("correct-horse-battery", legacy)
    assert not verify_password("wrong-horse", legacy)
    assert needs_rehash(legacy)
    cached = remember("correct-horse-battery")
    assert recalls("correct-horse-battery", cached) and not recalls("wrong", cached)
    assert "correct-horse-battery" not in cached
