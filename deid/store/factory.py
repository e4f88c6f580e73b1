"""The mapping store a run's workers use, and how each opens its own connection to it.

Three kinds (:class:`StoreSpec`):

* **embedded** (the default): the vault's own service layer on a SQLite file, with
  its keys in files beside it, served to every worker by the run's store process
  (:mod:`deid.store.served`), which opens it once and creates the trial on first
  use; :func:`open_embedded` is the one place ``deid`` opens it.
* **deployed** (``--vault URL``): :class:`~deid.store.http.HttpStore`; the trial
  and site must exist in the vault already. The run asks for the trial's
  information first, so a wrong URL, token, trial or site stops it before any
  worker starts; each worker then opens its own connection.
* **run-scoped** (``--anonymize``): one :class:`~deid.store.memory.MemoryStore`
  served by the run's store process, so pseudonyms are consistent across workers
  and nothing is written anywhere.

Every store handed to the engine is wrapped in :class:`FailClosedStore`: a failing
store surfaces as :class:`StoreUnavailableError`, which stops the run (exit 3)
instead of quarantining every file for a reason that is not the file's fault.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from deid.contract.errors import DeidError, ExitStatus, UsageError, VaultClientError
from deid.contract.store import Enrollment, MappingStore, PseudonymRequest, TrialInfo

if TYPE_CHECKING:
    from deid.contract.trial_config import TrialConfig
    from deid.store.http import VaultTarget


class StoreUnavailableError(DeidError, RuntimeError):
    """The mapping store could not be opened or failed a request.

    The message names the store and the failure, never a value being mapped.
    """

    exit_status = ExitStatus.STORE


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VaultClientError | StoreUnavailableError):
        return str(exc)  # written to be read whole, and free of originals
    # Database errors append the statement and its parameters on later lines.
    first_line = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def open_embedded(
    store_path: Path,
    trial: str,
    site: str,
    trial_config: TrialConfig | None = None,
    key_dir: Path | None = None,
) -> MappingStore:
    """Open the embedded vault at ``store_path``; the one place ``deid`` does so.

    The vault (SQLAlchemy, Alembic) is imported here, when a run needs it. A trial
    configuration the vault cannot take is the user's to fix (a
    :class:`~deid.contract.errors.UsageError`); any other failure is the store's.
    """
    from deid.embedded import open_store

    try:
        store = open_store(store_path, trial, site, trial_config, key_dir)
    except UsageError:
        raise
    except Exception as exc:
        raise StoreUnavailableError(
            f"cannot open the mapping store {store_path}: {_describe(exc)}"
        ) from None
    return store


_T = TypeVar("_T")


class FailClosedStore:
    """A :class:`MappingStore` whose failures all become :class:`StoreUnavailableError`.

    One call at a time: a worker may ask the store for one chunk's pseudonyms in a
    second thread while it enrolls the next chunk's patients (database sessions and
    connections are not shared between threads).
    """

    def __init__(self, inner: MappingStore, name: str) -> None:
        self._inner = inner
        self._name = name
        self._lock = threading.Lock()

    def _call(self, call: Callable[[], _T]) -> _T:
        """``call()``, alone, its failure a :class:`StoreUnavailableError`."""
        with self._lock:
            try:
                return call()
            except StoreUnavailableError:
                raise  # a store served from another process: already said
            except Exception as exc:
                raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(f"the mapping store {self._name} failed: {_describe(exc)}")

    def trial_info(self) -> TrialInfo:
        """The trial and site the store is bound to."""
        return self._call(self._inner.trial_info)

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient."""
        return self._call(lambda: self._inner.enroll(patient_key))

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Answer a batch of pseudonym requests."""
        return self._call(lambda: self._inner.get_or_create(items))

    def close(self) -> None:
        """Close the wrapped store."""
        self._call(self._inner.close)


class SharedStoreClient:
    """A worker's handle on the store the run's store process serves
    (:mod:`deid.store.served`).

    ``close`` only lets go of the handle: the store belongs to the run and lives
    until the run ends.
    """

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy

    def trial_info(self) -> TrialInfo:
        """The trial and site the store is bound to."""
        info: TrialInfo = self._proxy.trial_info()
        return info

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient, for every worker of the run alike."""
        enrollment: Enrollment = self._proxy.enroll(patient_key)
        return enrollment

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """One round trip to the store's process for the whole batch."""
        answers: list[str | None] = self._proxy.get_or_create(list(items))
        return answers

    def close(self) -> None:
        """Drop the handle; the parent closes the store itself."""
        self._proxy = None


@dataclass(frozen=True)
class StoreSpec:
    """How a worker opens its store: picklable, so it can travel to worker processes."""

    trial: str
    site: str
    store_path: Path | None = None
    """The embedded vault's SQLite file; ``None`` for a run-scoped store."""
    key_dir: Path | None = None
    trial_config: TrialConfig | None = None
    """The settings the embedded vault creates a trial it does not know yet with; the
    run-scoped store's settings (defaults when ``None``)."""
    shared_proxy: Any = None
    """The proxy of the store the run's store process serves (the embedded vault,
    the run-scoped store of ``--anonymize``); set by the run."""
    vault: VaultTarget | None = None
    """A deployed vault (``--vault``)."""

    @property
    def answers_from_afar(self) -> bool:
        """True when another process answers (a deployed vault, the run's store
        process): waiting for it leaves this one idle, so the wait can be overlapped."""
        return self.vault is not None or self.shared_proxy is not None

    def identity(self) -> str | None:
        """Which store this is, as compared between runs into one OUTPUT."""
        if self.vault is not None:
            return self.vault.url
        return str(self.store_path.resolve()) if self.store_path is not None else None

    def open(self) -> FailClosedStore:
        """Open this worker's connection to the run's store."""
        if self.shared_proxy is not None:
            name = str(self.store_path) if self.store_path is not None else "of this run"
            return FailClosedStore(SharedStoreClient(self.shared_proxy), name)
        if self.vault is not None:
            name = f"at {self.vault.url}"
            try:
                return FailClosedStore(self.vault.open_store(self.trial, self.site), name)
            except VaultClientError as exc:
                raise StoreUnavailableError(f"the mapping store {name} failed: {exc}") from None
        if self.store_path is None:
            raise StoreUnavailableError("no mapping store was configured for this run")
        inner = open_embedded(
            self.store_path, self.trial, self.site, self.trial_config, self.key_dir
        )
        return FailClosedStore(inner, str(self.store_path))
