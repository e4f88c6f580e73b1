"""``principal`` and ``token``: who may use the vault, with which roles and credentials."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TextIO

from sqlalchemy.orm import Session

from vault.authz import cli_caller
from vault.cli import context
from vault.cli.errors import EXIT_OK, CliError
from vault.cli.output import moment, show
from vault.console import accounts
from vault.models import ApiToken, Principal, Role, utcnow
from vault.services import principals as principal_service
from vault.services.principals import RoleSpec, RoleView

ROLE_SYNTAX = "ROLE[:TRIAL[:SITE]]"


def role_spec(text: str) -> RoleSpec:
    """``ROLE[:TRIAL[:SITE]]`` as a :class:`RoleSpec`."""
    parts = text.split(":")
    try:
        role = Role(parts[0])
    except ValueError:
        raise CliError(
            f"unknown role {parts[0]!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    if len(parts) > 3:
        raise CliError(f"a role is {ROLE_SYNTAX}, not {text!r}")
    return RoleSpec(
        role, parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None
    )


def role_text(view: RoleView) -> str:
    """A role as ``ROLE[:TRIAL[:SITE]]``, the way ``--role`` takes it."""
    return ":".join(part for part in (view.role, view.trial, view.site) if part)


def token_status(token: ApiToken) -> str:
    """usable, expired or revoked."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    return "usable"


def create(args: argparse.Namespace, out: TextIO) -> int:
    """Create a principal with roles."""
    roles = [role_spec(r) for r in args.role]
    with context.vault() as runtime, runtime.transaction() as session:
        principal_service.create_principal(
            session, runtime, cli_caller(), args.name, args.description, roles
        )
    print(f"principal {args.name} created with roles: {', '.join(args.role) or 'none'}", file=out)
    return EXIT_OK


def _principal_row(session: Session, principal: Principal) -> dict[str, object]:
    tokens = principal_service.list_tokens(session, cli_caller(), principal.name)
    return {
        "name": principal.name,
        "roles": [role_text(r) for r in principal_service.roles_of(session, principal)],
        "usable_tokens": sum(token_status(t) == "usable" for t in tokens),
        "status": "disabled" if principal.disabled_at is not None else "active",
        "created_at": moment(principal.created_at),
        "description": principal.description,
    }


def list_principals(args: argparse.Namespace, out: TextIO) -> int:
    """Every principal with its roles."""
    with context.vault() as runtime, runtime.transaction() as session:
        rows = [
            _principal_row(session, p)
            for p in principal_service.list_principals(session, cli_caller())
        ]
    columns = [
        ("name", "NAME"),
        ("roles", "ROLES"),
        ("usable_tokens", "TOKENS"),
        ("status", "STATUS"),
        ("description", "DESCRIPTION"),
    ]
    show(rows, columns, out, as_json=args.json, empty="no principals yet")
    return EXIT_OK


def _roles_now(session: Session, name: str) -> str:
    principal = principal_service.get_principal(session, cli_caller(), name)
    views = principal_service.roles_of(session, principal)
    return ", ".join(role_text(v) for v in views) or "none"


def _change_roles(args: argparse.Namespace, out: TextIO, *, grant: bool) -> int:
    specs: Sequence[RoleSpec] = [role_spec(r) for r in args.role]
    caller = cli_caller()
    with context.vault() as runtime, runtime.transaction() as session:
        for spec in specs:
            if grant:
                principal_service.grant_role(session, runtime, caller, args.name, spec)
            else:
                principal_service.revoke_role(session, runtime, caller, args.name, spec)
        now = _roles_now(session, args.name)
    print(f"principal {args.name} holds: {now}", file=out)
    return EXIT_OK


def grant(args: argparse.Namespace, out: TextIO) -> int:
    """Give a principal more roles (all of them, or none on a refusal)."""
    return _change_roles(args, out, grant=True)


def revoke(args: argparse.Namespace, out: TextIO) -> int:
    """Take roles away from a principal (all of them, or none on a refusal)."""
    return _change_roles(args, out, grant=False)


def set_password(args: argparse.Namespace, out: TextIO) -> int:
    """Set a principal's web-console password (scrypt-hashed; its console sessions end)."""
    password = context.read_password(args.name, args.password_stdin)
    with context.vault() as runtime, runtime.transaction() as session:
        ended = accounts.set_password(session, runtime, cli_caller(), args.name, password)
    print(f"console password of {args.name} set; {ended} console sessions ended", file=out)
    return EXIT_OK


def token_create(args: argparse.Namespace, out: TextIO) -> int:
    """Issue a token; the token itself is the last line printed."""
    days = None if args.no_expiry else args.expires_in_days
    with context.vault() as runtime, runtime.transaction() as session:
        issued = principal_service.create_token(
            session, runtime, cli_caller(), args.principal, args.label, days
        )
    expiry = issued.row.expires_at.isoformat() if issued.row.expires_at else "never"
    print(f"token {issued.row.id} for {args.principal} (expires {expiry}):", file=out)
    print(issued.token, file=out)
    return EXIT_OK


def _token_row(token: ApiToken, principal: str) -> dict[str, object]:
    return {
        "id": token.id,
        "principal": principal,
        "prefix": token.display_prefix,
        "label": token.label,
        "status": token_status(token),
        "created_at": moment(token.created_at),
        "expires_at": moment(token.expires_at),
        "last_used_at": moment(token.last_used_at),
        "revoked_at": moment(token.revoked_at),
    }


def token_list(args: argparse.Namespace, out: TextIO) -> int:
    """Tokens (never the tokens themselves): usable ones, or with ``--all`` every one."""
    caller = cli_caller()
    with context.vault() as runtime, runtime.transaction() as session:
        names = (
            [args.principal]
            if args.principal
            else [p.name for p in principal_service.list_principals(session, caller)]
        )
        tokens = [
            (token, name)
            for name in names
            for token in principal_service.list_tokens(session, caller, name)
        ]
    tokens.sort(key=lambda pair: pair[0].id)
    rows = [_token_row(token, name) for token, name in tokens]
    if not args.all:
        rows = [row for row in rows if row["status"] == "usable"]
    columns = [
        ("id", "ID"),
        ("principal", "PRINCIPAL"),
        ("prefix", "STARTS WITH"),
        ("label", "LABEL"),
        ("status", "STATUS"),
        ("expires_at", "EXPIRES"),
        ("last_used_at", "LAST USED"),
    ]
    empty = "no tokens" if args.all else "no usable tokens (--all shows revoked and expired ones)"
    show(rows, columns, out, as_json=args.json, empty=empty)
    return EXIT_OK


def token_revoke(args: argparse.Namespace, out: TextIO) -> int:
    """Revoke a token by its id."""
    with context.vault() as runtime, runtime.transaction() as session:
        principal_service.revoke_token(session, runtime, cli_caller(), args.token_id)
    print(f"token {args.token_id} revoked", file=out)
    return EXIT_OK
