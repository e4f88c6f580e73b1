"""``trial``: create, list, change and close trials."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from deid.contract.trial_config import TrialConfig, TrialConfigError, load_trial_config
from vault.authz import cli_caller
from vault.cli import context
from vault.cli.errors import EXIT_CHECK_FAILED, EXIT_OK, CliError
from vault.cli.output import moment, show
from vault.services import trials as trial_service


def create(args: argparse.Namespace, out: TextIO) -> int:
    """Create a trial from its configuration file (or every default)."""
    try:
        config = (
            load_trial_config(Path(args.config), args.key)
            if args.config
            else TrialConfig(key=args.key)
        )
    except (TrialConfigError, ValidationError) as exc:
        raise CliError(str(exc)) from None
    with context.vault() as runtime, runtime.transaction() as session:
        trial_service.create_trial(session, runtime, cli_caller(), config)
    print(f"trial {args.key} created with sites: {', '.join(config.sites) or 'none'}", file=out)
    return EXIT_OK


def list_trials(args: argparse.Namespace, out: TextIO) -> int:
    """Every trial with its sites, status and data key version."""
    caller = cli_caller()
    with context.vault() as runtime, runtime.transaction() as session:
        rows = [
            {
                "key": trial.key,
                "status": trial.status,
                "sponsor_name": trial.sponsor_name,
                "protocol_id": trial.protocol_id,
                "protocol_name": trial.protocol_name,
                "sites": {s.site_key: s.name for s in trial_service.list_sites(session, trial)},
                "data_key_version": trial.current_key_version,
                "created_at": moment(trial.created_at),
                "closed_at": moment(trial.closed_at),
            }
            for trial in trial_service.list_trials(session, caller)
        ]
    columns = [
        ("key", "TRIAL"),
        ("status", "STATUS"),
        ("sponsor_name", "SPONSOR"),
        ("protocol_id", "PROTOCOL"),
        ("sites", "SITES"),
        ("data_key_version", "DATA KEY"),
        ("created_at", "CREATED"),
    ]
    show(rows, columns, out, as_json=args.json, empty="no trials yet")
    return EXIT_OK


def update(args: argparse.Namespace, out: TextIO) -> int:
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
    with context.vault() as runtime, runtime.transaction() as session:
        change = trial_service.change_trial(session, runtime, cli_caller(), args.key, changes)
    done = ", ".join(change.summary()) or "nothing changed"
    print(f"trial {args.key}: {done}", file=out)
    return EXIT_OK


def close(args: argparse.Namespace, out: TextIO) -> int:
    """Close a trial (asks first); with ``--destroy-keys`` crypto-shred it."""
    what = (
        f"close trial {args.key} and DESTROY its keys: its originals become unrecoverable"
        if args.destroy_keys
        else f"close trial {args.key}: it will take no new mappings"
    )
    with context.vault() as runtime:
        if not context.confirm(f"About to {what}. Continue?", args.yes):
            print("nothing changed", file=out)
            return EXIT_CHECK_FAILED
        with runtime.transaction() as session:
            closed = trial_service.close_trial(
                session, runtime, cli_caller(), args.key, destroy_keys=args.destroy_keys
            )
    print(f"trial {closed.trial} is {closed.status}", file=out)
    return EXIT_OK
