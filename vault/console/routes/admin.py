"""Administration: trials and sites, principals, roles, passwords and API tokens.

Every page first asks :func:`vault.authz.require_admin`, the rule the services
apply to each of these actions; admins see no original and no audit record here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from deid.contract.trial_config import ReidentificationPolicy, TrialConfig
from vault.authz import require_admin
from vault.console import accounts, forms
from vault.console.web import FormPageDep, Page, PageDep
from vault.errors import InvalidInputError, VaultError
from vault.models import Role
from vault.services import principals as principal_service
from vault.services import trials as trial_service
from vault.services.principals import RoleSpec

router = APIRouter(prefix="/admin")
Short = Annotated[str, Form(max_length=256)]
Long = Annotated[str, Form(max_length=100_000)]
FIELDS = (
    "sponsor_name", "protocol_id", "protocol_name", "subject_id_template",
    "date_offset_min_days", "date_offset_max_days", "reidentification_policy",
    "bulk_reidentification_limit", "grant_ttl_hours",
)  # fmt: skip
"""The settings the forms name (the trial key aside: it is set once, when created)."""


def _settings(values: dict[str, str]) -> dict[str, Any]:
    """The settings form's fields as settings: empty (or disabled, so absent) ones left out."""
    settings: dict[str, Any] = {k: v for k, v in values.items() if k in FIELDS and v != ""}
    settings["sites"] = forms.site_lines(values.get("sites", ""))
    return settings


def _trial_config(values: dict[str, str]) -> TrialConfig:
    """A trial configuration from the form; pydantic's problems as one clear message."""
    data = _settings(values) | ({"key": values["key"]} if values.get("key") else {})
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'trial'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInputError(f"the trial cannot be created: {problems}") from None


@router.get("/trials")
def trials(page: PageDep) -> HTMLResponse:
    """Every trial with its policy."""
    require_admin(page.caller)
    return page.render(
        "admin_trials.html",
        title="Trials",
        trials=trial_service.list_trials(page.session, page.caller),
    )


def _new_trial_form(
    page: Page, values: dict[str, str], error: VaultError | None = None
) -> HTMLResponse:
    return page.render(
        "admin_trial_new.html",
        title="New trial",
        defaults=TrialConfig(key="NEW"),
        policies=[p.value for p in ReidentificationPolicy],
        values=values,
        error=error,
    )


@router.get("/trials/new")
def new_trial(page: PageDep) -> HTMLResponse:
    """The form for a new trial."""
    require_admin(page.caller)
    return _new_trial_form(page, {})


def _settings_form(
    sponsor_name: Short = "",
    protocol_id: Short = "",
    protocol_name: Short = "",
    subject_id_template: Short = "",
    date_offset_min_days: Short = "",
    date_offset_max_days: Short = "",
    reidentification_policy: Short = "",
    bulk_reidentification_limit: Short = "",
    grant_ttl_hours: Short = "",
    sites: Long = "",
) -> dict[str, str]:
    """The trial settings form as typed (a field left out of the form is empty)."""
    return dict(locals())


SettingsFormDep = Annotated[dict[str, str], Depends(_settings_form)]


@router.post("/trials/new")
def create_trial(page: FormPageDep, typed: SettingsFormDep, key: Short = "") -> Response:
    """Create a trial: its settings, its sites, its first data key and index salt."""
    values = {"key": key, **typed}
    result = page.attempt(
        lambda: trial_service.create_trial(
            page.session, page.runtime, page.caller, _trial_config(values)
        )
    )
    if isinstance(result, VaultError):
        return _new_trial_form(page, values, result)
    return page.redirect(f"/admin/trials/{result.key}", f"Trial {result.key} created.")


