"""The rule settings of a run: what every worker builds its rules and engine from.

Built once per process for the same settings and file contents (the parent's
check, then each worker: forked workers inherit it); compared between runs into
one OUTPUT by their fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deid.engine import EngineSettings, PayloadPolicy
from deid.profiles import (
    PatientNamePolicy,
    Rules,
    build_rules,
    load_recipe_file,
    load_safe_private_file,
)


@dataclass(frozen=True)
class RuleSettings:
    """What every worker builds its rules and engine from (picklable, compared on resume).

    The parent builds the rules once before any worker starts
    (:meth:`build_rules`), so a bad recipe or option stops the run before it begins.
    """

    options: tuple[str, ...] = ()
    recipe: Path | None = None
    variables: tuple[tuple[str, str], ...] = ()
    accepted_deviations: tuple[str, ...] = ()
    safe_private: Path | None = None
    keep_unreviewed_text: bool = False
    patient_name: str = PatientNamePolicy.PSEUDONYM.value
    burned_in_annotation: str = PayloadPolicy.QUARANTINE.value
    encapsulated_documents: str = PayloadPolicy.QUARANTINE.value

    def build_rules(self) -> Rules:
        """The run's rules: profile and options, the default trial recipe, the recipe.

        Raises the rules' own errors (unknown option, unreadable or contradicting
        recipe, bad safe-private file), whose messages say what to fix. Built once per
        process for the same settings and file contents (the parent's check, then
        the worker; forked workers inherit it).
        """
        try:
            key = (self, _file_digest(self.recipe), _file_digest(self.safe_private))
        except OSError:
            return self._build_rules()  # which says what is wrong with the file
        built = _BUILT_RULES.get(key)
        if built is None:
            built = self._build_rules()
            _BUILT_RULES.clear()  # one run's rules at a time
            _BUILT_RULES[key] = built
        return built

    def _build_rules(self) -> Rules:
        recipe = load_recipe_file(self.recipe, dict(self.variables)) if self.recipe else None
        safe_private = load_safe_private_file(self.safe_private) if self.safe_private else None
        return build_rules(
            self.options,
            keep_unreviewed_text=self.keep_unreviewed_text,
            patient_name_policy=PatientNamePolicy(self.patient_name),
            safe_private=safe_private,
            recipe=recipe,
            accepted_deviations=self.accepted_deviations,
            with_trial_recipe=True,
        )

    def engine_settings(self) -> EngineSettings:
        """What the engine does with payloads it cannot clean."""
        return EngineSettings(
            burned_in_annotation=PayloadPolicy(self.burned_in_annotation),
            encapsulated_documents=PayloadPolicy(self.encapsulated_documents),
        )

    def fingerprint(self) -> dict[str, Any]:
        """The settings as compared between runs; files by their content."""
        return {
            "options": sorted(self.options),
            "recipe_sha256": _file_digest(self.recipe),
            "variables": sorted(f"{k}={v}" for k, v in self.variables),
            "accepted_deviations": sorted(self.accepted_deviations),
            "safe_private_sha256": _file_digest(self.safe_private),
            "keep_unreviewed_text": self.keep_unreviewed_text,
            "patient_name": self.patient_name,
            "burned_in_annotation": self.burned_in_annotation,
            "encapsulated_documents": self.encapsulated_documents,
        }


_BUILT_RULES: dict[tuple[RuleSettings, str | None, str | None], Rules] = {}


def _file_digest(path: Path | None) -> str | None:
    return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()
