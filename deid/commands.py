"""What each ``deid`` command does, once :mod:`deid.cli` has parsed its arguments.

Commands return their exit status, or raise a :class:`~deid.contract.errors.DeidError`
saying what to do, which :func:`deid.cli.main` prints.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack, closing
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import urlsplit

from tqdm import tqdm

from deid.batch import REPORT_NAME, BatchConfig, RuleSettings, check_folders, run_batch
from deid.contract.errors import ExitStatus, UsageError, VaultClientError
from deid.contract.trial_config import (
    SITE_ID_PATTERN,
    TRIAL_KEY_PATTERN,
    TrialConfig,
    load_trial_config,
)
from deid.corpus import BAD_FILE_KINDS, TRANSFER_SYNTAXES, generate_corpus
from deid.dicomfile import read_input
from deid.engine import Engine, InspectRow
from deid.outcome import Quarantined, QuarantineError
from deid.profiles import (
    DEFAULT_TRIAL_OPTIONS,
    Option,
    PatientNamePolicy,
    Severity,
    check_recipe_file,
    load_safe_private_file,
    options_table,
    parse_option,
    parse_variables,
    pseudo_classes_table,
)
from deid.store.factory import StoreSpec, StoreUnavailableError, open_embedded, run_scoped_store
from deid.store.http import VaultTarget
from deid.store.memory import MemoryStore
from deid.writing import DEFAULT_LAYOUT, check_layout, is_within


def progress_wanted(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: asked for, and someone is watching standard error."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def corpus(args: argparse.Namespace) -> int:
    """``deid corpus OUT``: write identifiable synthetic files."""
    names = args.transfer_syntaxes or list(TRANSFER_SYNTAXES)
    unknown = [name for name in names if name not in TRANSFER_SYNTAXES]
    if unknown:
        raise UsageError(
            f"unknown transfer syntax {', '.join(unknown)}; "
            f"choose from {', '.join(TRANSFER_SYNTAXES)}"
        )
    per_study = args.series * args.instances + (0 if args.no_documents else 2)
    total = args.patients * args.studies * per_study
    total += len(BAD_FILE_KINDS) if args.bad_files else 0
    with tqdm(
        total=total,
        unit="file",
        desc="generating",
        disable=not progress_wanted(args),
        file=sys.stderr,
    ) as bar:
        manifest = generate_corpus(
            args.output,
            patients=args.patients,
            studies_per_patient=args.studies,
            series_per_study=args.series,
            instances_per_series=args.instances,
            rows=args.rows,
            cols=args.cols,
            seed=args.seed,
            transfer_syntaxes=[TRANSFER_SYNTAXES[name] for name in names],
            include_documents=not args.no_documents,
            include_bad_files=args.bad_files,
            on_file=bar.update,
        )
    if args.manifest is not None:
        manifest.write(args.manifest)
    print(
        f"wrote {len(manifest.files)} files for {len(manifest.patients)} patients "
        f"to {args.output}"
        + (f"; manifest in {args.manifest}" if args.manifest is not None else "")
    )
    print("these files hold invented but identifiable data: treat them like real exports")
    return ExitStatus.OK


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())


def profile(args: argparse.Namespace) -> int:
    """``deid profile options|classes|check``."""
    if args.profile_command == "options":
        print("PS3.15 options for --option (the Basic Profile always applies):\n")
        print(options_table())
        print(
            "\n--profile trial (the default) adds the options marked (default), unless "
            "retain-long-full-dates is chosen; --profile basic adds none."
        )
        return ExitStatus.OK
    if args.profile_command == "classes":
        print("PSEUDO classes for recipes (PSEUDO <attribute> <CLASS>):\n")
        print(pseudo_classes_table())
        return ExitStatus.OK
    return check_recipe(args)


def _chosen_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The options of ``--profile`` and ``--option``: ``trial`` adds the default dates
    option unless full dates were asked for."""
    chosen = [parse_option(name).cli_name for name in args.options]
    if args.profile == "trial" and Option.RETAIN_LONG_FULL_DATES.cli_name not in chosen:
        chosen.extend(option.cli_name for option in DEFAULT_TRIAL_OPTIONS)
    return tuple(dict.fromkeys(chosen))


def _rule_settings(args: argparse.Namespace) -> RuleSettings:
    """The rule settings of the command line, built once to report problems now (an
    unknown option, a recipe that cannot be read or contradicts the profile...)."""
    settings = RuleSettings(
        options=_chosen_options(args),
        recipe=getattr(args, "recipe", None),
        variables=tuple(parse_variables(getattr(args, "variables", [])).items()),
        accepted_deviations=tuple(getattr(args, "accepted_deviations", [])),
        safe_private=args.safe_private,
        strict=args.strict,
        patient_name=args.patient_name,
        burned_in_annotation=args.burned_in_annotation,
        encapsulated_documents=args.encapsulated_documents,
    )
    settings.build_rules()
    return settings


