"""The embedded vault: the vault's own service layer, in-process, on SQLite.

``deid`` opens it through its one adapter (:mod:`deid.embedded`) when no vault URL
is given: :func:`open_embedded_store` for a run's mapping store, and
:func:`open_embedded_vault` for local administration (``deid demo``: principals,
re-identification as a named principal, the audit trail). The store file is an
ordinary vault database (same migrations, same services) and its keys are ordinary
vault key files, generated with safe permissions on first use, so a trial that
starts embedded can later move into a deployed vault.

Several worker processes may open one store at once: first-use work (keys,
migrations, trial and site) runs under an exclusive file lock; after that,
SQLite in WAL mode with ``BEGIN IMMEDIATE`` transactions keeps writers apart.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from deid.contract.store import Enrollment, MappingStore, PseudonymRequest, TrialInfo
from deid.contract.trial_config import TrialConfig, TrialSettingsDifferError
from vault.audit import AuditSigner, VerificationReport
from vault.authz import LOCAL_PRINCIPAL, Binding, Caller
from vault.crypto import (
    Barrier,
    KeyPaths,
    LocalKeyRingProvider,
    generate_keys,
    load_audit_signing_key,
    load_index_key,
)
from vault.db import create_vault_engine, current_revision, head_revision, make_session_factory
from vault.db import upgrade as upgrade_database
from vault.embedded_reidentification import EmbeddedReidentificationClient, principal_caller
from vault.models import Principal, Role, Trial
from vault.repositories import principals as principals_repo
from vault.repositories import trials as trials_repo
from vault.runtime import AuthPolicy, Limits, VaultRuntime
from vault.services import audit as audit_service
from vault.services import mappings as mapping_service
from vault.services import principals as principal_service
from vault.services import trials as trial_service
from vault.services.principals import RoleSpec

DEFAULT_CHECKPOINT_INTERVAL = 100


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (released when the process dies, too)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _runtime(store_path: Path, key_dir: Path) -> VaultRuntime:
    paths = KeyPaths.in_directory(key_dir)
    if not paths.existing():
        generate_keys(paths)
    engine = create_vault_engine(f"sqlite:///{store_path}")
    if current_revision(engine) != head_revision():
        upgrade_database(engine)
    barrier = Barrier(LocalKeyRingProvider(paths.master), load_index_key(paths.index))
    return VaultRuntime(
        engine=engine,
        sessions=make_session_factory(engine),
        barrier=barrier,
        signer=AuditSigner(
            load_audit_signing_key(paths.audit_signing), DEFAULT_CHECKPOINT_INTERVAL
        ),
        limits=Limits(),
        auth=AuthPolicy(),
    )


def _local_principal_id(runtime: VaultRuntime) -> int:
    with runtime.transaction() as session:
        principal = principals_repo.get_principal(session, LOCAL_PRINCIPAL)
        if principal is None:
            principal = Principal(
                name=LOCAL_PRINCIPAL, description="the embedded store", built_in=True
            )
            principals_repo.add(session, principal)
        return principal.id


def _ensure_trial_and_site(
    runtime: VaultRuntime,
    admin: Caller,
    trial: str,
    site: str,
    config: TrialConfig | None,
    where: tuple[Path, Path],
) -> tuple[int, int]:
    """The trial's and the site's ids, creating either on first use (``where``: the
    store file and its key folder, for messages)."""
    if config is not None and config.key != trial:
        raise ValueError(f"the trial configuration is for trial {config.key!r}, not {trial!r}")
    with runtime.transaction() as session:
        row = trials_repo.get_trial(session, trial)
        if row is None:
            row = trial_service.create_trial(
                session, runtime, admin, config or TrialConfig(key=trial)
            )
        elif config is not None:
            _refuse_other_settings(session, row, config, *where)
        site_row = trials_repo.get_site(session, row.id, site)
        if site_row is None:
            name = (config or trial_service.trial_config(row)).site_name(site)
            site_row = trial_service.add_site(session, runtime, admin, trial, site, name)
        return row.id, site_row.id


def _refuse_other_settings(
    session: Session, row: Trial, config: TrialConfig, store_path: Path, key_dir: Path
) -> None:
    """A trial configuration given for an existing trial must agree with its settings:
    it only ever sets up a new trial, and ignoring it silently would write other
    settings than the user asked for into every file."""
    sites = {s.site_key: s.name for s in trial_service.list_sites(session, row)}
    differences = config.differences(trial_service.trial_config(row), sites)
    if differences:
        raise TrialSettingsDifferError(
            f"trial {row.key} already exists in the store {store_path}, with other settings "
            f"than the trial configuration gives: {'; '.join(differences)}. A trial "
            "configuration sets up a trial the store does not know yet; it never changes "
            "one. To change the trial, run "
            f"VAULT_DATABASE_URL=sqlite:///{store_path.resolve()} "
            f"VAULT_KEY_DIR={key_dir.resolve()} deid-vault trial update {row.key} --config "
            "FILE (it applies the settings the file names; some cannot change once the "
            "trial holds data); or rerun without --trial-config to use the stored settings",
            differences,
        )


class EmbeddedStore:
    """A :class:`MappingStore` running the vault's services in this process."""

    def __init__(self, runtime: VaultRuntime, caller: Caller, trial: str, site: str) -> None:
        self._runtime = runtime
        self._caller = caller
        self._trial = trial
        self._site = site
        self._pid = os.getpid()
        self._info: TrialInfo | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"EmbeddedStore(trial={self._trial!r}, site={self._site!r})"

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError("the mapping store is closed")
        if os.getpid() != self._pid:
            # A forked child must not share the parent's SQLite connections.
            self._runtime.engine.dispose(close=False)
            self._pid = os.getpid()

    def trial_info(self) -> TrialInfo:
        """The trial and site this store is bound to."""
        self._check()
        if self._info is None:
            with self._runtime.transaction() as session:
                self._info = trial_service.site_trial_info(
                    session, self._caller, self._trial, self._site
                )
        return self._info

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient."""
        self._check()
        with self._runtime.transaction() as session:
            return mapping_service.enroll(
                session, self._runtime, self._caller, self._trial, self._site, patient_key
            )

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Canonical pseudonyms for a batch, in order (None: propose again)."""
        self._check()
        if not items:
            return []
        with self._runtime.transaction() as session:
            return mapping_service.get_or_create(
                session, self._runtime, self._caller, self._trial, self._site, items
            )

    def close(self) -> None:
        """Release the database connections."""
        if not self._closed:
            self._closed = True
            self._runtime.dispose()


