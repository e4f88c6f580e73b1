"""A principal as a caller: its roles as stored now, one way for the API, console and CLI."""

import pytest

from tests.vault import factories
from vault.authz import Binding, Caller
from vault.errors import NotFoundError
from vault.models import Principal, Role
from vault.runtime import VaultRuntime
from vault.services import principals as principal_service
from vault.services.callers import caller_for, caller_named
from vault.services.principals import RoleSpec


def test_a_caller_carries_the_principals_current_roles(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    site = factories.site_id(runtime, trial, "S02")
    who = factories.caller(
        runtime,
        Binding(Role.APPROVER, trial.id),
        Binding(Role.SITE_UPLOADER, trial.id, site),
        Binding(Role.AUDITOR),
    )
    admin = factories.admin(runtime)
    with runtime.transaction() as session:
        found = caller_for(session, who.principal_id, who.name, "10.0.0.7", token_id=12)
        assert found == Caller(who.principal_id, who.name, who.bindings, "10.0.0.7", 12)
        assert caller_named(session, who.name, "10.0.0.8").roles_in(trial.id) == {
            Role.APPROVER,
            Role.SITE_UPLOADER,
            Role.AUDITOR,
        }
        principal_service.revoke_role(
            session,
            runtime,
            admin,
            who.name,
            RoleSpec(Role.APPROVER, trial.key),
        )
        assert Role.APPROVER not in caller_named(session, who.name).roles_in(trial.id)


def test_unknown_and_built_in_principals_are_not_callers(runtime: VaultRuntime) -> None:
    name = factories.unique("local")
    with runtime.transaction() as session:
        session.add(Principal(name=name, built_in=True))
        session.flush()
        for missing in (name, factories.unique("nobody")):
            with pytest.raises(NotFoundError, match="not found"):
                caller_named(session, missing)