def check_recipe(args: argparse.Namespace) -> int:
    """``deid profile check FILE``: the reviewer's findings, with line numbers."""
    options = _chosen_options(args)
    variables = parse_variables(args.variables)
    safe_private = load_safe_private_file(args.safe_private) if args.safe_private else None
    report = check_recipe_file(
        args.recipe,
        options,
        variables=variables,
        safe_private=safe_private,
        strict=args.strict,
        patient_name_policy=PatientNamePolicy(args.patient_name),
        accepted_deviations=args.accepted_deviations,
    )
    print(report.render())
    if any(finding.severity is Severity.INVALID for finding in report.findings):
        return ExitStatus.USAGE
    return ExitStatus.OK if report.ok else ExitStatus.PROBLEMS


def _default_beside(output: Path, suffix: str) -> Path:
    output = output.resolve()
    return output.parent / f"{output.name}{suffix}"


def run(args: argparse.Namespace) -> int:
    """``deid run INPUT OUTPUT``: de-identify a folder; print the summary."""
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
    rules = _rule_settings(args)
    layout = check_layout(args.layout or DEFAULT_LAYOUT)
    trial_config = load_trial_config(args.trial_config, key=trial) if args.trial_config else None
    if args.anonymize:
        trial_config = trial_config or TrialConfig(key=trial)
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
        store=StoreSpec(trial, site, store_path=store_path, key_dir=args.key_dir, vault=vault),
        anonymize=args.anonymize,
        layout=layout,
    )
    return deidentify(
        config,
        trial_config,
        workers=args.workers,
        progress=progress_wanted(args),
        report_path=args.report,
    )


def deidentify(
    config: BatchConfig,
    trial_config: TrialConfig | None = None,
    *,
    workers: int = 1,
    progress: bool = False,
    report_path: Path | None = None,
) -> int:
    """Run a checked ``deid run``: open its store, de-identify, print the summary and
    where everything is; the exit status.

    The store is opened once first: a deployed vault is asked for the trial (a wrong
    URL, token, trial or site stops the run before any worker starts); the embedded
    vault creates the trial from ``trial_config`` on first use; ``--anonymize``
    serves its run-scoped store (from ``trial_config``) to every worker.
    """
    check_folders(config)
    store = config.store
    try:
        with ExitStack() as stack:
            if config.anonymize:
                assert trial_config is not None, "a run-scoped store needs the trial's settings"
                proxy = stack.enter_context(run_scoped_store(trial_config, store.site))
                config = replace(config, store=replace(store, shared_proxy=proxy))
            elif store.vault is not None:
                with closing(store.open()) as opened:
                    opened.trial_info()
            else:
                assert store.store_path is not None
                store.store_path.parent.mkdir(parents=True, exist_ok=True)
                open_embedded(
                    store.store_path, store.trial, store.site, trial_config, store.key_dir
                ).close()
            report = run_batch(config, workers=workers, progress=progress, report_path=report_path)
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


def inspect(args: argparse.Namespace) -> int:
    """``deid inspect FILE``: every attribute's action and resulting value."""
    rules = _rule_settings(args)
    try:
        dataset = read_input(args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except QuarantineError as exc:
        print(f"{args.file} would be quarantined: {exc.reason}: {exc.message}")
        return ExitStatus.PROBLEMS
    store = MemoryStore(TrialConfig(key=INSPECT_TRIAL), INSPECT_SITE)
    try:
        engine = Engine(rules.build_rules(), store, rules.engine_settings())
        inspection = engine.inspect(dataset)
    finally:
        store.close()
    outcome = inspection.outcome
    if args.json:
        document = {
            "file": str(args.file),
            "outcome": (
                {"quarantined": str(outcome.reason), "message": outcome.message}
                if isinstance(outcome, Quarantined)
                else {"written": True, "subject_id": outcome.subject_id}
            ),
            "elements": [asdict(row) for row in inspection.rows],
        }
        print(json.dumps(document, indent=1))
    else:
        _print_inspection(inspection.rows)
        if isinstance(outcome, Quarantined):
            print(f"\nthe file would be quarantined: {outcome.reason}: {outcome.message}")
        else:
            print(
                "\nthe file would be written; pseudonyms above are examples, a real run "
                "takes them from the trial's mapping store"
            )
    return ExitStatus.PROBLEMS if isinstance(outcome, Quarantined) else ExitStatus.OK


INSPECT_TRIAL = "INSPECT"
INSPECT_SITE = "X"


def _shorten(value: str | None, width: int = 36) -> str:
    if value is None:
        return "-"
    text = value or "''"
    return text if len(text) <= width else text[: width - 3] + "..."


def _print_inspection(rows: Sequence[InspectRow]) -> None:
    table: list[tuple[str, ...]] = [("ELEMENT", "VR", "ACTION", "BEFORE", "AFTER", "WHY")]
    for row in rows:
        action, _, why = row.action.partition(" (")
        table.append(
            (
                row.path,
                row.vr,
                action,
                _shorten(row.original),
                _shorten(row.result),
                why.removesuffix(")"),
            )
        )
    _print_table(table)


__all__ = ["corpus", "deidentify", "inspect", "profile", "run"]
