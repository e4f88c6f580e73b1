"""Transfer key pairs: the X25519 keys a receiving vault hands out to be sent a trial.

The receiving vault's operator creates a pair, keeps the private key (mode 0600)
beside its other keys and gives the public key to whoever exports the trial. A
bundle sealed to that public key opens only with that private key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from vault.crypto import KeyFileError, read_key_file, write_private_file

PRIVATE_KEY_FILE = "transfer.key"
PUBLIC_KEY_FILE = "transfer.pub"


def raw_public(key: X25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: X25519PublicKey) -> str:
    """A short fingerprint of a transfer public key, written into every bundle sealed to it."""
    return hashlib.sha256(b"deid-vault transfer key|" + raw_public(key)).hexdigest()[:32]


@dataclass(frozen=True)
class TransferKeyPair:
    """Where a newly created pair was written, and its fingerprint."""

    private_key: Path
    public_key: Path
    key_id: str


def create_transfer_key(directory: Path) -> TransferKeyPair:
    """Write a new pair into ``directory`` (private 0600, public 0644); never overwrite."""
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing:
        raise KeyFileError(f"refusing to overwrite existing transfer key file(s): {existing}")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = X25519PrivateKey.generate()
    write_private_file(
        private_path,
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    public = private.public_key()
    public_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return TransferKeyPair(private_path, public_path, key_id(public))


def load_transfer_public_key(path: Path) -> X25519PublicKey:
    """Read a transfer public key (PEM); it is not secret."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read transfer public key {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        raise KeyFileError(
            f"{path} is a private key; name the receiving vault's {PUBLIC_KEY_FILE} instead "
            "(the private key never leaves the receiving vault)"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(key, X25519PublicKey):
        raise KeyFileError(
            f"{path} is not a transfer public key (X25519); "
            "create one with 'deid-vault transfer-key create --out DIR'"
        )
    return key


def load_transfer_private_key(path: Path) -> X25519PrivateKey:
    """Read a transfer private key (PKCS#8 PEM), refusing a world-accessible file."""
    if not path.exists():
        raise KeyFileError(
            f"transfer private key {path} does not exist; it is the {PRIVATE_KEY_FILE} "
            "written by 'deid-vault transfer-key create' on the receiving vault"
        )
    data = read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not a PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} is not a transfer private key (X25519)")
    return key
