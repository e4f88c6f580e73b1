"""The rule settings of the command line (``--profile``, ``--option``, ``--recipe``...),
shared by ``run``, ``inspect`` and ``profile check``."""

from __future__ import annotations

import argparse

from deid.profiles import DEFAULT_TRIAL_OPTIONS, Option, parse_option, parse_variables
from deid.run.settings import RuleSettings


def chosen_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The options of ``--profile`` and ``--option``: ``trial`` adds the default dates
    option unless full dates were asked for."""
    chosen = [parse_option(name).cli_name for name in args.options]
    if args.profile == "trial" and Option.RETAIN_LONG_FULL_DATES.cli_name not in chosen:
        chosen.extend(option.cli_name for option in DEFAULT_TRIAL_OPTIONS)
    return tuple(dict.fromkeys(chosen))


def rule_settings(args: argparse.Namespace) -> RuleSettings:
    """The rule settings of the command line, built once to report problems now (an
    unknown option, a recipe that cannot be read or contradicts the profile...)."""
    settings = RuleSettings(
        options=chosen_options(args),
        recipe=getattr(args, "recipe", None),
        variables=tuple(parse_variables(getattr(args, "variables", [])).items()),
        accepted_deviations=tuple(getattr(args, "accepted_deviations", [])),
        safe_private=args.safe_private,
        keep_unreviewed_text=args.keep_unreviewed_text,
        patient_name=args.patient_name,
        burned_in_annotation=args.burned_in_annotation,
        encapsulated_documents=args.encapsulated_documents,
    )
    settings.build_rules()
    return settings