def _key_dir(store_path: Path, key_dir: Path | None) -> Path:
    """Where the store's keys are: ``key_dir``, or ``keys/`` beside the store file."""
    return Path(key_dir) if key_dir is not None else Path(store_path).parent / "keys"


@contextmanager
def _opened(store_path: Path, key_dir: Path | None) -> Iterator[tuple[VaultRuntime, Caller]]:
    """The runtime and the local admin, holding the first-use lock while the block runs."""
    store_path = Path(store_path)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    key_dir = _key_dir(store_path, key_dir)
    with _exclusive(store_path.with_name(store_path.name + ".lock")):
        runtime = _runtime(store_path, key_dir)
        principal_id = _local_principal_id(runtime)
        yield runtime, Caller(principal_id, LOCAL_PRINCIPAL, (Binding(Role.ADMIN),), "local")


def open_embedded_store(
    store_path: Path,
    trial: str,
    site: str,
    trial_config: TrialConfig | None = None,
    key_dir: Path | None = None,
) -> MappingStore:
    """Open (creating on first use) the embedded vault at ``store_path`` for one trial and site.

    Keys live in ``key_dir`` (default: ``keys/`` beside the store file) and are
    generated on first use; the database is migrated on first use; the trial
    (from ``trial_config`` or defaults) and the site are created if missing.
    """
    with _opened(store_path, key_dir) as (runtime, admin):
        where = (Path(store_path), _key_dir(store_path, key_dir))
        trial_id, site_id = _ensure_trial_and_site(runtime, admin, trial, site, trial_config, where)
    uploader = Caller(
        admin.principal_id,
        LOCAL_PRINCIPAL,
        (Binding(Role.ADMIN), Binding(Role.SITE_UPLOADER, trial_id, site_id)),
        "local",
    )
    return EmbeddedStore(runtime, uploader, trial, site)


class EmbeddedVault:
    """The embedded vault opened for local administration, acting as its local admin.

    What ``deid demo`` shows of a vault, in this process: people and their roles,
    the re-identification flow as one of them, the audit trail and its
    verification. Each call is one transaction, as the API would run it.
    """

    def __init__(self, runtime: VaultRuntime, admin: Caller) -> None:
        self.runtime = runtime
        self.admin = admin

    def __repr__(self) -> str:
        return f"EmbeddedVault({self.runtime.engine.url!r})"

    def add_principal(self, name: str, description: str, roles: Sequence[str], trial: str) -> None:
        """Create a person with these roles (by name, e.g. ``approver``) in ``trial``."""
        with self.runtime.transaction() as session:
            principal_service.create_principal(
                session,
                self.runtime,
                self.admin,
                name,
                description,
                [RoleSpec(Role(role), trial) for role in roles],
            )

    def reidentification_client(self, name: str) -> EmbeddedReidentificationClient:
        """The re-identification flow as the principal called ``name``, with its roles now."""
        return EmbeddedReidentificationClient(self.runtime, principal_caller(self.runtime, name))

    def checkpoint(self) -> None:
        """Sign the audit chain's head now."""
        with self.runtime.transaction() as session:
            audit_service.checkpoint_now(session, self.runtime, self.admin)

    def audit_trail(self, auditor: str, trial: str, action_prefix: str) -> list[dict[str, Any]]:
        """The trial's audit records whose action starts with ``action_prefix``, as the
        auditor called ``auditor`` reads them (at most the first thousand)."""
        caller = principal_caller(self.runtime, auditor)
        with self.runtime.transaction() as session:
            scope = audit_service.audit_scope(session, caller, trial)
            return [
                audit_service.as_dict(r)
                for r in audit_service.list_records(session, caller, scope, limit=1000)
                if r.action.startswith(action_prefix)
            ]

    def verify_audit(self, auditor: str) -> VerificationReport:
        """Verify the hash chain and the signed checkpoints, as ``auditor``."""
        caller = principal_caller(self.runtime, auditor)
        with self.runtime.transaction() as session:
            return audit_service.verify(session, self.runtime, caller)

    def close(self) -> None:
        """Release the database connections."""
        self.runtime.dispose()


def open_embedded_vault(store_path: Path, key_dir: Path | None = None) -> EmbeddedVault:
    """The embedded vault at ``store_path``, for local administration.

    Keys and schema are created on first use, as for the store.
    """
    with _opened(store_path, key_dir) as (runtime, admin):
        return EmbeddedVault(runtime, admin)
