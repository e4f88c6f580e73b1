"""Key providers: who wraps and unwraps per-trial data keys.

The vault never stores a data key in clear; it asks a provider to wrap it under a
versioned master key. The local key-ring file is the provider now; a KMS provider
implements the same three members.
"""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.crypto.keyfiles import MasterKeyRing, load_master_key_ring
from vault.crypto.secret import SecretBytes

NONCE_BYTES = 12


class KeyUnavailableError(RuntimeError):
    """A key needed to decrypt is missing, destroyed or does not match."""


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys under versioned master keys."""

    @property
    def current_version(self) -> int:
        """The master key version that wraps new data keys."""
        ...

    def wrap(self, data_key: SecretBytes, context: dict[str, str | int]) -> tuple[int, bytes]:
        """Wrap ``data_key`` bound to ``context``; return (master version, wrapped)."""
        ...

    def unwrap(self, version: int, wrapped: bytes, context: dict[str, str | int]) -> SecretBytes:
        """Unwrap a key wrapped by master key ``version`` under ``context``."""
        ...


def canonical_context(context: dict[str, str | int]) -> bytes:
    """The associated data for ``context``: canonical JSON, so both sides agree."""
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


class LocalKeyRingProvider:
    """The master key ring in a local file (re-read when a newer version is asked for)."""

    def __init__(self, path: Path, *, development: bool = False) -> None:
        self._path = path
        self._development = development
        self._lock = threading.Lock()
        self._ring: MasterKeyRing = load_master_key_ring(path, development=development)

    def __repr__(self) -> str:
        return f"LocalKeyRingProvider({str(self._path)!r}, versions={sorted(self._ring.keys)})"

    def reload(self) -> None:
        """Re-read the ring file (after ``deid-vault keys rotate --master``)."""
        with self._lock:
            self._ring = load_master_key_ring(self._path, development=self._development)

    @property
    def current_version(self) -> int:
        """The highest version in the ring."""
        return self._ring.current_version

    def _key(self, version: int) -> SecretBytes:
        key = self._ring.keys.get(version)
        if key is None:
            # Another vault process may have added a version to the shared ring.
            self.reload()
            key = self._ring.keys.get(version)
        if key is None:
            raise KeyUnavailableError(f"master key version {version} is not in the key ring")
        return key

    def wrap(self, data_key: SecretBytes, context: dict[str, str | int]) -> tuple[int, bytes]:
        """AES-256-GCM under the current master key, the context as associated data."""
        version = self.current_version
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = canonical_context({**context, "master_version": version})
        sealed = AESGCM(self._key(version).reveal()).encrypt(nonce, data_key.reveal(), aad)
        return version, nonce + sealed

    def unwrap(self, version: int, wrapped: bytes, context: dict[str, str | int]) -> SecretBytes:
        """Reverse :meth:`wrap`; a wrong key, context or altered blob fails."""
        aad = canonical_context({**context, "master_version": version})
        try:
            raw = AESGCM(self._key(version).reveal()).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad
            )
        except InvalidTag:
            raise KeyUnavailableError("a data key failed to unwrap (altered, wrong key)") from None
        return SecretBytes(raw)
