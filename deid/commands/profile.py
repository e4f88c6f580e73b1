"""``deid profile options|classes|check``: what can be chosen, and whether a recipe
contradicts the profile."""

from __future__ import annotations

import argparse

from deid.commands.rules import chosen_options
from deid.contract.errors import ExitStatus
from deid.profiles import (
    PatientNamePolicy,
    Severity,
    check_recipe_file,
    load_safe_private_file,
    options_table,
    parse_variables,
    pseudo_classes_table,
)


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


def check_recipe(args: argparse.Namespace) -> int:
    """``deid profile check FILE``: the reviewer's findings, with line numbers."""
    options = chosen_options(args)
    variables = parse_variables(args.variables)
    safe_private = load_safe_private_file(args.safe_private) if args.safe_private else None
    report = check_recipe_file(
        args.recipe,
        options,
        variables=variables,
        safe_private=safe_private,
        keep_unreviewed_text=args.keep_unreviewed_text,
        patient_name_policy=PatientNamePolicy(args.patient_name),
        accepted_deviations=args.accepted_deviations,
    )
    print(report.render())
    if any(finding.severity is Severity.INVALID for finding in report.findings):
        return ExitStatus.USAGE
    return ExitStatus.OK if report.ok else ExitStatus.PROBLEMS
