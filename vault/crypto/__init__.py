"""The barrier: envelope encryption, blind indexes, key files and providers."""

from vault.crypto.barrier import (
    Barrier,
    DecryptionError,
    Sealed,
    SealedSubject,
    TrialCipher,
    WrappedDataKey,
    token_digest,
)
from vault.crypto.keyfiles import (
    KeyFileError,
    KeyPaths,
    add_master_key_version,
    generate_keys,
    load_audit_public_key,
    load_audit_signing_key,
    load_index_key,
    load_master_key_ring,
    read_key_file,
    write_private_file,
)
from vault.crypto.normalize import PERSON_NAME_KINDS, normalize
from vault.crypto.provider import KeyProvider, KeyUnavailableError, LocalKeyRingProvider
from vault.crypto.secret import SecretBytes

__all__ = [
    "PERSON_NAME_KINDS",
    "Barrier",
    "DecryptionError",
    "KeyFileError",
    "KeyPaths",
    "KeyProvider",
    "KeyUnavailableError",
    "LocalKeyRingProvider",
    "Sealed",
    "SealedSubject",
    "SecretBytes",
    "TrialCipher",
    "WrappedDataKey",
    "add_master_key_version",
    "generate_keys",
    "load_audit_public_key",
    "load_audit_signing_key",
    "load_index_key",
    "load_master_key_ring",
    "normalize",
    "read_key_file",
    "token_digest",
    "write_private_file",
]
