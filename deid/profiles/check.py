"""``deid profile check``: a recipe file reviewed under the profile and options it would run with.

The reviewer (:mod:`deid.profiles.reviewer`) judges recipe rules against a
profile's rules; here those rules are built (:func:`~deid.profiles.rules.build_rules`)
and the recipe file read, so that neither of those modules needs the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from deid.profiles.options import Option
from deid.profiles.recipe import Recipe, RecipeError
from deid.profiles.reviewer import (
    AcceptanceError,
    AcceptedDeviation,
    Finding,
    ReviewReport,
    Severity,
    apply_acceptances,
    review_layers,
)
from deid.profiles.rules import build_rules
from deid.profiles.safe_private import SafePrivateList
from deid.profiles.trial import PatientNamePolicy, load_recipe_file, trial_recipe


def review(
    recipe: Recipe | Sequence[Recipe],
    options: Iterable[Option | str],
    *,
    safe_private: SafePrivateList | None = None,
    keep_unreviewed_text: bool = False,
) -> list[Finding]:
    """Every finding about ``recipe`` (one recipe or layers) under ``options``."""
    recipes = (recipe,) if isinstance(recipe, Recipe) else tuple(recipe)
    profile = build_rules(
        options, safe_private=safe_private, keep_unreviewed_text=keep_unreviewed_text
    )
    return review_layers(recipes, profile)


def check_recipe_file(
    path: Path,
    options: Iterable[Option | str],
    *,
    variables: dict[str, str] | None = None,
    safe_private: SafePrivateList | None = None,
    keep_unreviewed_text: bool = False,
    patient_name_policy: PatientNamePolicy | None = None,
    with_trial_recipe: bool = True,
    accepted_deviations: Iterable[AcceptedDeviation | str] = (),
) -> ReviewReport:
    """Review a recipe file as ``deid run`` would use it (``deid profile check FILE``).

    The file is layered on the default trial recipe unless ``with_trial_recipe``
    is false. A recipe that cannot be read gives non-acceptable error findings
    instead of raising. Contradictions matched by ``accepted_deviations`` are
    reported as warnings ("accepted deviation"); a stale acceptance is an error.
    """
    try:
        recipe = load_recipe_file(path, variables)
    except RecipeError as exc:
        findings = tuple(
            Finding(Severity.INVALID, p.source, p.line, p.text, p.message) for p in exc.problems
        )
        return ReviewReport(path.name, findings)
    layers = [recipe]
    if with_trial_recipe:
        layers.insert(0, trial_recipe(patient_name_policy or PatientNamePolicy.PSEUDONYM))
    found = review(
        layers, options, safe_private=safe_private, keep_unreviewed_text=keep_unreviewed_text
    )
    try:
        accepted, _ = apply_acceptances(found, accepted_deviations, recipe.source)
    except AcceptanceError as exc:
        found.append(Finding(Severity.INVALID, recipe.source, 0, "", str(exc)))
        accepted = []
    shown = [
        Finding(Severity.WARNING, f.source, f.line, f.rule_text, f"accepted deviation: {f.message}")
        if f in accepted
        else f
        for f in found
    ]
    return ReviewReport(path.name, tuple(shown))
