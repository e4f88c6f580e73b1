"""The rules: one :class:`~deid.actions.Action` for every element, at any depth.

:func:`build_rules` resolves PS3.15 Table E.1-1 under the selected options once,
into a dict keyed by tag; :meth:`Rules.action_for` then costs one dict lookup per
element in the common case. Most decisions depend only on the element's tag, VR
and private creator and are cached on ``(tag, vr, private_creator)``. Two kinds
depend on where the element sits (:mod:`deid.profiles.iod`), and are cached with
the SOP class and the enclosing sequences too: rows whose (option-resolved) code
is combined (X/Z, X/D, Z/D, X/Z/D, X/Z/U*: the attribute's Type in the object's
IOD decides), and unreviewed free text (removed, emptied or given a dummy by the
same Types).

Order of decision for one element:

1. private elements (odd groups): removed, or under Retain Safe Private kept when
   on the safe-private list (:mod:`deid.profiles.safe_private`);
2. a Table E.1-1 row (exact tag, curve, overlay data or comments); the table lists
   Media Storage SOP Instance UID (0002,0003) as U, which makes it follow the new
   SOP Instance UID (same original, same pseudonym);
3. the rest of the file meta (group 0002): :mod:`deid.profiles.file_meta`;
4. the rest of an overlay group follows its Overlay Data: an overlay without its
   data is not valid (Overlay Data is Type 1), so when the data goes, all goes;
5. a standard attribute not in the table (:mod:`deid.profiles.unlisted`).

A recipe layered on top (:mod:`deid.profiles.recipe`) then decides instead of the
profile wherever one of its rules selects the element (file meta excepted); the
reviewer (:mod:`deid.profiles.reviewer`) has made sure it contradicts the
profile only where the user accepted it. A recipe's KEEP of unreviewed free text
keeps it the way ``--keep-unreviewed-text`` does; the default trial recipe gives
pseudonyms only where the profile writes a value (never where a combined code
resolved to X).

What happens inside sequences the profile replaces with a dummy (D) or cleans (C):
:mod:`deid.profiles.sequences`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag

from deid.actions import Action, Code, ElementContext
from deid.profiles.codes import action_code, is_combined, resolve_by_type
from deid.profiles.file_meta import file_meta_action
from deid.profiles.iod import IodTypes, TypeFinding, load_iod_types
from deid.profiles.options import (
    EffectiveCode,
    MethodCode,
    Option,
    effective_code,
    method_codes,
    ordered,
    validate_options,
)
from deid.profiles.recipe import Directive, Recipe, RecipeIndex, RecipeRule
from deid.profiles.reviewer import (
    AcceptanceError,
    AcceptedDeviation,
    Finding,
    RecipeContradictionError,
    Severity,
    apply_acceptances,
    review_layers,
)
from deid.profiles.safe_private import SafePrivateList, load_safe_private
from deid.profiles.sequences import SequenceRules
from deid.profiles.table import ProfileTable, TableRow, is_overlay_group, load_table
from deid.profiles.tags import tag_vr
from deid.profiles.trial import PatientNamePolicy, trial_recipe
from deid.profiles.unlisted import UnlistedPolicy

_CACHE_LIMIT = 200_000
"""Distinct (tag, VR, creator) keys kept; real data has a few thousand at most."""


_NO_TYPE = TypeFinding(None, "no IOD given")
_OVERLAY_BITMAP = (
    "an overlay bitmap cannot be searched for burned-in text, so it cannot be cleaned: "
    "removed with its overlay group"
)


def row_action(
    row: TableRow, options: Iterable[Option], found: TypeFinding | None = None
) -> Action:
    """The action a Table E.1-1 row resolves to under ``options``, with its origin.

    A combined code is resolved by the attribute's Type ``found`` in the object's
    IOD (:mod:`deid.profiles.codes`); without one, as for an attribute in no IOD.
    """
    return _row_action(row, effective_code(row, options), found or _NO_TYPE)


def _row_action(row: TableRow, effective: EffectiveCode, found: TypeFinding) -> Action:
    single, why = resolve_by_type(effective.code, found)
    source = effective.option.title if effective.option else "PS3.15 Basic Profile"
    origin = f"{source}: {row.label()} {effective.code}"
    if why:
        origin += f" -> {single} ({why})"
    if effective.option is not None:
        origin += f"; Basic Profile {row.basic}"
    if effective.overruled:
        others = ", ".join(f"{o.title} {row.option_code(o.table_key)}" for o in effective.overruled)
        origin += f"; more conservative than {others}"
    return Action(action_code(single), origin, table_code=row.basic)


_DIRECTIVE_CODES = {
    Directive.KEEP: Code.KEEP,
    Directive.REMOVE: Code.REMOVE,
    Directive.BLANK: Code.BLANK,
    Directive.REPLACE: Code.REPLACE,
    Directive.ADD: Code.REPLACE,
    Directive.JITTER: Code.JITTER,
    Directive.PSEUDO: Code.PSEUDO,
}


def recipe_action(rule: RecipeRule, profile: Action) -> Action:
    """The action a recipe rule gives, naming the profile action it replaces."""
    return Action(
        _DIRECTIVE_CODES[rule.directive],
        f"{rule.where}: {rule.text} (profile: {profile.code.name})",
        table_code=profile.table_code,
        value=rule.value,
        pseudo_class=rule.pseudo_class,
        jitter_days=rule.jitter_days,
    )


@dataclass(frozen=True, slots=True)
class Addition:
    """An attribute a recipe ADDs at the top level when the file lacks it."""

    tag: int
    keyword: str
    vr: str
    value: str
    origin: str


class Rules:
    """Decides the action for every element; built by :func:`build_rules`."""

    def __init__(
        self,
        options: frozenset[Option],
        *,
        table: ProfileTable,
        safe_private: SafePrivateList,
        keep_unreviewed_text: bool,
        patient_name_policy: PatientNamePolicy,
        recipes: Sequence[Recipe] = (),
        accepted_deviations: Sequence[Finding] = (),
    ) -> None:
        self.options = options
        self.keep_unreviewed_text = keep_unreviewed_text
        self.patient_name_policy = patient_name_policy
        self.safe_private = safe_private
        self.table = table
        self.iod_types: IodTypes = load_iod_types()
        self.sequences = SequenceRules(self.iod_types)
        """Actions inside sequences replaced with a dummy (D) or cleaned (C)."""
        self._exact: dict[int, Action] = {}
        self._typed_rows: dict[int, tuple[TableRow, EffectiveCode]] = {}
        for row in table.rows:
            if row.tag is None:
                continue
            effective = effective_code(row, options)
            if is_combined(effective.code):
                self._typed_rows[row.tag] = (row, effective)
            else:
                self._exact[row.tag] = _row_action(row, effective, _NO_TYPE)
        self._curve = row_action(table.curve_row, options)
        self._overlay_data = row_action(table.overlay_data_row, options)
        if self._overlay_data.code is Code.CLEAN:
            self._overlay_data = Action(
                Code.REMOVE, f"{self._overlay_data.origin}; {_OVERLAY_BITMAP}", table_code="X"
            )
        self._overlay_comments = row_action(table.overlay_comments_row, options)
        self._private = row_action(table.private_row, options)
        self._unlisted = UnlistedPolicy(
            options, keep_unreviewed_text=keep_unreviewed_text, iod_types=self.iod_types
        )
        self._cache: dict[tuple[int, str, str | None], Action] = {}
        self._placed: dict[tuple[int, str, str | None, str, tuple[int, ...]], Action] = {}
        self._by_place = frozenset(self._typed_rows) | (
            frozenset() if keep_unreviewed_text else self._unlisted.typed_tags - self._exact.keys()
        )
        """Tags whose action depends on the SOP class and the enclosing sequences."""
        self.recipes = tuple(recipes)
        self._recipe = RecipeIndex(self.recipes) if self.recipes else None
        self.additions = self._additions()
        self.accepted_deviations = tuple(accepted_deviations)
        """Contradictions the user accepted, for the run report and the method text."""

    def action_for(self, ctx: ElementContext) -> Action:
        """The action for one element, wherever it sits (sequences, file meta)."""
        key = (ctx.tag, ctx.vr, ctx.private_creator)
        action = self._cache.get(key)
        if action is not None:
            return action
        if ctx.tag in self._by_place:
            placed = (*key, ctx.sop_class_uid, ctx.parents)
            action = self._placed.get(placed)
            if action is None:
                action = self._decide(ctx)
                if len(self._placed) < _CACHE_LIMIT:
                    self._placed[placed] = action
            return action
        action = self._decide(ctx)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[key] = action
        return action

    def known_action(self, tag: int, vr: str, private_creator: str | None) -> Action | None:
        """The action :meth:`action_for` decided before for an element like this one
        when that action does not depend on where the element sits, or ``None``: one
        lookup, for the engine's hot path."""
        return self._cache.get((tag, vr, private_creator))

    def _decide(self, ctx: ElementContext) -> Action:
        profile = self.profile_action(ctx)
        rule = self.recipe_rule(ctx)
        if rule is None:
            return profile
        if rule.directive is Directive.KEEP and profile.unreviewed_text:
            return self._unlisted.kept(ctx, f"{rule.where}: {rule.text}")
        if (
            profile.code is Code.REMOVE
            and rule.directive is Directive.PSEUDO
            and self.recipes[rule.layer].yields_to_removal
        ):
            return profile  # the trial recipe names people only where a value stays
        return recipe_action(rule, profile)

    def recipe_rule(self, ctx: ElementContext) -> RecipeRule | None:
        """The recipe rule that decides the element, if any (never for file meta)."""
        if self._recipe is None or ctx.tag >> 16 == 0x0002:
            return None
        keyword = ctx.keyword or keyword_for_tag(ctx.tag) or ""
        return self._recipe.rule_for(ctx.tag, keyword, ctx.private_creator, ctx.vr)

    def profile_action(self, ctx: ElementContext) -> Action:
        """What the profile and options alone decide for the element (no recipe)."""
        tag = ctx.tag
        group = tag >> 16
        if group & 1:
            return self._private_action(ctx)
        action = self._exact.get(tag)
        if action is not None:
            return action
        typed = self._typed_rows.get(tag)
        if typed is not None:
            found = self.iod_types.type_of(tag, ctx.parents, ctx.sop_class_uid)
            return _row_action(*typed, found)
        if group == 0x0002:
            return file_meta_action(tag)
        row = self.table.row_for(tag)
        if row is self.table.curve_row:
            return self._curve
        if row is self.table.overlay_data_row:
            return self._overlay_data
        if is_overlay_group(group) and self._overlay_data.code is Code.REMOVE:
            return Action(
                Code.REMOVE,
                f"overlay group {group:04X}: its Overlay Data is removed "
                f"({self._overlay_data.origin}), and an overlay without data is not valid",
                table_code=row.basic if row is not None else None,
            )
        if row is self.table.overlay_comments_row:
            return self._overlay_comments
        return self._unlisted.action_for(ctx)

    def _private_action(self, ctx: ElementContext) -> Action:
        if self._private.code is Code.REMOVE:
            return self._private
        # Retain Safe Private: C means keep what is known to be safe, remove the rest.
        return self.safe_private.action_for(
            ctx, self._private.origin, retain_uids=Option.RETAIN_UIDS in self.options
        )

    def _additions(self) -> tuple[Addition, ...]:
        if self._recipe is None:
            return ()
        additions = []
        for rule in self._recipe.rules:
            if rule.directive is not Directive.ADD or rule.tag is None:
                continue
            keyword = keyword_for_tag(rule.tag) or ""
            winner = self._recipe.rule_for(rule.tag, keyword, None)
            if winner is rule:
                vr = tag_vr(rule.tag) or "UN"
                origin = f"{rule.where}: {rule.text}"
                additions.append(Addition(rule.tag, keyword, vr, rule.value or "", origin))
        return tuple(additions)

    def method_codes(self) -> tuple[MethodCode, ...]:
        """De-identification Method Code Sequence items: the profile, then each option."""
        return method_codes(self.options)

    def option_titles(self) -> tuple[str, ...]:
        """The selected options' names, in Table E.1-1 column order."""
        return tuple(option.title for option in ordered(self.options))

    def method_description(self) -> tuple[str, ...]:
        """Values for De-identification Method (0012,0063), LO: each at most 64
        characters. The profile, each option, each recipe, each accepted deviation."""
        values = ["PS3.15 Basic Application Confidentiality Profile", *self.option_titles()]
        values += [f"recipe: {recipe.source}" for recipe in self.recipes]
        values += [
            f"accepted deviation: {f.source} line {f.line}" for f in self.accepted_deviations
        ]
        return tuple(value[:64] for value in values)


