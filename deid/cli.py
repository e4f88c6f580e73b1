"""The ``deid`` command line: de-identify DICOM files at a trial site.

``main(argv)`` runs one command and returns its exit status, so tests (and other
programs) call it in process; ``run_main`` is the console script.
:func:`build_parser` is every command's parser and cheap to build: the module
that carries a command out is imported only once that command is chosen, so
``deid --version`` and ``deid --help`` load neither pydicom nor the vault.

Exit statuses (also in ``deid --help`` and the README):

* 0: done; for ``run`` every input was written (or had been by an earlier run)
* 1: done, but some inputs were quarantined or failed (``run``), the recipe
  contradicts the profile (``profile check``), the file would be quarantined
  (``inspect``)
* 2: the command line, a recipe, a trial configuration or a folder is unusable;
  nothing was changed
* 3: the mapping store could not be opened or failed; the run stopped and a
  rerun resumes where it stopped
* 4: ``reidentify``: requests wait for an approver; rerun with ``--grant ID``
* 130: interrupted (Ctrl-C); a rerun resumes
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from deid import __version__
from deid.contract.errors import DeidError, ExitStatus
from deid.reidentify import cli as reidentify_cli

VAULT_TIMEOUT = 30.0
"""``--vault-timeout``'s default: :data:`deid.vault_client.DEFAULT_TIMEOUT` (a test keeps
them equal; that module brings the HTTP client, which the parser must not)."""

EXIT_STATUS_HELP = """\
exit status:
  0    done (run: every input written, or written by an earlier run)
  1    done with problems (run: some inputs quarantined or failed; profile check:
       the recipe contradicts the profile; inspect: the file would be quarantined)
  2    unusable command line, recipe, trial configuration or folder; nothing changed
  3    the mapping store could not be opened or failed; rerun to resume
       (reidentify, requests: the vault could not be reached or refused)
  4    reidentify: requests wait for an approver; rerun with --grant ID
  130  interrupted; rerun to resume
"""


def _default_workers() -> int:
    """The cores this process may use (fewer than the machine's under a CPU limit)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions, keeps the exit status table as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit status:"):
            return text
        return super()._fill_text(text, width, indent)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return _HelpFormatter(prog, max_help_position=32)


def _add_rule_arguments(parser: argparse.ArgumentParser, *, recipe: bool = True) -> None:
    """The options that decide what happens to each attribute (run, inspect)."""
    rules = parser.add_argument_group("what to remove, replace and keep")
    rules.add_argument(
        "--profile",
        choices=("trial", "basic"),
        default="trial",
        help="trial (default): PS3.15 Basic Profile with every date moved by the "
        "patient's own offset; basic: the Basic Profile alone (dates removed or "
        "emptied). Add options with --option",
    )
    rules.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="NAME",
        help="a PS3.15 option, e.g. retain-safe-private, clean-descriptors "
        "(repeat for several; list them with 'deid profile options')",
    )
    if recipe:
        rules.add_argument(
            "--recipe",
            type=Path,
            metavar="FILE",
            help="a recipe layered on the profile (check it with 'deid profile check')",
        )
    rules.add_argument(
        "--var",
        dest="variables",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for the recipe's var:NAME (repeat for several)",
    )
    rules.add_argument(
        "--accept-deviation",
        dest="accepted_deviations",
        action="append",
        default=[],
        metavar="LINE:FINGERPRINT",
        help="run a recipe even though this rule contradicts the profile, as "
        "'deid profile check' prints it (repeat for each)",
    )
    rules.add_argument(
        "--safe-private",
        type=Path,
        metavar="FILE",
        help="your own safe-private list, used with --option retain-safe-private",
    )
    unreviewed = rules.add_mutually_exclusive_group()
    unreviewed.add_argument(
        "--keep-unreviewed-text",
        action="store_true",
        help="keep standard attributes outside PS3.15 that may hold free text and are not "
        "on the reviewed list (by default they are removed, or emptied where the IOD "
        "needs them): dates in them move by the patient's offset, and a value naming "
        "the patient is removed whole",
    )
    unreviewed.add_argument(
        "--strict",
        action="store_true",
        help="accepted for older scripts: removing unreviewed free text is now the default",
    )
    rules.add_argument(
        "--patient-name",
        choices=("pseudonym", "subject-id"),
        default="pseudonym",
        help="Patient's Name becomes a realistic made-up name (default) or the subject ID",
    )
    rules.add_argument(
        "--burned-in-annotation",
        choices=("quarantine", "accept"),
        default="quarantine",
        help="images flagged Burned In Annotation YES may show the name in the pixels: "
        "quarantine them (default) or write them as your responsibility",
    )
    rules.add_argument(
        "--encapsulated-documents",
        choices=("quarantine", "accept"),
        default="quarantine",
        help="embedded PDF/CDA documents cannot be cleaned: quarantine them (default) or "
        "keep them as your responsibility",
    )