def _trial_page(
    page: Page, key: str, error: VaultError | None = None, values: dict[str, str] | None = None
) -> HTMLResponse:
    require_admin(page.caller)
    trial = trial_service.get_trial(page.session, page.caller, key)
    config = trial_service.trial_config(trial)
    sites = trial_service.list_sites(page.session, trial)
    if values is None:  # the settings form starts from the trial's settings as they are
        values = {k: str(v) for k, v in config.model_dump(mode="json").items() if k in FIELDS}
        values["sites"] = "\n".join(f"{s.site_key} {s.name}" for s in sites)
    return page.render(
        "admin_trial.html",
        title=f"Trial {trial.key}",
        trial=trial,
        config=config,
        sites=sites,
        values=values,
        fixed=trial_service.fixed_settings(page.session, trial),
        policies=[p.value for p in ReidentificationPolicy],
        error=error,
    )


@router.get("/trials/{key}")
def trial(page: PageDep, key: str) -> HTMLResponse:
    """One trial: settings, sites, and closing it."""
    return _trial_page(page, key)


@router.post("/trials/{key}/sites")
def add_site(page: FormPageDep, key: str, site_id: Short = "", name: Short = "") -> Response:
    """Add a site to the trial."""
    result = page.attempt(
        lambda: trial_service.add_site(page.session, page.runtime, page.caller, key, site_id, name)
    )
    if isinstance(result, VaultError):
        return _trial_page(page, key, result)
    return page.redirect(f"/admin/trials/{key}", f"Site {result.site_key} added.")


@router.post("/trials/{key}/settings")
def change_trial(page: FormPageDep, key: str, typed: SettingsFormDep) -> Response:
    """Change the trial's settings and site names, add sites (audited)."""
    result = page.attempt(
        lambda: trial_service.change_trial(
            page.session, page.runtime, page.caller, key, _settings(typed)
        )
    )
    if isinstance(result, VaultError):
        return _trial_page(page, key, result, typed)
    done = f"Trial {key} changed: {', '.join(result.summary())}." if result else "Nothing changed."
    return page.redirect(f"/admin/trials/{key}", done)


@router.post("/trials/{key}/close")
def close_trial(
    page: FormPageDep, key: str, confirm: Short = "", destroy_keys: Short = ""
) -> Response:
    """Close the trial; with ``destroy_keys`` crypto-shred it. ``confirm`` repeats the key."""

    def close() -> trial_service.ClosedTrial:
        if confirm != key:
            raise InvalidInputError("to close a trial, type its key into the confirmation field")
        return trial_service.close_trial(
            page.session, page.runtime, page.caller, key, destroy_keys=destroy_keys == "yes"
        )

    result = page.attempt(close)
    if isinstance(result, VaultError):
        return _trial_page(page, key, result)
    return page.redirect(f"/admin/trials/{key}", f"Trial {key} is {result.status}.")


def _principals_page(
    page: Page, values: dict[str, str] | None = None, error: VaultError | None = None
) -> HTMLResponse:
    listed = principal_service.list_principals(page.session, page.caller)
    return page.render(
        "admin_principals.html",
        title="Principals",
        principals=[(p, principal_service.roles_of(page.session, p)) for p in listed],
        role_names=[r.value for r in Role],
        trials=trial_service.list_trials(page.session, page.caller),
        values=values or {},
        error=error,
    )


@router.get("/principals")
def principals(page: PageDep) -> HTMLResponse:
    """Every principal with its roles, and the form for a new one."""
    return _principals_page(page)


def _role_spec(role: str, trial: str, site: str) -> RoleSpec:
    try:
        return RoleSpec(Role(role), trial or None, site or None)
    except ValueError:
        raise InvalidInputError(f"choose a role: {', '.join(r.value for r in Role)}") from None


@router.post("/principals")
def create_principal(
    page: FormPageDep,
    name: Short = "",
    description: Short = "",
    role: Short = "",
    trial: Short = "",
    site: Short = "",
) -> Response:
    """Create a principal, with a first role if one is chosen."""
    result = page.attempt(
        lambda: principal_service.create_principal(
            page.session,
            page.runtime,
            page.caller,
            name,
            description,
            [_role_spec(role, trial, site)] if role else [],
        )
    )
    if isinstance(result, VaultError):
        values = {"name": name, "description": description, "role": role, "trial": trial}
        return _principals_page(page, values | {"site": site}, result)
    return page.redirect(f"/admin/principals/{result.name}", f"Principal {result.name} created.")


