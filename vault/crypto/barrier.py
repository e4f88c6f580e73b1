"""The barrier: the one place where originals are encrypted, decrypted and indexed.

Envelope encryption: every trial has versioned AES-256-GCM data keys, stored only
wrapped by the key provider. A value is sealed with a random 96-bit nonce and the
row's context (trial, kind, blind index, key version, ...) as associated data, so
a ciphertext copied to another row does not decrypt. Lookups go through a blind
index, HMAC-SHA256 of the normalized original under a per-trial index key derived
(HKDF) from the index master key and the trial's random salt; destroying the salt
and the wrapped data keys (crypto-shredding) makes both unrecoverable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.crypto.normalize import normalize
from vault.crypto.provider import (
    NONCE_BYTES,
    KeyProvider,
    KeyUnavailableError,
    canonical_context,
)
from vault.crypto.secret import SecretBytes

DATA_KEY_BYTES = 32
INDEX_SALT_BYTES = 32
Context = dict[str, str | int]


class DecryptionError(RuntimeError):
    """A ciphertext did not decrypt: altered, moved to another row, or its key is gone."""


@dataclass(frozen=True)
class WrappedDataKey:
    """A data key as stored: its version, the master version that wrapped it, the blob."""

    version: int
    master_version: int
    wrapped: bytes


@dataclass(frozen=True)
class Sealed:
    """A ciphertext and the data key version that sealed it."""

    key_version: int
    ciphertext: bytes


@dataclass(frozen=True)
class SealedSubject:
    """A subject's patient key and date offset, sealed under one data key version."""

    key_version: int
    patient_key: bytes
    date_offset: bytes


def _wrap_context(trial: str, version: int) -> Context:
    return {"purpose": "data-key", "trial": trial, "version": version}


# The row contexts below are the associated data of every stored ciphertext: changing
# a key or a value makes every existing row (and every transfer bundle) unreadable.
def _mapping_context(kind: str, blind_index: bytes) -> Context:
    return {"table": "mappings", "kind": kind, "blind_index": bytes(blind_index).hex()}


def _subject_context(field: str, patient_blind_index: bytes) -> Context:
    return {"table": "subjects", "field": field, "blind_index": bytes(patient_blind_index).hex()}


class Barrier:
    """Holds the key provider and index master key; hands out per-trial ciphers."""

    def __init__(self, provider: KeyProvider, index_master_key: SecretBytes) -> None:
        self.provider = provider
        self._index_master_key = index_master_key
        self._lock = threading.Lock()
        # Unwrapped keys are cached by their wrapped form, which changes on rewrap.
        self._data_keys: dict[tuple[str, int, bytes], SecretBytes] = {}
        self._index_keys: dict[tuple[str, bytes], SecretBytes] = {}
        # A data key version never changes its plaintext (rewrapping keeps it), so the
        # ready cipher is cached per (trial, version) and skips the database entirely.
        self._aeads: dict[tuple[str, int], AESGCM] = {}
        self._hmacs: dict[tuple[str, bytes], Any] = {}

    def __repr__(self) -> str:
        return f"Barrier({self.provider!r})"

    @staticmethod
    def new_index_salt() -> bytes:
        """A fresh random per-trial salt for the blind-index key."""
        return secrets.token_bytes(INDEX_SALT_BYTES)

    def new_data_key(self, trial: str, version: int) -> WrappedDataKey:
        """Generate data key ``version`` of ``trial``; only its wrapped form leaves."""
        key = SecretBytes(AESGCM.generate_key(bit_length=8 * DATA_KEY_BYTES))
        master_version, wrapped = self.provider.wrap(key, _wrap_context(trial, version))
        return WrappedDataKey(version, master_version, wrapped)

    def rewrap(self, trial: str, key: WrappedDataKey) -> WrappedDataKey:
        """The same data key wrapped by the current master key version."""
        plain = self.provider.unwrap(
            key.master_version, key.wrapped, _wrap_context(trial, key.version)
        )
        master_version, wrapped = self.provider.wrap(plain, _wrap_context(trial, key.version))
        return WrappedDataKey(key.version, master_version, wrapped)

    def _data_key(self, trial: str, key: WrappedDataKey) -> SecretBytes:
        cache_key = (trial, key.version, key.wrapped)
        cached = self._data_keys.get(cache_key)
        if cached is None:
            cached = self.provider.unwrap(
                key.master_version, key.wrapped, _wrap_context(trial, key.version)
            )
            with self._lock:
                self._data_keys[cache_key] = cached
        return cached

    def _index_key(self, trial: str, salt: bytes) -> SecretBytes:
        cached = self._index_keys.get((trial, salt))
        if cached is None:
            cached = SecretBytes(
                HKDF(
                    algorithm=hashes.SHA256(),
                    length=32,
                    salt=salt,
                    info=b"deid-vault blind index v1|" + trial.encode(),
                ).derive(self._index_master_key.reveal())
            )
            with self._lock:
                self._index_keys[(trial, salt)] = cached
        return cached

    def forget(self, trial: str) -> None:
        """Drop every cached key of ``trial`` (after its keys were destroyed)."""
        with self._lock:
            self._data_keys = {k: v for k, v in self._data_keys.items() if k[0] != trial}
            self._index_keys = {k: v for k, v in self._index_keys.items() if k[0] != trial}
            self._aeads = {k: v for k, v in self._aeads.items() if k[0] != trial}
            self._hmacs = {k: v for k, v in self._hmacs.items() if k[0] != trial}

    def _aead(
        self, trial: str, version: int, load_key: Callable[[int], WrappedDataKey | None]
    ) -> AESGCM:
        aead = self._aeads.get((trial, version))
        if aead is None:
            wrapped = load_key(version)
            if wrapped is None:
                raise KeyUnavailableError(
                    f"data key version {version} of trial {trial} does not exist "
                    "(destroyed when the trial was closed, or never created)"
                )
            aead = AESGCM(self._data_key(trial, wrapped).reveal())
            with self._lock:
                self._aeads[(trial, version)] = aead
        return aead

    def _hmac(self, trial: str, salt: bytes) -> Any:
        base = self._hmacs.get((trial, salt))
        if base is None:
            base = hmac.new(self._index_key(trial, salt).reveal(), digestmod=hashlib.sha256)
            with self._lock:
                self._hmacs[(trial, salt)] = base
        return base

    def cipher(
        self,
        trial: str,
        index_salt: bytes | None,
        current_version: int,
        load_key: Callable[[int], WrappedDataKey | None],
    ) -> TrialCipher:
        """The cipher of one trial; ``load_key(version)`` fetches a wrapped data key."""
        return TrialCipher(self, trial, index_salt, current_version, load_key)


