"""The ``deid-vault`` command line: every command, option, default and help text.

Cheap to build (the documentation generates its CLI reference from
:func:`build_parser`): each command names its handler as ``"module:function"``,
imported only when that command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from vault import __version__
from vault.cli.errors import EXIT_STATUS_HELP

DEFAULT_PORT = 8200
ROLE_NAMES = ("site_uploader", "reidentify_requester", "approver", "auditor", "admin")
"""The roles (:class:`vault.models.Role`), written out so the parser needs no database code."""
ROLE_HELP = (
    "ROLE[:TRIAL[:SITE]], e.g. site_uploader:ONCO-42:07, reidentify_requester:ONCO-42, "
    "approver:ONCO-42, auditor (every trial) or auditor:ONCO-42, admin; "
    f"roles: {', '.join(ROLE_NAMES)}"
)
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions, keeps the exit status table as written, and shows defaults."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit status:"):
            return text
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = action.option_strings and default not in (None, False, [], "", argparse.SUPPRESS)
        if shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"{low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


_positive = _whole_number(1)
_port = _whole_number(1, 65535)


def _command(
    commands: Commands,
    name: str,
    handler: str | None,
    summary: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        formatter_class=HelpFormatter,
    )
    if handler is not None:
        parser.set_defaults(handler=f"vault.cli.{handler}")
    return parser


def _subcommands(parser: argparse.ArgumentParser, dest: str) -> Commands:
    return parser.add_subparsers(
        dest=dest,
        required=True,
        metavar="COMMAND",
        help=f"each takes --help: '{parser.prog} COMMAND --help'",
    )


def _add_vault_location(parser: argparse.ArgumentParser) -> None:
    location = parser.add_argument_group("the vault to work on (for an embedded store, say)")
    location.add_argument(
        "--database-url",
        metavar="URL",
        help="default: VAULT_DATABASE_URL (an embedded store: sqlite:///OUTPUT-vault/vault.sqlite)",
    )
    location.add_argument(
        "--key-dir",
        metavar="DIR",
        help="default: VAULT_KEY_DIR (an embedded store: OUTPUT-vault/keys)",
    )


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON (every field) instead of a table"
    )


def _add_setup(commands: Commands) -> None:
    init = _command(
        commands,
        "init",
        "setup:init",
        "set up a new vault: keys, schema, first admin with its token and console password",
        "Set up a new vault: write the three keys (mode 0600) into the key directory, "
        "migrate the database, and create the first admin principal with an API token "
        "and a console password, each shown only this once. Refuses existing key files and "
        "a database that already holds principals or trials, and changes nothing then.",
    )
    init.add_argument(
        "--key-dir",
        metavar="DIR",
        help="directory for the three key files, created with mode 0700 (default: VAULT_KEY_DIR)",
    )
    init.add_argument("--admin", default="admin", metavar="NAME", help="the first admin's name")
    init.add_argument("--database-url", metavar="URL", help="default: VAULT_DATABASE_URL")
    init.add_argument(
        "--expires-in-days",
        type=_whole_number(1, 3650),
        default=30,
        metavar="DAYS",
        help="lifetime of the first admin's API token",
    )
    init.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the admin's console password from standard input (default: generate one)",
    )

    serve = _command(
        commands,
        "serve",
        "serve:serve",
        "run the HTTP API and the web console",
        "Check the keys and the schema, listen on --host and --port, then serve the API "
        "(/v1, OpenAPI at /docs) and the web console (/console/) with uvicorn. Nothing "
        "claims to be serving before the address is taken: a port in use, an address not "
        "of this machine or a port without permission ends with exit status 4.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; keep the loopback address behind a TLS proxy on the same "
        "host, 0.0.0.0 for every IPv4 address",
    )
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help="TCP port to listen on")
    serve.add_argument(
        "--workers", type=_positive, default=1, metavar="N", help="processes serving requests"
    )
    serve.add_argument(
        "--migrate", action="store_true", help="run pending migrations first (else refuse them)"
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="",
        metavar="ADDRESSES",
        help="the TLS proxy's address or network (comma-separated for several): only its "
        "X-Forwarded-For is believed, so audit records and the sign-in lock-out see each "
        "client's own address (default: none; each client is the address it connects from)",
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="uvicorn's logging")
    serve.add_argument(
        "--access-log", action="store_true", help="log each request's method, path and status"
    )

    db = _command(
        commands,
        "db",
        None,
        "create or check the database schema",
        "The schema is created and changed only by the vault's Alembic migrations.",
    )
    db_commands = _subcommands(db, "db_command")
    _command(
        db_commands,
        "upgrade",
        "setup:db_upgrade",
        "apply pending migrations (an empty database gets the whole schema)",
    )
    _command(
        db_commands,
        "check",
        "setup:db_check",
        "say whether the schema is the newest (exit status 1 if not)",
    )


def _add_principals(commands: Commands) -> None:
    principal = _command(
        commands,
        "principal",
        None,
        "create and list principals, grant and revoke their roles, set console passwords",
        "A principal is a person or a program: programs use API tokens, people sign in to "
        "the console with a password. Each holds roles, within a trial (and site) or "
        "across all trials.",
    )
    principal_commands = _subcommands(principal, "principal_command")
    create = _command(principal_commands, "create", "principals:create", "create a principal")
    create.add_argument("name", help="1-64 letters, digits or . _ @ -")
    create.add_argument("--description", default="", help="who or what it is, for other admins")
    create.add_argument(
        "--role", action="append", default=[], metavar="ROLE[:TRIAL[:SITE]]", help=ROLE_HELP
    )
    listing = _command(
        principal_commands,
        "list",
        "principals:list_principals",
        "list the principals with their roles and how many usable tokens each holds",
    )
    _add_json(listing)
    for name, handler, summary in (
        ("grant", "principals:grant", "give a principal more roles"),
        ("revoke", "principals:revoke", "take roles away from a principal"),
    ):
        change = _command(principal_commands, name, handler, summary)
        change.add_argument("name", help="the principal")
        change.add_argument(
            "--role",
            action="append",
            required=True,
            metavar="ROLE[:TRIAL[:SITE]]",
            help=f"repeat for several; {ROLE_HELP}",
        )
    set_password = _command(
        principal_commands,
        "set-password",
        "principals:set_password",
        "set a principal's console password (asked twice, never echoed or logged)",
        "Set a principal's web-console password; it is kept only as a scrypt hash, and "
        "every console session of that principal ends.",
    )
    set_password.add_argument("name", help="the principal")
    set_password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: ask on the terminal)",
    )

    token = _command(
        commands,
        "token",
        None,
        "issue, list and revoke API tokens",
        "API tokens start with dvt_, are shown once when issued and kept only as a digest.",
    )
    token_commands = _subcommands(token, "token_command")
    token_create = _command(
        token_commands, "create", "principals:token_create", "issue a token (shown once)"
    )
    token_create.add_argument("principal", help="the principal the token stands for")
    token_create.add_argument("--label", default="", help="where it is used, e.g. 'PACS gateway'")
    token_create.add_argument(
        "--expires-in-days",
        type=_whole_number(1, 3650),
        default=90,
        metavar="DAYS",
        help="how long the token works",
    )
    token_create.add_argument("--no-expiry", action="store_true", help="a token that never expires")
    token_list = _command(
        token_commands,
        "list",
        "principals:token_list",
        "list tokens: id, principal, first characters, label, expiry, last use",
    )
    token_list.add_argument("--principal", metavar="NAME", help="only this principal's tokens")
    token_list.add_argument(
        "--all", action="store_true", help="revoked and expired tokens too (default: usable ones)"
    )
    _add_json(token_list)
    token_revoke = _command(
        token_commands,
        "revoke",
        "principals:token_revoke",
        "revoke a token by its id (it stops working at once)",
    )
    token_revoke.add_argument("token_id", type=_positive, metavar="ID", help="see 'token list'")


def _add_trials(commands: Commands) -> None:
    trial = _command(commands, "trial", None, "create, list, change and close trials")
    trial_commands = _subcommands(trial, "trial_command")
    trial_create = _command(trial_commands, "create", "trials:create", "create a trial")
    trial_create.add_argument("key", help="the trial's key, e.g. ONCO-42")
    trial_create.add_argument(
        "--config",
        metavar="FILE",
        help="trial configuration (TOML or JSON): sponsor, protocol, sites, subject ID "
        "template, date offsets, re-identification policy (default: every default, no sites)",
    )
    trial_list = _command(
        trial_commands, "list", "trials:list_trials", "list the trials with their sites and status"
    )
    _add_json(trial_list)
    trial_update = _command(
        trial_commands,
        "update",
        "trials:update",
        "change a trial's settings and site names, add sites (audited)",
        "Change what is named; the rest stays. The protocol ID, subject ID template and "
        "date offsets are fixed once the trial holds data; the key never changes.",
    )
    trial_update.add_argument("key", help="the trial")
    trial_update.add_argument(
        "--config",
        metavar="FILE",
        help="trial configuration file (TOML or JSON): applies only the settings it names",
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
    trial_close = _command(
        trial_commands,
        "close",
        "trials:close",
        "close a trial: it takes no new mappings (asks first)",
    )
    trial_close.add_argument("key", help="the trial")
    trial_close.add_argument(
        "--destroy-keys",
        action="store_true",
        help="crypto-shred: destroy the trial's keys; its originals become unrecoverable",
    )
    trial_close.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _add_keys(commands: Commands) -> None:
    keys = _command(commands, "keys", None, "rotate keys and re-encrypt")
    keys_commands = _subcommands(keys, "keys_command")
    rotate = _command(
        keys_commands,
        "rotate",
        "keys:rotate",
        "add a master key version and rewrap every data key (with --trial: a new data key)",
    )
    rotate.add_argument(
        "--trial", metavar="KEY", help="give this trial a new data key instead (for new rows)"
    )
    reencrypt = _command(
        keys_commands,
        "reencrypt",
        "keys:reencrypt",
        "move a trial's rows to its newest data key, in batches (resumable)",
    )
    reencrypt.add_argument("--trial", required=True, metavar="KEY", help="the trial")
    reencrypt.add_argument(
        "--batch-size", type=_positive, default=500, metavar="ROWS", help="rows per transaction"
    )
    reencrypt.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_transfer(commands: Commands) -> None:
    transfer_key = _command(
        commands,
        "transfer-key",
        None,
        "key pairs a receiving vault is sent trial bundles with",
    )
    transfer_key_commands = _subcommands(transfer_key, "transfer_key_command")
    transfer_key_create = _command(
        transfer_key_commands,
        "create",
        "transfer:transfer_key_create",
        "write transfer.key (mode 0600) and transfer.pub into a directory",
    )
    transfer_key_create.add_argument(
        "--out", required=True, metavar="DIR", help="directory to write the pair into"
    )

    export_trial = _command(
        commands,
        "export",
        "transfer:export",
        "seal a whole trial into an encrypted bundle for another vault",
    )
    export_trial.add_argument("trial", metavar="TRIAL", help="the trial to export")
    export_trial.add_argument(
        "--recipient", required=True, metavar="FILE", help="the receiving vault's transfer.pub"
    )
    export_trial.add_argument(
        "--out", required=True, metavar="BUNDLE", help="file to create (never overwritten)"
    )
    _add_vault_location(export_trial)

    import_trial = _command(
        commands,
        "import",
        "transfer:import_",
        "re-create a trial from a bundle under this vault's keys (all or nothing)",
    )
    import_trial.add_argument("bundle", metavar="BUNDLE", help="the bundle 'export' wrote")
    import_trial.add_argument(
        "--key", required=True, metavar="FILE", help="this vault's transfer.key"
    )
    _add_vault_location(import_trial)


def _add_audit(commands: Commands) -> None:
    audit = _command(
        commands,
        "audit",
        None,
        "verify and export the audit log",
        "Needs only the database and the audit public key, never the other keys.",
    )
    audit_commands = _subcommands(audit, "audit_command")
    verify = _command(
        audit_commands,
        "verify",
        "audit:verify",
        "verify the hash chain and every signed checkpoint (exit status 1 if broken)",
    )
    verify.add_argument(
        "--public-key",
        metavar="FILE",
        help="the audit-signing.pub init wrote (default: audit-signing.pub beside the signing "
        "key named by VAULT_KEY_DIR or VAULT_AUDIT_SIGNING_KEY_FILE, else that key's public half)",
    )
    export = _command(
        audit_commands, "export", "audit:export", "export records as JSON lines or CSV"
    )
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="file format")
    export.add_argument("--output", metavar="FILE", help="file to write (default: standard output)")
    export.add_argument("--trial", metavar="KEY", help="only this trial's records")
    export.add_argument("--action", help="only this action, e.g. trial.import or auth.failure")
    export.add_argument("--outcome", help="only this outcome, e.g. success, denied, refused")


def build_parser() -> argparse.ArgumentParser:
    """The ``deid-vault`` argument parser (cheap: imports no database or crypto code)."""
    parser = argparse.ArgumentParser(
        prog="deid-vault",
        description="The deid vault: encrypted original-to-pseudonym mappings, roles and "
        "tokens, audited re-identification. Settings come from VAULT_* environment "
        "variables (VAULT_DATABASE_URL, VAULT_KEY_DIR, ...); commands that change the "
        "vault act as the command-line operator and are audited.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deid-vault {__version__}")
    commands = _subcommands(parser, "command")
    for add in (_add_setup, _add_principals, _add_trials, _add_keys, _add_transfer, _add_audit):
        add(commands)
    return parser