def _principal_page(
    page: Page, name: str, *, error: VaultError | None = None, status: int = 200
) -> HTMLResponse:
    principal = principal_service.get_principal(page.session, page.caller, name)
    return page.render(
        "admin_principal.html",
        status=status,
        title=f"Principal {principal.name}",
        principal=principal,
        roles=principal_service.roles_of(page.session, principal),
        tokens=principal_service.list_tokens(page.session, page.caller, name),
        role_names=[r.value for r in Role],
        trials=trial_service.list_trials(page.session, page.caller),
        values={},
        error=error,
    )


@router.get("/principals/{name}")
def principal(page: PageDep, name: str) -> HTMLResponse:
    """One principal: roles, password, API tokens."""
    return _principal_page(page, name)


def _principal_action(page: Page, name: str, action: Any, done: str) -> Response:
    result = page.attempt(action)
    if isinstance(result, VaultError):
        return _principal_page(page, name, error=result)
    return page.redirect(f"/admin/principals/{name}", done)


@dataclass(frozen=True)
class RoleFields:
    """A role as the form names it."""

    role: str
    trial: str
    site: str

    def spec(self) -> RoleSpec:
        """The role for the services (an unknown role name is refused)."""
        return _role_spec(self.role, self.trial, self.site)


def _role_fields(role: Short = "", trial: Short = "", site: Short = "") -> RoleFields:
    return RoleFields(role, trial, site)


RoleFieldsDep = Annotated[RoleFields, Depends(_role_fields)]


@router.post("/principals/{name}/roles")
def grant_role(page: FormPageDep, name: str, fields: RoleFieldsDep) -> Response:
    """Give the principal one more role."""
    return _principal_action(
        page,
        name,
        lambda: principal_service.grant_role(
            page.session, page.runtime, page.caller, name, fields.spec()
        ),
        f"Role {fields.role} granted to {name}.",
    )


@router.post("/principals/{name}/roles/revoke")
def revoke_role(page: FormPageDep, name: str, fields: RoleFieldsDep) -> Response:
    """Take a role away from the principal."""
    return _principal_action(
        page,
        name,
        lambda: principal_service.revoke_role(
            page.session, page.runtime, page.caller, name, fields.spec()
        ),
        f"Role {fields.role} revoked from {name}.",
    )


@router.post("/principals/{name}/password")
def set_password(
    page: FormPageDep, name: str, password: Short = "", confirm: Short = ""
) -> Response:
    """Set the principal's console password; its console sessions end."""

    def change() -> int:
        if password != confirm:
            raise InvalidInputError("the password and its repetition differ")
        return accounts.set_password(page.session, page.runtime, page.caller, name, password)

    return _principal_action(page, name, change, f"Password of {name} set.")


@router.post("/principals/{name}/tokens")
def create_token(
    page: FormPageDep, name: str, label: Short = "", expires_in_days: Short = "90"
) -> Response:
    """Issue an API token; it is on this page once, and stored only as a digest."""
    result = page.attempt(
        lambda: principal_service.create_token(
            page.session,
            page.runtime,
            page.caller,
            name,
            label,
            forms.optional_int(expires_in_days, "expires in days"),
        )
    )
    if isinstance(result, VaultError):
        return _principal_page(page, name, error=result)
    return page.render(
        "admin_token_issued.html", title=f"New token for {name}", name=name, issued=result
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(page: FormPageDep, token_id: int) -> Response:
    """Revoke an API token at once."""
    token = principal_service.revoke_token(page.session, page.runtime, page.caller, token_id)
    owner = principal_service.token_owner(page.session, token)
    target = f"/admin/principals/{owner}" if owner else "/admin/principals"
    return page.redirect(target, f"Token {token_id} revoked.")
