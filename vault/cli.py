"""``deid-vault``: set up, serve and operate the vault.

Every command reads its settings from ``VAULT_*`` environment variables (see
``vault/config.py``); ``init`` writes the keys and prints the variables to set.
Commands that change the vault act as the command-line operator and are audited.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from tqdm import tqdm

from vault import __version__
from vault.audit import verify_chain
from vault.authz import cli_caller
from vault.config import DatabaseSettings, Settings
from vault.console import accounts
from vault.crypto import (
    KeyFileError,
    KeyPaths,
    add_master_key_version,
    generate_keys,
    load_audit_public_key,
)
from vault.db import (
    DatabaseNotMigratedError,
    create_vault_engine,
    make_session_factory,
    require_migrated,
    upgrade,
)
from vault.errors import VaultError
from vault.models import AuditRecord, Role
from vault.repositories.audit import AuditFilter
from vault.runtime import VaultRuntime
from vault.services import audit as audit_service
from vault.services import keys as key_service
from vault.services import principals as principal_service
from vault.services import trials as trial_service
from vault.services.principals import RoleSpec
from vault.transfer.keys import (
    create_transfer_key,
    load_transfer_private_key,
    load_transfer_public_key,
)
from vault.transfer.operations import export_bundle, import_bundle
from vault.trial_config import TrialConfig, TrialConfigError, load_trial_config

DEFAULT_PORT = 8200


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"VAULT_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in exc.errors()
        )
        raise CliError(f"the vault's settings are incomplete: {problems}") from None


def _database_url() -> str:
    try:
        return DatabaseSettings().database_url
    except ValidationError:
        raise CliError("set VAULT_DATABASE_URL to the vault's database") from None


def _runtime(*, migrated: bool = True, args: argparse.Namespace | None = None) -> VaultRuntime:
    """The vault named by the environment, or by ``--database-url``/``--key-dir`` in ``args``."""
    overrides: dict[str, object] = {}
    if args is not None and args.database_url:
        overrides["database_url"] = args.database_url
    if args is not None and args.key_dir:
        overrides["key_dir"] = Path(args.key_dir)
    runtime = VaultRuntime.from_settings(_settings(**overrides))
    if migrated:
        require_migrated(runtime.engine)
    return runtime


def _print_json(data: object, out: TextIO) -> None:
    print(json.dumps(data, indent=2, default=str), file=out)


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    """Generate the keys, migrate the database, create the first admin and its token."""
    key_dir = Path(args.key_dir).resolve()
    paths = KeyPaths.in_directory(key_dir)
    url = args.database_url or _database_url()
    generate_keys(paths)
    os.environ.setdefault("VAULT_DATABASE_URL", url)
    engine = create_vault_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, key_dir=key_dir)
    runtime = VaultRuntime.from_settings(settings, engine=engine)
    with runtime.transaction() as session:
        principal_service.create_principal(
            session, runtime, None, args.admin, "first administrator", [RoleSpec(Role.ADMIN)]
        )
        issued = principal_service.create_token(
            session, runtime, None, args.admin, "created by init", args.expires_in_days
        )
    runtime.dispose()
    print(
        f"Keys written to {key_dir} (mode 0600). Back them up now, apart from the database:",
        file=out,
    )
    print("  without the master key ring every mapping is lost for good.", file=out)
    print(f"Admin principal {args.admin!r} created. Its token, shown only this once:", file=out)
    print(f"\n  {issued.token}\n", file=out)
    print("Run the vault with:", file=out)
    print(f"  export VAULT_DATABASE_URL='{url}'", file=out)
    print(f"  export VAULT_KEY_DIR='{key_dir}'", file=out)
    print("  deid-vault serve", file=out)
    return 0


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Check keys and schema, then run uvicorn."""
    import uvicorn

    runtime = VaultRuntime.from_settings(_settings())  # fails early on bad keys
    if args.migrate:
        upgrade(runtime.engine)
    require_migrated(runtime.engine)
    runtime.dispose()
    print(f"deid-vault {__version__} serving on http://{args.host}:{args.port}", file=out)
    uvicorn.run(
        "vault.api.app:create_app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=bool(args.forwarded_allow_ips),
        forwarded_allow_ips=args.forwarded_allow_ips or None,
        log_level=args.log_level,
        access_log=args.access_log,
    )
    return 0


