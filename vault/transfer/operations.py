"""Export and import as whole operations: their transactions and the bundle file.

Export reads the trial in one read-only snapshot (writers are not held up),
seals it into a temporary file (mode 0600), audits the export in the source
vault, and only then gives the file its name. Import reads, checks and inserts
the whole bundle inside one transaction of the target vault.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from vault.authz import Caller
from vault.db import make_session_factory
from vault.repositories import transfer as transfer_repo
from vault.runtime import VaultRuntime
from vault.transfer import service as transfer_service
from vault.transfer.bundle import CHUNK_BYTES, BundleWriter, write_atomically
from vault.transfer.service import TransferredTrial


def export_bundle(
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    recipient: X25519PublicKey,
    out: Path,
    chunk_bytes: int = CHUNK_BYTES,
) -> TransferredTrial:
    """Write trial ``trial_key`` to ``out``, sealed to ``recipient``; audit it here."""
    snapshots = make_session_factory(runtime.engine, read_only=True)

    def fill(handle: IO[bytes]) -> TransferredTrial:
        writer = BundleWriter(handle, recipient, chunk_bytes)
        with snapshots() as session:
            transfer_repo.begin_snapshot(session)
            exported = transfer_service.export_trial(session, runtime, caller, trial_key, writer)
            session.rollback()
        with runtime.transaction() as session:
            transfer_service.record_export(session, runtime, caller, exported)
        return exported

    return write_atomically(out, fill)


def import_bundle(
    runtime: VaultRuntime, caller: Caller, bundle: Path, private_key: X25519PrivateKey
) -> TransferredTrial:
    """Re-create the trial in ``bundle`` in this vault, all or nothing; audit it here."""
    with bundle.open("rb") as source, runtime.transaction() as session:
        return transfer_service.import_trial(session, runtime, caller, source, private_key)
