"""The command lines of ``deid reidentify`` and ``deid requests`` (a deployed vault, over HTTPS).

Only the parsers, cheap to build (``deid --help``, the CLI reference); what the
commands do is :mod:`deid.reidentify.commands`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deid.contract.purposes import PURPOSES

REIDENTIFY_EXIT_HELP = """\
exit status:
  0    every file under INPUT was re-identified into OUTPUT
  1    some files were not written (see the report: not released, unknown subject...)
  2    unusable command line or folders, or an unreadable token file; nothing was asked
  3    the vault could not be reached or refused the caller; rerun when fixed
  4    requests wait for an approver; rerun with --grant ID once approved
"""
REQUESTS_EXIT_HELP = """\
exit status:
  0    done
  2    unusable command line or token file
  3    the vault could not be reached or refused (not found, not allowed, not pending...)
"""


def _positive_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a request ID is a number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a request ID is at least 1, not {value}")
    return value


def _add_vault_arguments(parser: argparse.ArgumentParser) -> None:
    vault = parser.add_argument_group("the vault")
    vault.add_argument(
        "--vault",
        required=True,
        metavar="URL",
        help="the trial's vault, e.g. https://vault.example.org",
    )
    vault.add_argument(
        "--token-file",
        required=True,
        type=Path,
        metavar="FILE",
        help="a file holding your personal vault API token (readable by you only: chmod 600)",
    )
    vault.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        help="the CA certificate(s) your vault's TLS certificate is issued by, when it is a "
        "private CA (default: the system's trusted CAs)",
    )
    vault.add_argument("--trial", required=True, metavar="NAME", help="the trial, e.g. ONCO-42")


def add_commands(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add ``reidentify`` and ``requests`` to ``deid``'s subcommands."""
    run = commands.add_parser(
        "reidentify",
        help="take de-identified files back to the patient, with approval",
        description="Re-identify the de-identified files under INPUT (or new objects "
        "made from them: segmentations, reports, key images) into OUTPUT: the original "
        "patient identity, UIDs (references included) and dates. One request per subject "
        "goes to the trial's vault with your purpose and justification; where the trial "
        "requires approval, an approver other than you must approve it first, after which "
        "you rerun with --grant ID. Every step is audited by the vault. INPUT is never "
        "changed; files are written under the same relative paths, and "
        "OUTPUT/reidentify-report.json says what happened to each file. Treat OUTPUT as "
        "identifiable patient data.",
        epilog=REIDENTIFY_EXIT_HELP,
        formatter_class=formatter,
    )
    run.add_argument(
        "input", type=Path, metavar="INPUT", help="de-identified files (a folder or one file)"
    )
    run.add_argument("output", type=Path, metavar="OUTPUT", help="where re-identified files go")
    _add_vault_arguments(run)
    why = run.add_argument_group("why (recorded in the vault's audit log)")
    why.add_argument(
        "--purpose",
        required=True,
        choices=PURPOSES,
        metavar="PURPOSE",
        help=f"why you need the identity: {', '.join(PURPOSES)}",
    )
    why.add_argument(
        "--justification",
        required=True,
        metavar="TEXT",
        help="the reason in a sentence or two, e.g. a case or ticket number; never a "
        "patient's name, ID or birth date (the vault refuses those)",
    )
    run.add_argument(
        "--grant",
        dest="grants",
        action="append",
        default=[],
        type=_positive_id,
        metavar="ID",
        help="use this approved request instead of asking again (repeat for several); "
        "each grant can be used once",
    )
    run.add_argument(
        "--subject",
        dest="subjects",
        action="append",
        default=[],
        metavar="ID",
        help="only this subject's files (repeat for several; default: every subject in INPUT)",
    )

    requests = commands.add_parser(
        "requests",
        help="list, show, approve or deny re-identification requests",
        description="Work with the trial's re-identification requests. Requesters see "
        "their own requests; approvers see all of the trial's and approve or deny those "
        "of other people (never their own). Shows pseudonyms and subject IDs only.",
        epilog=REQUESTS_EXIT_HELP,
        formatter_class=formatter,
    )
    actions = requests.add_subparsers(dest="requests_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="the requests you may see, newest first", formatter_class=formatter
    )
    _add_vault_arguments(listing)
    listing.add_argument(
        "--status",
        choices=("pending", "approved", "denied", "released", "expired"),
        help="only requests in this state",
    )
    show = actions.add_parser("show", help="one request in full", formatter_class=formatter)
    show.add_argument("request_id", type=_positive_id, metavar="ID", help="the request's number")
    _add_vault_arguments(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    for name, verb in (("approve", "approve"), ("deny", "deny")):
        decide = actions.add_parser(
            name,
            help=f"{verb} another person's pending request (approvers)",
            description=f"{verb.capitalize()} a pending request. Read it first with "
            "'deid requests show ID'. You cannot decide your own requests.",
            formatter_class=formatter,
        )
        decide.add_argument(
            "request_id", type=_positive_id, metavar="ID", help="the request's number"
        )
        _add_vault_arguments(decide)
        decide.add_argument(
            "--comment",
            default="",
            metavar="TEXT",
            help="why (recorded in the audit log; no patient names or IDs)",
        )
