"""``init`` (a new vault: keys, schema, first admin) and ``db`` (the schema)."""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine

from vault.authz import cli_caller
from vault.cli import context
from vault.cli.errors import EXIT_CHECK_FAILED, EXIT_OK, CliError
from vault.config import Settings
from vault.console import accounts, passwords
from vault.crypto import KeyPaths, generate_keys
from vault.db import (
    DatabaseNotMigratedError,
    current_revision,
    head_revision,
    make_session_factory,
    require_migrated,
    upgrade,
)
from vault.models import Role
from vault.runtime import VaultRuntime
from vault.services import principals as principal_service
from vault.services import trials as trial_service
from vault.services.principals import IssuedToken, RoleSpec

# No l, o, 0 or 1: the password is read off a screen and typed once.
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet


def new_console_password(name: str) -> str:
    """A random console password (about 120 bits) in groups of four, free of ``name``."""
    while True:
        groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(6))
        password = "-".join(groups)
        if name.casefold() not in password:
            return password


def _key_dir(args: argparse.Namespace) -> Path:
    key_dir = args.key_dir or os.environ.get("VAULT_KEY_DIR")
    if not key_dir:
        raise CliError("name the directory for the keys with --key-dir (or set VAULT_KEY_DIR)")
    return Path(key_dir).resolve()


def _refuse_existing_vault(engine: Engine) -> None:
    """Refuse, before changing anything, a database that holds a vault already."""
    revision = current_revision(engine)
    if revision is None:
        return  # empty: init creates the schema
    if revision != head_revision():
        raise CliError(
            f"this database holds a vault schema (revision {revision}); 'init' sets up a new "
            "vault only. If it is empty, run 'deid-vault db upgrade' first"
        )
    sessions = make_session_factory(engine)
    caller = cli_caller()
    with sessions() as session:
        if principal_service.list_principals(session, caller) or trial_service.list_trials(
            session, caller
        ):
            raise CliError(
                "this database already holds a vault (principals or trials); 'init' sets up a "
                "new one only. Add an admin with 'deid-vault principal create NAME --role admin'"
            )


def _create_first_admin(
    runtime: VaultRuntime, args: argparse.Namespace, password: str
) -> IssuedToken:
    with runtime.transaction() as session:
        principal_service.create_principal(
            session, runtime, None, args.admin, "first administrator", [RoleSpec(Role.ADMIN)]
        )
        issued = principal_service.create_token(
            session, runtime, None, args.admin, "created by init", args.expires_in_days
        )
        accounts.set_password(session, runtime, None, args.admin, password)
    return issued


def _set_up(
    settings: Settings, paths: KeyPaths, args: argparse.Namespace, password: str
) -> IssuedToken:
    engine = context.open_engine(settings.database_url)
    try:
        _refuse_existing_vault(engine)
        upgrade(engine)
        generate_keys(paths)
        runtime = VaultRuntime.from_settings(settings, engine=engine)
        return _create_first_admin(runtime, args, password)
    finally:
        engine.dispose()


def init(args: argparse.Namespace, out: TextIO) -> int:
    """Write the keys, migrate the database, create the first admin (token and password)."""
    key_dir = _key_dir(args)
    paths = KeyPaths.in_directory(key_dir)
    existing = paths.existing()
    if existing:
        raise CliError(
            f"refusing to overwrite existing key file(s): {', '.join(str(p) for p in existing)}; "
            "'init' sets up a new vault with new keys"
        )
    url = context.database_url(args)
    password = (
        context.read_password(args.admin, from_stdin=True)
        if args.password_stdin
        else new_console_password(args.admin)
    )
    passwords.check_policy(password, args.admin)
    # The new keys, whatever VAULT_*_KEY_FILE may name in this environment.
    settings = context.load_settings(
        database_url=url,
        key_dir=key_dir,
        master_key_file=None,
        index_key_file=None,
        audit_signing_key_file=None,
    )
    created_dir = not key_dir.exists()
    had_public_key = paths.audit_public.exists()
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        issued = _set_up(settings, paths, args, password)
    except BaseException:
        # No trial is sealed with the new keys yet: leave none behind, so init can run again.
        for path in paths.existing():
            path.unlink()
        if not had_public_key:
            paths.audit_public.unlink(missing_ok=True)
        if created_dir and key_dir.is_dir() and not any(key_dir.iterdir()):
            key_dir.rmdir()
        raise
    print(
        f"Keys written to {key_dir} (mode 0600). Back them up now, apart from the database:",
        file=out,
    )
    print("  without the master key ring every mapping is lost for good.", file=out)
    print(f"Admin principal {args.admin!r} created. Its API token, shown only this once:", file=out)
    print(f"\n  {issued.token}\n", file=out)
    if args.password_stdin:
        print("Its console password is the one given on standard input.", file=out)
    else:
        print(
            "Its console password, shown only this once (change it on the console's Account page):",
            file=out,
        )
        print(f"\n  {password}\n", file=out)
    print("Run the vault with:", file=out)
    print(f"  export VAULT_DATABASE_URL='{url}'", file=out)
    print(f"  export VAULT_KEY_DIR='{key_dir}'", file=out)
    print("  deid-vault serve", file=out)
    return EXIT_OK


def db_upgrade(args: argparse.Namespace, out: TextIO) -> int:
    """Apply pending migrations."""
    with context.database() as engine:
        upgrade(engine)
    print("the vault database is at the newest schema", file=out)
    return EXIT_OK


def db_check(args: argparse.Namespace, out: TextIO) -> int:
    """Say whether the schema is the newest; exit status 1 when it is not."""
    with context.database() as engine:
        try:
            require_migrated(engine)
        except DatabaseNotMigratedError as exc:
            print(str(exc), file=out)
            return EXIT_CHECK_FAILED
    print("the vault database is at the newest schema", file=out)
    return EXIT_OK