def _add_trial_arguments(parser: argparse.ArgumentParser) -> None:
    trial = parser.add_argument_group("trial and mapping store")
    trial.add_argument("--trial", metavar="NAME", help="the trial's short name, e.g. ONCO-42")
    trial.add_argument("--site", metavar="ID", help="this site's ID in the trial, e.g. 07")
    trial.add_argument(
        "--trial-config",
        type=Path,
        metavar="FILE",
        help="TOML or JSON settings for a trial the store does not know yet (sponsor, "
        "protocol, subject ID template, date offset range, site names); for a trial it "
        "knows, the run stops unless they agree (change a trial with deid-vault trial update)",
    )
    trial.add_argument(
        "--store",
        type=Path,
        metavar="PATH",
        help="the embedded vault's database file (default: OUTPUT-vault/vault.sqlite "
        "beside OUTPUT; its key files go in the same folder; keep both at the site)",
    )
    trial.add_argument(
        "--key-dir",
        type=Path,
        metavar="DIR",
        help="where the embedded vault's key files are (default: beside --store)",
    )
    vault = parser.add_argument_group(
        "deployed vault",
        "de-identify through a vault running elsewhere instead of the embedded one; the "
        "trial and this site must exist there, and the token must be this site's uploader",
    )
    vault.add_argument(
        "--vault",
        metavar="URL",
        help="the vault's address, e.g. https://vault.example.org (originals are sent "
        "there and nowhere else)",
    )
    vault.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="a file holding this site's API token (readable by you only: chmod 600)",
    )
    vault.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="PEM",
        help="the CA certificates that sign the vault's TLS certificate, when it is not "
        "signed by a public CA (TLS is always verified)",
    )
    vault.add_argument(
        "--vault-timeout",
        type=_positive_seconds,
        default=VAULT_TIMEOUT,
        metavar="S",
        help="seconds to wait for each answer of the vault (default %(default)s); "
        "unanswered requests are retried with backoff, then the run stops",
    )
    trial.add_argument(
        "--anonymize",
        action="store_true",
        help="no way back: pseudonyms are consistent within this run and forgotten "
        "afterwards; nothing is stored (teaching files, public datasets)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Every ``deid`` command's parser (cheap: nothing a command needs is imported)."""
    parser = argparse.ArgumentParser(
        prog="deid",
        description="De-identify DICOM files for a clinical trial: PS3.15 profiles and "
        "options, recipes, consistent pseudonyms, trial subject IDs.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"deid {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="de-identify a folder of DICOM files",
        description="De-identify every file under INPUT into OUTPUT. INPUT is never "
        "changed. Output files are named from the new identifiers only "
        "(subject/study/series/instance). Files that cannot be fully de-identified "
        "are copied to the quarantine folder with the reason, never written to "
        "OUTPUT. Rerunning the same command skips what is done.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=_formatter,
    )
    run.add_argument("input", type=Path, metavar="INPUT", help="a DICOM file or folder")
    run.add_argument("output", type=Path, metavar="OUTPUT", help="where de-identified files go")
    _add_rule_arguments(run)
    _add_trial_arguments(run)
    batch = run.add_argument_group("running")
    batch.add_argument(
        "--workers",
        type=_positive,
        default=_default_workers(),
        metavar="N",
        help="worker processes (default: the number of CPU cores, here %(default)s)",
    )
    batch.add_argument(
        "--quarantine",
        type=Path,
        metavar="DIR",
        help="where files that cannot be de-identified go, with the reason "
        "(default: OUTPUT-quarantine beside OUTPUT; it holds originals: keep it at the site)",
    )
    batch.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="the JSON report (default: OUTPUT/deid-report.json)",
    )
    batch.add_argument(
        "--layout",
        metavar="TEMPLATE",
        help="output path template from {subject} {study} {series} {instance} "
        "{modality} (default: {subject}/{study}/{series}/{instance}.dcm)",
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")

    inspect = commands.add_parser(
        "inspect",
        help="show what would happen to each attribute of one file",
        description="Show, for every attribute of FILE, the action the chosen profile, "
        "options and recipe take and the value it would get. Nothing is written and "
        "no mapping is stored: pseudonyms shown are examples.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=_formatter,
    )
    inspect.add_argument("file", type=Path, metavar="FILE", help="a DICOM file")
    _add_rule_arguments(inspect)
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")

    profile = commands.add_parser(
        "profile",
        help="check recipes; list options and PSEUDO classes",
        description="Check a recipe against the profile, or list what can be chosen.",
        formatter_class=_formatter,
    )
    profile_commands = profile.add_subparsers(dest="profile_command", metavar="WHAT", required=True)
    check = profile_commands.add_parser(
        "check",
        help="report recipe rules that contradict the profile",
        description="Report, with line numbers, every rule of the recipe that keeps or "
        "writes what the profile and options remove or replace, every PSEUDO class that "
        "cannot fit its attribute, and unknown tags or classes. Exit 0 when clean, 1 when "
        "rules contradict the profile (accept each with --accept-deviation LINE), 2 when "
        "the recipe cannot be used.",
        formatter_class=_formatter,
    )
    check.add_argument("recipe", type=Path, metavar="FILE", help="the recipe to check")
    _add_rule_arguments(check, recipe=False)
    profile_commands.add_parser("options", help="list the PS3.15 options")
    profile_commands.add_parser("classes", help="list the PSEUDO classes recipes can use")

    corpus = commands.add_parser(
        "corpus",
        help="generate identifiable test files",
        description="Write synthetic but realistic identifiable DICOM files (CT series, "
        "SR reports, key object selections) in a PACS-export-like tree, for trying deid "
        "out. All names are invented.",
        formatter_class=_formatter,
    )
    corpus.add_argument("output", type=Path, metavar="OUT", help="folder to write to")
    corpus.add_argument("--patients", type=_positive, default=3, metavar="N")
    corpus.add_argument("--studies", type=_positive, default=2, metavar="N", help="per patient")
    corpus.add_argument("--series", type=_positive, default=2, metavar="N", help="per study")
    corpus.add_argument("--instances", type=_positive, default=3, metavar="N", help="per series")
    corpus.add_argument("--rows", type=_positive, default=256, metavar="N")
    corpus.add_argument("--cols", type=_positive, default=256, metavar="N")
    corpus.add_argument("--seed", type=int, default=0, metavar="N")
    corpus.add_argument(
        "--transfer-syntax",
        dest="transfer_syntaxes",
        action="append",
        metavar="NAME",
        help="explicit-le, implicit-le, explicit-be or deflated (repeat; default: all four)",
    )
    corpus.add_argument("--no-documents", action="store_true", help="CT images only")
    corpus.add_argument(
        "--bad-files",
        action="store_true",
        help="add files a run must quarantine (not DICOM, truncated, PDF, burned-in text)",
    )
    corpus.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="write the list of files and the identifying values each holds (JSON)",
    )
    corpus.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = commands.add_parser(
        "demo",
        help="generate files for two sites and de-identify them",
        description="Generate identifiable files for two simulated sites under "
        "OUT/input, de-identify them with the embedded vault into OUT/deidentified, and "
        "say where everything is.",
        formatter_class=_formatter,
    )
    demo.add_argument("output", type=Path, metavar="OUT", help="folder for the demo")
    demo.add_argument("--workers", type=_positive, default=_default_workers(), metavar="N")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    reidentify_cli.add_commands(commands, _formatter)
    return parser


def _print_error(message: str) -> None:
    """The one way ``deid`` reports an error: on standard error, after its name."""
    print(f"deid: error: {message}", file=sys.stderr)


def _command(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    """The function that carries out the parsed command; its module is imported now."""
    if args.command in ("reidentify", "requests"):
        from deid.reidentify import commands as reidentify_commands

        if args.command == "reidentify":
            return reidentify_commands.run_reidentify
        return reidentify_commands.run_requests
    if args.command == "run":
        from deid.commands.run import run

        return run
    if args.command == "inspect":
        from deid.commands.inspect import inspect

        return inspect
    if args.command == "profile":
        from deid.commands.profile import profile

        return profile
    if args.command == "corpus":
        from deid.commands.corpus import corpus

        return corpus
    from deid.demo import demo

    return demo


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``deid`` command; return its exit status.

    An error ``deid`` raises on purpose (:class:`~deid.contract.errors.DeidError`) is
    printed once, here, and its exit status returned; anything else is a bug and
    shows itself as one.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad arguments
        return int(exc.code or 0) if isinstance(exc.code, int | None) else ExitStatus.USAGE
    try:
        return _command(args)(args)
    except DeidError as exc:
        _print_error(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        _print_error("interrupted; rerun the same command to resume")
        return ExitStatus.INTERRUPTED


def run_main() -> None:
    """The ``deid`` console script."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Output piped into a program that stopped reading (``deid ... | head``).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = ExitStatus.OK
    sys.exit(status)


if __name__ == "__main__":
    run_main()