def cmd_db(args: argparse.Namespace, out: TextIO) -> int:
    """Migrate the database, or say where it stands."""
    engine = create_vault_engine(_database_url())
    try:
        if args.db_command == "upgrade":
            upgrade(engine)
            print("the vault database is at the newest schema", file=out)
            return 0
        try:
            require_migrated(engine)
        except DatabaseNotMigratedError as exc:
            print(str(exc), file=out)
            return 1
        print("the vault database is at the newest schema", file=out)
        return 0
    finally:
        engine.dispose()


def _role_spec(text: str) -> RoleSpec:
    parts = text.split(":")
    try:
        role = Role(parts[0])
    except ValueError:
        raise CliError(
            f"unknown role {parts[0]!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    if len(parts) > 3:
        raise CliError(f"a role is ROLE[:TRIAL[:SITE]], not {text!r}")
    return RoleSpec(
        role, parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None
    )


def cmd_principal(args: argparse.Namespace, out: TextIO) -> int:
    """Create a principal with roles."""
    runtime = _runtime()
    with runtime.transaction() as session:
        principal_service.create_principal(
            session,
            runtime,
            cli_caller(),
            args.name,
            args.description,
            [_role_spec(r) for r in args.role],
        )
    print(f"principal {args.name} created with roles: {', '.join(args.role) or 'none'}", file=out)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password; pipe it in with --password-stdin")
    first = getpass.getpass(f"New console password for {args.name}: ")
    if getpass.getpass("The same password again: ") != first:
        raise CliError("the two passwords differ; nothing changed")
    return first


def cmd_set_password(args: argparse.Namespace, out: TextIO) -> int:
    """Set a principal's web-console password (scrypt-hashed; its console sessions end)."""
    password = _read_password(args)
    runtime = _runtime()
    with runtime.transaction() as session:
        ended = accounts.set_password(session, runtime, cli_caller(), args.name, password)
    print(f"console password of {args.name} set; {ended} console sessions ended", file=out)
    return 0


def cmd_token(args: argparse.Namespace, out: TextIO) -> int:
    """Issue or revoke a token."""
    runtime = _runtime()
    with runtime.transaction() as session:
        if args.token_command == "create":  # noqa: S105 - a subcommand name
            days = None if args.no_expiry else args.expires_in_days
            issued = principal_service.create_token(
                session, runtime, cli_caller(), args.principal, args.label, days
            )
            expiry = issued.row.expires_at.isoformat() if issued.row.expires_at else "never"
            print(f"token {issued.row.id} for {args.principal} (expires {expiry}):", file=out)
            print(issued.token, file=out)
        else:
            principal_service.revoke_token(session, runtime, cli_caller(), args.token_id)
            print(f"token {args.token_id} revoked", file=out)
    return 0


def _confirm(question: str, assume_yes: bool, stdin: TextIO) -> bool:
    if assume_yes:
        return True
    if not stdin.isatty():
        raise CliError(f"{question} Not confirmed: no terminal to ask; pass --yes")
    print(f"{question} [y/N] ", end="", flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def cmd_trial(args: argparse.Namespace, out: TextIO) -> int:
    """Create or close a trial."""
    runtime = _runtime()
    caller = cli_caller()
    if args.trial_command == "create":
        try:
            config = (
                load_trial_config(Path(args.config), args.key)
                if args.config
                else TrialConfig(key=args.key)
            )
        except (TrialConfigError, ValidationError) as exc:
            raise CliError(str(exc)) from None
        with runtime.transaction() as session:
            trial_service.create_trial(session, runtime, caller, config)
        print(f"trial {args.key} created with sites: {', '.join(config.sites) or 'none'}", file=out)
        return 0
    what = (
        f"close trial {args.key} and DESTROY its keys: its originals become unrecoverable"
        if args.destroy_keys
        else f"close trial {args.key}: it will take no new mappings"
    )
    if not _confirm(f"About to {what}. Continue?", args.yes, sys.stdin):
        print("nothing changed", file=out)
        return 1
    with runtime.transaction() as session:
        closed = trial_service.close_trial(
            session, runtime, caller, args.key, destroy_keys=args.destroy_keys
        )
    print(f"trial {closed.trial} is {closed.status}", file=out)
    return 0


def cmd_trial_update(args: argparse.Namespace, out: TextIO) -> int:
    """Change a trial's settings, rename and add sites (audited); what is not named stays."""
    changes: dict[str, object] = {}
    if args.config:
        try:
            config = load_trial_config(Path(args.config), args.key)
        except TrialConfigError as exc:
            raise CliError(str(exc)) from None
        changes = config.model_dump(mode="json", include=config.model_fields_set - {"key"})
    named_sites = changes.pop("sites", None)
    sites: dict[str, object] = dict(named_sites) if isinstance(named_sites, dict) else {}
    for option, item in [("--set", i) for i in args.set] + [("--site", i) for i in args.site]:
        name, equals, value = item.partition("=")
        if not name or not equals:
            raise CliError(f"{option} takes NAME=VALUE, not {item!r}")
        (sites if option == "--site" else changes)[name] = value
    if sites:
        changes["sites"] = sites
    if not changes:
        raise CliError("name what to change: --set NAME=VALUE, --site ID=NAME or --config FILE")
    runtime = _runtime()
    with runtime.transaction() as session:
        change = trial_service.change_trial(session, runtime, cli_caller(), args.key, changes)
    done = ", ".join(change.summary()) or "nothing changed"
    print(f"trial {args.key}: {done}", file=out)
    return 0


def cmd_keys(args: argparse.Namespace, out: TextIO) -> int:
    """Rotate the master key (and rewrap), rotate a data key, or re-encrypt a trial."""
    settings = _settings()
    caller = cli_caller()
    if args.keys_command == "rotate" and not args.trial:
        version = add_master_key_version(
            settings.key_paths.master, development=settings.development
        )
        print(f"master key version {version} added to {settings.key_paths.master}", file=out)
    runtime = _runtime()
    if args.keys_command == "rotate":
        with runtime.transaction() as session:
            if args.trial:
                version = key_service.rotate_data_key(session, runtime, caller, args.trial)
                print(
                    f"trial {args.trial} now seals with data key version {version}; "
                    f"run 'deid-vault keys reencrypt --trial {args.trial}' to move old rows",
                    file=out,
                )
            else:
                count = key_service.rewrap_data_keys(session, runtime, caller)
                print(f"{count} data keys rewrapped under the new master key", file=out)
        return 0
    with runtime.transaction() as session:
        progress = key_service.reencrypt_batch(session, runtime, caller, args.trial, 1)
    total = progress.remaining + progress.reencrypted
    with tqdm(total=total, initial=progress.reencrypted, unit="row", disable=args.quiet) as bar:
        remaining = progress.remaining
        while remaining:
            with runtime.transaction() as session:
                progress = key_service.reencrypt_batch(
                    session, runtime, caller, args.trial, args.batch_size
                )
            bar.update(progress.reencrypted)
            remaining = progress.remaining
    print(
        f"trial {args.trial}: every row is sealed with data key version {progress.key_version}",
        file=out,
    )
    return 0


def _public_key_path(args: argparse.Namespace) -> Path:
    if args.public_key:
        return Path(args.public_key)
    key_dir = os.environ.get("VAULT_KEY_DIR")
    signing = os.environ.get("VAULT_AUDIT_SIGNING_KEY_FILE")
    if signing:
        return KeyPaths(Path(), Path(), Path(signing)).audit_public
    if key_dir:
        return KeyPaths.in_directory(Path(key_dir)).audit_public
    raise CliError("name the audit public key with --public-key (or set VAULT_KEY_DIR)")


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """Verify or export the audit log (needs only the database and the public key)."""
    engine = create_vault_engine(_database_url())
    try:
        require_migrated(engine)
        sessions = make_session_factory(engine, read_only=True)
        if args.audit_command == "verify":
            public_key = load_audit_public_key(_public_key_path(args))
            with sessions() as session:
                report = verify_chain(session, public_key)
                if report.ok:
                    print(
                        f"audit chain OK: {report.records_checked} records, "
                        f"{report.checkpoints_checked} signed checkpoints verified",
                        file=out,
                    )
                    return 0
                print(
                    f"AUDIT CHAIN BROKEN at record {report.first_bad_seq}: {report.problem}",
                    file=out,
                )
                for problem in report.checkpoint_problems:
                    print(f"  {problem}", file=out)
                bad = session.scalars(
                    select(AuditRecord).where(AuditRecord.seq == report.first_bad_seq)
                ).one_or_none()
                if bad is not None:
                    print("the first bad record as stored:", file=out)
                    _print_json(audit_service.as_dict(bad), out)
                return 1
        f = AuditFilter(trial=args.trial, action=args.action, outcome=args.outcome)
        with sessions() as session:
            lines = audit_service.export_lines(session, f, args.format)
            if args.output:
                with Path(args.output).open("w", encoding="utf-8", newline="") as target:
                    target.writelines(lines)
            else:
                out.writelines(lines)
        return 0
    finally:
        engine.dispose()


def cmd_transfer_key(args: argparse.Namespace, out: TextIO) -> int:
    """Create the key pair a receiving vault is sent trial bundles with."""
    pair = create_transfer_key(Path(args.out))
    print(f"transfer key {pair.key_id} created:", file=out)
    print(f"  {pair.private_key}  (mode 0600: keep it with this vault's keys)", file=out)
    print(f"  {pair.public_key}  (give this one to whoever exports the trial)", file=out)
    return 0


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Seal a whole trial into a bundle for another vault."""
    recipient = load_transfer_public_key(Path(args.recipient))
    runtime = _runtime(args=args)
    try:
        exported = export_bundle(runtime, cli_caller(), args.trial, recipient, Path(args.out))
    except FileExistsError as exc:
        raise CliError(str(exc)) from None
    finally:
        runtime.dispose()
    counts = exported.counts
    print(
        f"trial {exported.trial} exported to {args.out}: {counts.sites} sites, "
        f"{counts.subjects} subjects, {counts.mappings} mappings",
        file=out,
    )
    print(f"  sealed to transfer key {exported.recipient_key_id}", file=out)
    print(
        f"  bundle SHA-256 {exported.bundle_sha256} (recorded in this vault's audit log)", file=out
    )
    return 0


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    """Re-create a trial from a bundle under this vault's keys."""
    private_key = load_transfer_private_key(Path(args.key))
    bundle = Path(args.bundle)
    if not bundle.is_file():
        raise CliError(f"bundle {bundle} does not exist or is not a file")
    runtime = _runtime(args=args)
    try:
        imported = import_bundle(runtime, cli_caller(), bundle, private_key)
    finally:
        runtime.dispose()
    counts = imported.counts
    print(
        f"trial {imported.trial} imported: {counts.sites} sites, {counts.subjects} subjects, "
        f"{counts.mappings} mappings, re-encrypted under this vault's keys",
        file=out,
    )
    print(
        f"  bundle SHA-256 {imported.bundle_sha256} (recorded in this vault's audit log)", file=out
    )
    print(
        "  next: give each site an uploader principal and token "
        f"('deid-vault principal create NAME --role site_uploader:{imported.trial}:SITE')",
        file=out,
    )
    return 0


def _add_vault_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="default: VAULT_DATABASE_URL (an embedded store: sqlite:///OUTPUT-vault/vault.sqlite)",
    )
    parser.add_argument(
        "--key-dir", help="default: VAULT_KEY_DIR (an embedded store: OUTPUT-vault/keys)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="deid-vault",
        description="The deid vault: encrypted pseudonym mappings, roles, audited "
        "re-identification. Settings come from VAULT_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"deid-vault {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="generate keys, migrate, create the first admin")
    init.add_argument("--key-dir", required=True, help="directory for the three key files")
    init.add_argument("--admin", default="admin", help="name of the first admin principal")
    init.add_argument("--database-url", help="default: VAULT_DATABASE_URL")
    init.add_argument("--expires-in-days", type=int, default=30, help="admin token lifetime")
    init.set_defaults(handler=cmd_init)

    serve = commands.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--migrate", action="store_true", help="run pending migrations first")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="",
        help="proxies trusted for X-Forwarded-For (the client address for rate limits and audit)",
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action="store_true", help="log each request line")
    serve.set_defaults(handler=cmd_serve)

    db = commands.add_parser("db", help="the database schema")
    db.add_argument("db_command", choices=["upgrade", "check"])
    db.set_defaults(handler=cmd_db)

    principal = commands.add_parser("principal", help="create principals")
    principal_commands = principal.add_subparsers(dest="principal_command", required=True)
    create = principal_commands.add_parser("create", help="create a principal")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE[:TRIAL[:SITE]]",
        help="e.g. site_uploader:TRIAL1:S01, approver:TRIAL1, auditor, admin (repeatable)",
    )
    principal.set_defaults(handler=cmd_principal)
    set_password = principal_commands.add_parser(
        "set-password",
        help="set a principal's web-console password (asked twice; never echoed or logged)",
    )
    set_password.add_argument("name")
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    set_password.set_defaults(handler=cmd_set_password)

    token = commands.add_parser("token", help="issue and revoke API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_create = token_commands.add_parser("create", help="issue a token (shown once)")
    token_create.add_argument("principal")
    token_create.add_argument("--label", default="")
    token_create.add_argument("--expires-in-days", type=int, default=90)
    token_create.add_argument("--no-expiry", action="store_true")
    token_revoke = token_commands.add_parser("revoke", help="revoke a token by its id")
    token_revoke.add_argument("token_id", type=int)
    token.set_defaults(handler=cmd_token)

    trial = commands.add_parser("trial", help="create and close trials")
    trial_commands = trial.add_subparsers(dest="trial_command", required=True)
    trial_create = trial_commands.add_parser("create", help="create a trial")
    trial_create.add_argument("key")
    trial_create.add_argument("--config", help="trial configuration file (TOML or JSON)")
    trial_close = trial_commands.add_parser("close", help="close a trial")
    trial_close.add_argument("key")
    trial_close.add_argument(
        "--destroy-keys",
        action="store_true",
        help="crypto-shred: destroy the trial's keys; its originals become unrecoverable",
    )
    trial_close.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    trial.set_defaults(handler=cmd_trial)
    trial_update = trial_commands.add_parser(
        "update",
        help="change a trial's settings and site names, add sites (audited)",
        description="Change what is named; the rest stays. The protocol ID, subject ID "
        "template and date offsets are fixed once the trial holds data; the key never changes.",
    )
    trial_update.add_argument("key")
    trial_update.add_argument(
        "--config", help="trial configuration file (TOML or JSON): the settings it names"
    )
    trial_update.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one setting, e.g. sponsor_name='Acme Pharma' (repeatable)",
    )
    trial_update.add_argument(
        "--site", action="append", default=[], metavar="ID=NAME", help="rename or add a site"
    )
    trial_update.set_defaults(handler=cmd_trial_update)

    keys = commands.add_parser("keys", help="rotate keys and re-encrypt")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_commands.add_parser(
        "rotate", help="new master key version and rewrap (or, with --trial, a new data key)"
    )
    rotate.add_argument("--trial")
    reencrypt = keys_commands.add_parser(
        "reencrypt", help="move a trial's rows to its newest data key (resumable)"
    )
    reencrypt.add_argument("--trial", required=True)
    reencrypt.add_argument("--batch-size", type=int, default=500)
    reencrypt.add_argument("--quiet", action="store_true", help="no progress bar")
    keys.set_defaults(handler=cmd_keys)

    transfer_key = commands.add_parser(
        "transfer-key", help="key pairs a receiving vault is sent trial bundles with"
    )
    transfer_key_commands = transfer_key.add_subparsers(dest="transfer_key_command", required=True)
    transfer_key_create = transfer_key_commands.add_parser(
        "create", help="write transfer.key (0600) and transfer.pub into a directory"
    )
    transfer_key_create.add_argument("--out", required=True, metavar="DIR")
    transfer_key.set_defaults(handler=cmd_transfer_key)

    export_trial = commands.add_parser(
        "export", help="seal a whole trial into an encrypted bundle for another vault"
    )
    export_trial.add_argument("trial", metavar="TRIAL")
    export_trial.add_argument(
        "--recipient", required=True, metavar="FILE", help="the receiving vault's transfer.pub"
    )
    export_trial.add_argument("--out", required=True, metavar="BUNDLE", help="file to create")
    _add_vault_location(export_trial)
    export_trial.set_defaults(handler=cmd_export)

    import_trial = commands.add_parser(
        "import", help="re-create a trial from a bundle under this vault's keys"
    )
    import_trial.add_argument("bundle", metavar="BUNDLE")
    import_trial.add_argument(
        "--key", required=True, metavar="FILE", help="this vault's transfer.key"
    )
    _add_vault_location(import_trial)
    import_trial.set_defaults(handler=cmd_import)

    audit = commands.add_parser("audit", help="verify and export the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="verify the chain and every checkpoint")
    verify.add_argument("--public-key", help="default: audit-signing.pub in VAULT_KEY_DIR")
    export = audit_commands.add_parser("export", help="export records as JSON lines or CSV")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.add_argument("--trial")
    export.add_argument("--action")
    export.add_argument("--outcome")
    audit.set_defaults(handler=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; return its exit status."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, TextIO], int] = args.handler
    try:
        return handler(args, out)
    except (CliError, KeyFileError, DatabaseNotMigratedError, VaultError) as exc:
        print(f"deid-vault: error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(
            f"deid-vault: error: cannot reach the database ({type(exc.orig).__name__}); "
            "check VAULT_DATABASE_URL and that the server is running",
            file=sys.stderr,
        )
        return 2


def run_main() -> None:
    """The console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run_main()
