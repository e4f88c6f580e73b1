"""The rules: PS3.15 Annex E (Table E.1-1 and its options) and recipes, per element.

Build once per run with :func:`build_rules`, then ask
:meth:`Rules.action_for` for every element of every file.
"""

from deid.profiles.check import check_recipe_file, review
from deid.profiles.describe import (
    OptionDescription,
    PseudoClassDescription,
    describe_options,
    describe_pseudo_classes,
    options_table,
    pseudo_classes_table,
)
from deid.profiles.options import (
    BASIC_PROFILE_CODE,
    DEFAULT_TRIAL_OPTIONS,
    EffectiveCode,
    MethodCode,
    Option,
    OptionError,
    effective_code,
    method_codes,
    parse_option,
    validate_options,
)
from deid.profiles.recipe import (
    Directive,
    Recipe,
    RecipeError,
    RecipeProblem,
    RecipeRule,
    parse_recipe,
    parse_variables,
)
from deid.profiles.reviewer import (
    AcceptanceError,
    AcceptedDeviation,
    Finding,
    RecipeContradictionError,
    ReviewReport,
    Severity,
    rule_fingerprint,
)
from deid.profiles.rules import Addition, Rules, build_rules, row_action
from deid.profiles.safe_private import (
    SafePrivateError,
    SafePrivateList,
    load_safe_private,
    load_safe_private_file,
)
from deid.profiles.table import ProfileTable, TableRow, load_table
from deid.profiles.trial import (
    PatientNamePolicy,
    load_recipe_file,
    trial_recipe,
    trial_recipe_text,
)

__all__ = [
    "BASIC_PROFILE_CODE",
    "DEFAULT_TRIAL_OPTIONS",
    "AcceptanceError",
    "AcceptedDeviation",
    "Addition",
    "Directive",
    "EffectiveCode",
    "Finding",
    "MethodCode",
    "Option",
    "OptionDescription",
    "OptionError",
    "PatientNamePolicy",
    "ProfileTable",
    "PseudoClassDescription",
    "Recipe",
    "RecipeContradictionError",
    "RecipeError",
    "RecipeProblem",
    "RecipeRule",
    "ReviewReport",
    "Rules",
    "SafePrivateError",
    "SafePrivateList",
    "Severity",
    "TableRow",
    "build_rules",
    "check_recipe_file",
    "describe_options",
    "describe_pseudo_classes",
    "effective_code",
    "load_recipe_file",
    "load_safe_private",
    "load_safe_private_file",
    "load_table",
    "method_codes",
    "options_table",
    "parse_option",
    "parse_recipe",
    "parse_variables",
    "pseudo_classes_table",
    "review",
    "row_action",
    "rule_fingerprint",
    "trial_recipe",
    "trial_recipe_text",
    "validate_options",
]
