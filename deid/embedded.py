"""The embedded vault, as ``deid`` reaches it: the one module of ``deid`` that imports ``vault``.

Imported only when a command needs the vault in this process (a run without
``--vault`` or ``--anonymize``, ``deid demo``), never at start-up: the vault brings
SQLAlchemy, Alembic and the audit chain. Everything here hands on to
:mod:`vault.embedded`; what crosses back is the contract's (a
:class:`~deid.contract.store.MappingStore`) or, for the demo, the vault's own
administration handle.
"""

from __future__ import annotations

from pathlib import Path

from deid.contract.store import MappingStore
from deid.contract.trial_config import TrialConfig
from vault.embedded import EmbeddedVault, open_embedded_store, open_embedded_vault

__all__ = ["EmbeddedVault", "open_administration", "open_store"]


def open_store(
    store_path: Path,
    trial: str,
    site: str,
    trial_config: TrialConfig | None = None,
    key_dir: Path | None = None,
) -> MappingStore:
    """The embedded vault at ``store_path`` as a run's store, for one trial and site.

    Creates the keys, schema, trial (from ``trial_config`` or defaults) and site on
    first use (see :func:`vault.embedded.open_embedded_store`).
    """
    return open_embedded_store(store_path, trial, site, trial_config=trial_config, key_dir=key_dir)


def open_administration(store_path: Path, key_dir: Path | None = None) -> EmbeddedVault:
    """The embedded vault at ``store_path`` for local administration (``deid demo``)."""
    return open_embedded_vault(store_path, key_dir)
