"""Console passwords: scrypt (memory-hard, from the standard library), never kept in clear.

A stored hash names its own parameters and salt (``scrypt$N-log2$r$p$salt$hash``),
so the cost can be raised later without invalidating older passwords.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from vault.errors import InvalidInputError

MIN_LENGTH = 12
MAX_LENGTH = 256
_SCHEME = "scrypt"
_LOG2_N = 15  # 32 MiB of memory per attempt with r=8
_R = 8
_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True)
class _Parsed:
    log2_n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        maxmem=_MAX_MEMORY,
        dklen=_KEY_BYTES,
    )


def check_policy(password: str, principal_name: str) -> None:
    """Refuse passwords that are too short, too long, or the principal's own name."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInputError(
            f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters; "
            "a phrase of several words is easiest to remember"
        )
    if principal_name.casefold() in password.casefold():
        raise InvalidInputError("a password must not contain the principal's name")


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, _LOG2_N, _R, _P)
    return f"{_SCHEME}${_LOG2_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> _Parsed | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5])
    except ValueError:
        return None
    if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4):
        return None
    return _Parsed(log2_n, r, p, salt, key)


@functools.cache
def _dummy() -> _Parsed:
    """Checked against when there is no password, so that case takes as long as a wrong one."""
    parsed = _parse(hash_password(secrets.token_urlsafe(16)))
    assert parsed is not None
    return parsed


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored`` (a missing hash costs the same time)."""
    parsed = _parse(stored) if stored is not None else None
    if parsed is None or len(password) > MAX_LENGTH:
        dummy = _dummy()
        _derive(password[:MAX_LENGTH], dummy.salt, dummy.log2_n, dummy.r, dummy.p)
        return False
    candidate = _derive(password, parsed.salt, parsed.log2_n, parsed.r, parsed.p)
    return hmac.compare_digest(candidate, parsed.key)