def build_rules(
    options: Iterable[Option | str],
    *,
    keep_unreviewed_text: bool = False,
    patient_name_policy: PatientNamePolicy = PatientNamePolicy.PSEUDONYM,
    safe_private: SafePrivateList | None = None,
    recipe: Recipe | Sequence[Recipe] | None = None,
    accepted_deviations: Iterable[AcceptedDeviation | str] = (),
    with_trial_recipe: bool = False,
) -> Rules:
    """The rules for the Basic Profile plus ``options``, with ``recipe`` on top.

    ``options`` are :class:`Option` members or their names (full and modified dates
    exclude each other: :class:`~deid.profiles.options.OptionError`). Standard
    attributes outside Table E.1-1 that can carry free text and are not on the
    reviewed list are removed (emptied or given a dummy where the IOD needs them);
    ``keep_unreviewed_text`` keeps them instead, with the dates in them moved and
    a value naming the patient removed whole.
    ``safe_private`` replaces the shipped PS3.15 Table E.3.10-1 list used under
    Retain Safe Private. ``recipe`` is one recipe or layers of recipes, later
    layers winning (e.g. ``[trial_recipe(policy), user_recipe]``).
    ``with_trial_recipe`` puts the default trial recipe, under
    ``patient_name_policy``, beneath them (what ``deid run`` does).

    A recipe is reviewed first (:mod:`deid.profiles.reviewer`): every contradiction
    must be accepted with ``accepted_deviations`` (``LINE:FINGERPRINT`` of the last
    layer, as ``deid profile check`` prints them), or
    :class:`~deid.profiles.reviewer.RecipeContradictionError` is raised listing the
    rest. An acceptance matching no contradiction raises
    :class:`~deid.profiles.reviewer.AcceptanceError`.
    """
    chosen = validate_options(options)
    recipes: tuple[Recipe, ...] = (
        () if recipe is None else (recipe,) if isinstance(recipe, Recipe) else tuple(recipe)
    )
    if with_trial_recipe:
        recipes = (trial_recipe(patient_name_policy), *recipes)
    table = load_table()
    safe_list = safe_private if safe_private is not None else load_safe_private()
    profile = Rules(
        chosen,
        table=table,
        safe_private=safe_list,
        keep_unreviewed_text=keep_unreviewed_text,
        patient_name_policy=patient_name_policy,
    )
    acceptances = list(accepted_deviations)
    if not recipes:
        if acceptances:
            raise AcceptanceError("--accept-deviation needs a recipe whose lines it accepts")
        return profile
    findings = review_layers(recipes, profile)
    accepted, refused = apply_acceptances(findings, acceptances, recipes[-1].source)
    refused += [f for f in findings if f.severity is Severity.INVALID]
    if refused:
        raise RecipeContradictionError(refused)
    return Rules(
        chosen,
        table=table,
        safe_private=safe_list,
        keep_unreviewed_text=keep_unreviewed_text,
        patient_name_policy=patient_name_policy,
        recipes=recipes,
        accepted_deviations=accepted,
    )
