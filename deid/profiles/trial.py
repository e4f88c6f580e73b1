"""The default trial recipe and the patient name policy it follows."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path

from deid.profiles.recipe import Recipe, RecipeError, RecipeProblem, parse_recipe
from deid.profiles.table import read_data

TRIAL_RECIPE_FILE = "trial.recipe"
TRIAL_RECIPE_SOURCE = "default trial recipe"


class PatientNamePolicy(Enum):
    """What Patient's Name becomes in a trial (``--patient-name``)."""

    PSEUDONYM = "pseudonym"
    """A realistic FULL_NAME pseudonym, the same for the patient everywhere."""
    SUBJECT_ID = "subject-id"
    """The patient's trial subject ID."""

    @property
    def pseudo_class(self) -> str:
        """The PSEUDO class Patient's Name gets under this policy."""
        return "FULL_NAME" if self is PatientNamePolicy.PSEUDONYM else "SUBJECT_ID"


def trial_recipe(policy: PatientNamePolicy = PatientNamePolicy.PSEUDONYM) -> Recipe:
    """The shipped default trial recipe (``data/trial.recipe``) under ``policy``."""
    recipe = parse_recipe(
        read_data(TRIAL_RECIPE_FILE),
        TRIAL_RECIPE_SOURCE,
        {"patient_name_class": policy.pseudo_class},
    )
    return replace(recipe, yields_to_removal=True)


def trial_recipe_text() -> str:
    """The default trial recipe as shipped, for ``deid inspect`` and the README."""
    return read_data(TRIAL_RECIPE_FILE)


def load_recipe_file(path: Path, variables: dict[str, str] | None = None) -> Recipe:
    """Read and parse a recipe file; problems (unreadable file included) raise
    :class:`~deid.profiles.recipe.RecipeError` with line numbers."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(
            [RecipeProblem(path.name, 0, "", f"cannot read the recipe: {exc}")]
        ) from exc
    return parse_recipe(text, path.name, variables)
