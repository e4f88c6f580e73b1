"""A mapping store served to every worker of a run from a process of its own.

The embedded vault and the run-scoped store of ``--anonymize`` each live in one
server process for the whole run (:class:`StoreServer`); every worker reaches it
through a proxy (:class:`~deid.store.factory.SharedStoreClient`). So pseudonyms are
consistent across workers, only one process opens the vault's database, a worker
overlaps its store requests with its next chunk, and neither the parent nor the
workers load the vault (SQLAlchemy, Alembic). Started with ``load_vault``, the
server starts loading the vault at once, in a thread of its own, while the process
that started it goes on loading the engine: the two start-ups overlap.

Light to import: what the server runs is imported in the server.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from contextlib import suppress
from multiprocessing.context import BaseContext
from multiprocessing.managers import BaseManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from deid.contract.store import Enrollment, PseudonymRequest, TrialInfo
from deid.store.factory import FailClosedStore, StoreUnavailableError

if TYPE_CHECKING:
    from deid.contract.trial_config import TrialConfig


class _ServedStore:
    """In the server: the run's store, opened by a call (so that what opening raises
    reaches the caller as itself, not as a traceback), then asked by every worker."""

    def __init__(self) -> None:
        self._store: FailClosedStore | None = None

    def open_embedded(
        self,
        store_path: Path,
        trial: str,
        site: str,
        trial_config: TrialConfig | None,
        key_dir: Path | None,
    ) -> None:
        """Open the embedded vault (the trial created on first use)."""
        from deid.store.factory import open_embedded

        store = open_embedded(store_path, trial, site, trial_config, key_dir)
        self._store = FailClosedStore(store, str(store_path))

    def open_memory(self, config: TrialConfig, site: str, anonymized: bool) -> None:
        """Open a run-scoped store, gone when the server ends."""
        from deid.store.memory import MemoryStore

        memory = MemoryStore(config, site, anonymized=anonymized)
        self._store = FailClosedStore(memory, "of this run")

    def _opened(self) -> FailClosedStore:
        if self._store is None:
            raise StoreUnavailableError("the run's mapping store was not opened")
        return self._store

    def trial_info(self) -> TrialInfo:
        """The trial and site the store is bound to."""
        return self._opened().trial_info()

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient."""
        return self._opened().enroll(patient_key)

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Answer a batch of pseudonym requests."""
        return self._opened().get_or_create(items)

    def close(self) -> None:
        """Close the store."""
        if self._store is not None:
            self._store.close()


def _start_loading_the_vault() -> None:
    """In the server, as it starts: load the vault meanwhile; a request for the
    embedded vault that comes first waits for it (Python's import lock)."""
    threading.Thread(target=_load_the_vault, name="deid-load-vault", daemon=True).start()


def _load_the_vault() -> None:
    import deid.embedded  # noqa: F401


class _StoreManager(BaseManager):
    pass


_StoreManager.register("Store", _ServedStore)


class StoreServer:
    """The process that serves a run's store; a context manager that ends it.

    Its proxies are picklable: hand them to the workers
    (:attr:`~deid.store.factory.StoreSpec.shared_proxy`). Every failure of the store
    reaches a worker as :class:`~deid.store.factory.StoreUnavailableError`.
    """

    def __init__(self, context: BaseContext | None = None, *, load_vault: bool = False) -> None:
        self._manager = _StoreManager(ctx=context or multiprocessing.get_context())
        self._manager.start(_start_loading_the_vault if load_vault else None)
        self._stores: list[Any] = []

    def embedded(
        self,
        store_path: Path,
        trial: str,
        site: str,
        trial_config: TrialConfig | None = None,
        key_dir: Path | None = None,
    ) -> Any:
        """Open the embedded vault in the server; a proxy for it.

        Raises what opening raises there (the store unavailable, the trial
        configuration disagreeing with the trial's settings).
        """
        proxy = self._new_store()
        proxy.open_embedded(store_path, trial, site, trial_config, key_dir)
        return proxy

    def memory(self, config: TrialConfig, site: str, *, anonymized: bool = True) -> Any:
        """A run-scoped store in the server (every mapping gone when it ends); a proxy.

        ``anonymized`` marks it as such (``--anonymize``), which the output records.
        """
        proxy = self._new_store()
        proxy.open_memory(config, site, anonymized)
        return proxy

    def _new_store(self) -> Any:
        proxy = self._manager.Store()  # type: ignore[attr-defined]
        self._stores.append(proxy)
        return proxy

    def close(self) -> None:
        """Close the stores (the vault's database cleanly), then end the server."""
        try:
            for proxy in self._stores:
                # Best effort: a store that failed, or a server that is gone, ends anyway.
                with suppress(StoreUnavailableError, EOFError, OSError):
                    proxy.close()
        finally:
            self._stores = []
            self._manager.shutdown()

    def __enter__(self) -> StoreServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
