"""Small factories for vault tests: principals with roles, trials, callers."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from deid.contract.trial_config import TrialConfig
from vault.authz import Binding, Caller
from vault.models import Principal, Role, RoleBinding, Site, Trial
from vault.runtime import VaultRuntime
from vault.services import trials as trial_service


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


def caller(runtime: VaultRuntime, *bindings: Binding, name: str | None = None) -> Caller:
    """A principal stored with ``bindings``, as a caller."""
    with runtime.transaction() as session:
        principal = Principal(name=name or unique("p"))
        session.add(principal)
        session.flush()
        for b in bindings:
            session.add(
                RoleBinding(
                    principal_id=principal.id, role=b.role, trial_id=b.trial_id, site_id=b.site_id
                )
            )
        return Caller(principal.id, principal.name, tuple(bindings), "127.0.0.1")


def admin(runtime: VaultRuntime) -> Caller:
    """A new admin principal."""
    return caller(runtime, Binding(Role.ADMIN))


def trial(
    runtime: VaultRuntime, sites: tuple[str, ...] = ("S01", "S02"), **config: object
) -> Trial:
    """A new open trial with ``sites``."""
    cfg = TrialConfig.model_validate(
        {"key": unique("T"), "sites": {s: f"Site {s}" for s in sites}, **config}
    )
    with runtime.transaction() as session:
        return trial_service.create_trial(session, runtime, admin(runtime), cfg)


def site_id(runtime: VaultRuntime, trial_row: Trial, site_key: str) -> int:
    """The primary key of a trial's site."""
    with runtime.transaction() as session:
        return session.scalars(
            select(Site.id).where(Site.trial_id == trial_row.id, Site.site_key == site_key)
        ).one()


def uploader(runtime: VaultRuntime, trial_row: Trial, site_key: str = "S01") -> Caller:
    """A site uploader of ``trial_row``'s site."""
    return caller(
        runtime, Binding(Role.SITE_UPLOADER, trial_row.id, site_id(runtime, trial_row, site_key))
    )