class TrialCipher:
    """Encrypt, decrypt and blind-index values of one trial."""

    def __init__(
        self,
        barrier: Barrier,
        trial: str,
        index_salt: bytes | None,
        current_version: int,
        load_key: Callable[[int], WrappedDataKey | None],
    ) -> None:
        self._barrier = barrier
        self.trial = trial
        self._index_salt = index_salt
        self.current_version = current_version
        self._load_key = load_key

    def __repr__(self) -> str:
        return f"TrialCipher(trial={self.trial!r}, current_version={self.current_version})"

    def _aead(self, version: int) -> AESGCM:
        return self._barrier._aead(self.trial, version, self._load_key)

    def _aad(self, version: int, context: Context) -> bytes:
        return canonical_context({**context, "trial": self.trial, "key_version": version})

    def encrypt(self, plaintext: str, context: Context) -> Sealed:
        """Seal ``plaintext`` under the current data key, bound to ``context``."""
        version = self.current_version
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead(version).encrypt(
            nonce, plaintext.encode("utf-8"), self._aad(version, context)
        )
        return Sealed(version, nonce + sealed)

    def decrypt(self, sealed: Sealed, context: Context) -> str:
        """Open ``sealed``; raise :class:`DecryptionError` (never naming the value)."""
        try:
            aead = self._aead(sealed.key_version)
        except KeyUnavailableError as exc:
            raise DecryptionError(str(exc)) from None
        try:
            raw = aead.decrypt(
                sealed.ciphertext[:NONCE_BYTES],
                sealed.ciphertext[NONCE_BYTES:],
                self._aad(sealed.key_version, context),
            )
        except InvalidTag:
            raise DecryptionError(
                f"a value of trial {self.trial} failed authentication (altered or moved)"
            ) from None
        return raw.decode("utf-8")

    def seal_original(self, kind: str, blind_index: bytes, original: str) -> Sealed:
        """Seal a mapping's original, bound to its trial, kind and blind index."""
        return self.encrypt(original, _mapping_context(kind, blind_index))

    def open_original(self, kind: str, blind_index: bytes, sealed: Sealed) -> str:
        """Open a mapping's original (:class:`DecryptionError` if it was moved or altered)."""
        return self.decrypt(sealed, _mapping_context(kind, blind_index))

    def seal_subject(
        self, patient_blind_index: bytes, patient_key: str, date_offset_days: int
    ) -> SealedSubject:
        """Seal a subject's patient key and date offset, each bound to its field and row."""
        patient = self.encrypt(patient_key, _subject_context("patient_key", patient_blind_index))
        offset = self.encrypt(
            str(date_offset_days), _subject_context("date_offset", patient_blind_index)
        )
        return SealedSubject(offset.key_version, patient.ciphertext, offset.ciphertext)

    def open_patient_key(self, patient_blind_index: bytes, sealed: Sealed) -> str:
        """Open a subject's patient key."""
        return self.decrypt(sealed, _subject_context("patient_key", patient_blind_index))

    def open_date_offset(self, patient_blind_index: bytes, sealed: Sealed) -> int:
        """Open a subject's date offset, in days."""
        return int(self.decrypt(sealed, _subject_context("date_offset", patient_blind_index)))

    def blind_index(self, kind: str, original: str) -> bytes:
        """HMAC-SHA256 over the kind and the normalized original, under the trial's index key."""
        if self._index_salt is None:
            raise KeyUnavailableError(f"the blind-index key of trial {self.trial} was destroyed")
        mac = self._barrier._hmac(self.trial, self._index_salt).copy()
        mac.update(kind.encode() + b"\x00" + normalize(kind, original).encode("utf-8"))
        return bytes(mac.digest())


def token_digest(token: str) -> bytes:
    """SHA-256 of an API token: tokens carry 256 random bits, so no slow hash is needed."""
    return hashlib.sha256(token.encode("utf-8")).digest()
