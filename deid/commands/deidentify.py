"""``deid run``, after the store's process has started: the command line checked, then
:func:`deidentify`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from urllib.parse import urlsplit

from deid.commands.console import progress_wanted
from deid.commands.rules import rule_settings
from deid.contract.errors import ExitStatus, UsageError, VaultClientError
from deid.contract.trial_config import SITE_ID_PATTERN, TRIAL_KEY_PATTERN, load_trial_config
from deid.run.batch import REPORT_NAME, run_batch
from deid.run.config import BatchConfig
from deid.store.factory import StoreSpec, StoreUnavailableError
from deid.store.http import VaultTarget
from deid.store.served import StoreServer
from deid.writing import DEFAULT_LAYOUT, check_layout, is_within


def _default_beside(output: Path, suffix: str) -> Path:
    output = output.resolve()
    return output.parent / f"{output.name}{suffix}"


def run_checked(args: argparse.Namespace, server: StoreServer | None = None) -> int:
    """``deid run INPUT OUTPUT``: the command line checked, then :func:`deidentify`.

    ``server``: the store process the command started first, for the embedded vault.
    """
    if not args.input.exists():
        raise UsageError(f"INPUT {args.input} does not exist")
    if args.anonymize and (args.store or args.key_dir):
        raise UsageError(
            "--anonymize keeps no mappings, so --store and --key-dir do not apply; "
            "drop them, or drop --anonymize to keep a way back"
        )
    vault = _vault_target(args)
    if not args.anonymize and not (args.trial and args.site):
        raise UsageError(
            "name the trial and this site with --trial NAME --site ID (they decide the "
            "subject IDs and which mappings are used); or use --anonymize for a run "
            "with no way back"
        )
    trial = args.trial or ANONYMOUS_TRIAL
    site = args.site or ANONYMOUS_SITE
    if not re.match(TRIAL_KEY_PATTERN, trial):
        raise UsageError(f"--trial {trial!r}: use 1-64 letters, digits, '.', '-' or '_'")
    if not re.match(SITE_ID_PATTERN, site):
        raise UsageError(f"--site {site!r}: use 1-16 letters, digits, '-' or '_'")
    if args.report is not None and is_within(args.report, args.input):
        raise UsageError("--report must not be inside INPUT, which is never written to")
    rules = rule_settings(args)
    layout = check_layout(args.layout or DEFAULT_LAYOUT)
    trial_config = load_trial_config(args.trial_config, key=trial) if args.trial_config else None
    store_path = (
        None
        if args.anonymize or vault is not None
        else args.store or (_default_beside(args.output, "-vault") / "vault.sqlite")
    )
    config = BatchConfig(
        input_root=args.input,
        output_root=args.output,
        quarantine_root=args.quarantine or _default_beside(args.output, "-quarantine"),
        rules=rules,
        store=StoreSpec(
            trial,
            site,
            store_path=store_path,
            key_dir=args.key_dir,
            trial_config=trial_config,
            vault=vault,
        ),
        anonymize=args.anonymize,
        layout=layout,
    )
    return deidentify(
        config,
        workers=args.workers,
        progress=progress_wanted(args),
        report_path=args.report,
        server=server,
    )


def deidentify(
    config: BatchConfig,
    *,
    workers: int = 1,
    progress: bool = False,
    report_path: Path | None = None,
    server: StoreServer | None = None,
) -> int:
    """Run a checked ``deid run`` (:func:`~deid.run.batch.run_batch`), print the summary
    and where everything is; the exit status."""
    try:
        report = run_batch(
            config, workers=workers, progress=progress, report_path=report_path, server=server
        )
    except StoreUnavailableError as exc:
        raise StoreUnavailableError(
            f"{exc}\nnothing more was written; fix the store and rerun the same command"
        ) from None
    for line in report.summary_lines():
        print(line)
    _print_places(config, report_path)
    if report.stopped is not None and report.not_processed:
        return ExitStatus.STORE
    return ExitStatus.OK if report.complete else ExitStatus.PROBLEMS


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _vault_target(args: argparse.Namespace) -> VaultTarget | None:
    """The deployed vault of ``--vault``, checked now (token file, URL, CA bundle)."""
    if args.vault is None:
        if args.token_file or args.ca_bundle:
            raise UsageError("--token-file and --ca-bundle go with --vault URL; add it")
        return None
    others = [
        name
        for name, given in (
            ("--anonymize", args.anonymize),
            ("--store", args.store),
            ("--key-dir", args.key_dir),
            ("--trial-config", args.trial_config),
        )
        if given
    ]
    if others:
        raise UsageError(
            f"with --vault the mappings, keys and trial settings live in the vault, so "
            f"{', '.join(others)} do not apply; drop them (the vault's admin creates the "
            "trial with its settings)"
        )
    if args.token_file is None:
        raise UsageError(
            "--vault needs --token-file FILE: a file holding this site's API token "
            "(the vault's admin issues it with deid-vault token create)"
        )
    url = urlsplit(args.vault)
    if url.scheme == "http" and url.hostname not in LOOPBACK_HOSTS:
        raise UsageError(
            f"--vault {args.vault}: plain http would send originals unencrypted over the "
            "network; use https:// (http:// is only for a vault on this host)"
        )
    target = VaultTarget(
        url=args.vault.rstrip("/"),
        token_file=args.token_file,
        ca_bundle=args.ca_bundle,
        timeout=args.vault_timeout,
    )
    try:
        target.connect().close()
    except VaultClientError as exc:
        raise UsageError(str(exc)) from None
    return target


ANONYMOUS_TRIAL = "ANONYMIZED"
ANONYMOUS_SITE = "A"
"""Trial and site of an --anonymize run that names none: they only shape subject IDs."""


def _print_places(config: BatchConfig, report: Path | None) -> None:
    print(f"de-identified files: {config.output_root}")
    print(f"report:              {report or config.output_root / REPORT_NAME}")
    if any(config.quarantine_root.glob("*.reason.json")):
        print(
            f"quarantine:          {config.quarantine_root} (originals with the reasons: "
            "keep it at the site)"
        )
    if config.store.vault is not None:
        print(f"mapping store:       the vault at {config.store.vault.url}")
    elif config.store.store_path is not None:
        print(
            f"mapping store:       {config.store.store_path} (the way back, with its key "
            "files: keep it at the site and back it up)"
        )
    else:
        print("mapping store:       none (--anonymize: nothing was kept, no way back)")
