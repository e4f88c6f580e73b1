"""The three key files: master key ring, blind-index key, audit signing key.

Each lives in its own file, readable by the vault's user only. Nothing here has a
default: a missing, empty, world-readable or placeholder key stops the vault
(outside an explicit development mode) with a message naming the file and the fix.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault.crypto.secret import SecretBytes

KEY_BYTES = 32
MASTER_KEY_FILE = "master.keyring"
INDEX_KEY_FILE = "index.key"
AUDIT_SIGNING_KEY_FILE = "audit-signing.pem"
AUDIT_PUBLIC_KEY_FILE = "audit-signing.pub"
_RING_FORMAT = "deid-vault master key ring 1"
_PLACEHOLDER_WORDS = ("changeme", "changethis", "placeholder", "example", "secret")


class KeyFileError(RuntimeError):
    """A key file that cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class MasterKeyRing:
    """Versioned master keys; the highest version wraps new data keys."""

    keys: dict[int, SecretBytes]

    @property
    def current_version(self) -> int:
        """The version that wraps new and rewrapped data keys."""
        return max(self.keys)


def read_key_file(path: Path, *, development: bool = False) -> bytes:
    """The bytes of a key file, refused when missing, empty, world-accessible or a placeholder."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} does not exist; create the keys with 'deid-vault init --key-dir DIR'"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"key file {path} is not a regular file")
    if info.st_mode & 0o007 and not development:
        raise KeyFileError(
            f"key file {path} is readable or writable by every user; run 'chmod 600 {path}'"
        )
    data = path.read_bytes()
    if not data.strip():
        raise KeyFileError(f"key file {path} is empty; restore it from your key backup")
    if not development and any(
        word in data.lower().decode("latin-1") for word in _PLACEHOLDER_WORDS
    ):
        raise KeyFileError(f"key file {path} holds a placeholder, not a key; generate real keys")
    return data


def _check_key_bytes(raw: bytes, path: Path, *, development: bool) -> SecretBytes:
    if len(raw) != KEY_BYTES:
        raise KeyFileError(f"key file {path}: a key must be {KEY_BYTES} bytes, found {len(raw)}")
    if len(set(raw)) < 8 and not development:
        raise KeyFileError(f"key file {path} holds a placeholder (too few distinct bytes)")
    return SecretBytes(raw)


def _b64(text: str, path: Path) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"key file {path} is not base64") from None


def load_master_key_ring(path: Path, *, development: bool = False) -> MasterKeyRing:
    """Read the master key ring (JSON: format + list of {version, key})."""
    data = read_key_file(path, development=development)
    try:
        document = json.loads(data)
        if document.get("format") != _RING_FORMAT:
            raise ValueError
        entries = [(int(e["version"]), str(e["key"])) for e in document["keys"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyFileError(f"key file {path} is not a deid-vault master key ring") from None
    if not entries:
        raise KeyFileError(f"master key ring {path} holds no key")
    keys = {v: _check_key_bytes(_b64(k, path), path, development=development) for v, k in entries}
    return MasterKeyRing(keys)


def load_index_key(path: Path, *, development: bool = False) -> SecretBytes:
    """Read the blind-index master key (one base64 line)."""
    data = read_key_file(path, development=development)
    return _check_key_bytes(
        _b64(data.decode("ascii", "replace"), path), path, development=development
    )


def load_audit_signing_key(path: Path, *, development: bool = False) -> Ed25519PrivateKey:
    """Read the audit signing key (PKCS#8 PEM, Ed25519)."""
    data = read_key_file(path, development=development)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"key file {path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} is not an Ed25519 key")
    return key


def load_audit_public_key(path: Path) -> Ed25519PublicKey:
    """Read the audit verification key (SubjectPublicKeyInfo PEM); it is not secret."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read audit public key {path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _ring_document(ring: dict[int, bytes]) -> bytes:
    keys = [
        {"version": v, "key": base64.b64encode(k).decode("ascii")} for v, k in sorted(ring.items())
    ]
    return (json.dumps({"format": _RING_FORMAT, "keys": keys}, indent=2) + "\n").encode()


@dataclass(frozen=True)
class KeyPaths:
    """Where the three key files (and the audit public key) live."""

    master: Path
    index: Path
    audit_signing: Path

    @classmethod
    def in_directory(cls, directory: Path) -> KeyPaths:
        """The default file names inside ``directory``."""
        return cls(
            directory / MASTER_KEY_FILE,
            directory / INDEX_KEY_FILE,
            directory / AUDIT_SIGNING_KEY_FILE,
        )

    @property
    def audit_public(self) -> Path:
        """The audit verification key, written beside the signing key."""
        return self.audit_signing.with_name(AUDIT_PUBLIC_KEY_FILE)

    def existing(self) -> list[Path]:
        """The key files that already exist."""
        return [p for p in (self.master, self.index, self.audit_signing) if p.exists()]


def generate_keys(paths: KeyPaths) -> None:
    """Create all three keys with mode 0600; refuse if any already exists."""
    existing = paths.existing()
    if existing:
        raise KeyFileError(
            f"refusing to overwrite existing key file(s): {', '.join(str(p) for p in existing)}"
        )
    for parent in {paths.master.parent, paths.index.parent, paths.audit_signing.parent}:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private_file(paths.master, _ring_document({1: secrets.token_bytes(KEY_BYTES)}))
    write_private_file(paths.index, base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
    signing = Ed25519PrivateKey.generate()
    write_private_file(
        paths.audit_signing,
        signing.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    public = signing.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not paths.audit_public.exists():
        paths.audit_public.write_bytes(public)


def add_master_key_version(path: Path, *, development: bool = False) -> int:
    """Append a new master key version to the ring (atomically); return it."""
    ring = load_master_key_ring(path, development=development)
    new_version = ring.current_version + 1
    raw = {v: k.reveal() for v, k in ring.keys.items()}
    raw[new_version] = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write_private_file(tmp, _ring_document(raw))
    tmp.replace(path)
    return new_version
