"""Recipes: pydicom/deid header recipes plus ``PSEUDO``, layered on the profile.

The language (see the README's "Recipes" section for examples)::

    FORMAT dicom
    %header
    KEEP    SeriesDescription
    REMOVE  contains:Comment
    BLANK   (0008,0090)
    REPLACE InstitutionName var:site_name
    ADD     PatientIdentityRemoved YES
    JITTER  StudyDate -7
    PSEUDO  AccessionNumber ID_ALPHANUMERICAL
    REMOVE  (0019,"ACME CT",10)

- Directives (any case): ``ADD``, ``BLANK``, ``KEEP``, ``REMOVE``, ``REPLACE``,
  ``JITTER`` (whole days, may be negative), ``PSEUDO`` (a class of
  :mod:`deid.pseudo`).
- Fields: a keyword, ``(gggg,eeee)``, ``ggggeeee``, a private attribute
  ``(gggg,"Creator",ee)``, or a field expression as in deid: ``all``/``ALL`` and
  ``allfields`` (every attribute), ``contains:RE``, ``startswith:RE``,
  ``endswith:RE``, ``except:RE`` (every attribute that does not match). ``RE`` is a
  case-insensitive regular expression (``contains:Patient|Physician``) matched
  against the keyword and the tag written ``ggggeeee``. Expressions select standard
  attributes only: private attributes are named one by one, and the file meta
  (group 0002) belongs to the de-identifier.
- Values: the rest of the line (``#`` starts a comment), or ``var:NAME`` from
  ``--var NAME=VALUE``. ``func:`` and ``deid_func:`` call Python in deid; here
  they are refused with the feature that replaces them.
- ``%filter``, ``%labels``, ``%fields`` and ``%values`` sections are read and
  reported as not applied to the header (:attr:`Recipe.unapplied_sections`).

Precedence, per element: a later recipe layer beats an earlier one (the user's
recipe beats the default trial recipe); within a layer, a rule naming the exact
tag beats a field expression; among equals, the later line wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from pydicom.valuerep import validate_value

from deid.contract.errors import UsageError
from deid.profiles.tags import (
    PrivateTag,
    TagError,
    format_tag,
    parse_private_tag,
    parse_tag,
    tag_vr,
)
from deid.pseudo import PSEUDO_CLASSES

RECIPE_SECTIONS = ("header", "filter", "labels", "fields", "values")


class Directive(Enum):
    """What a header rule does."""

    ADD = "ADD"
    BLANK = "BLANK"
    KEEP = "KEEP"
    REMOVE = "REMOVE"
    REPLACE = "REPLACE"
    JITTER = "JITTER"
    PSEUDO = "PSEUDO"


_NEEDS_VALUE = {Directive.ADD, Directive.REPLACE, Directive.JITTER, Directive.PSEUDO}
_EXACT_ONLY = {Directive.ADD, Directive.PSEUDO}
_EXPANDERS = ("contains", "startswith", "endswith", "except")
_ALL = ("all", "allfields")
_FUNC_HELP = (
    "recipes here run no Python: use PSEUDO <field> <CLASS> for consistent pseudonyms, "
    "the profile's UID replacement (U) for UIDs, and the Modified Dates option or "
    "JITTER for dates"
)


@dataclass(frozen=True, slots=True)
class FieldExpression:
    """A deid field expression: ``all``, ``contains:RE``, ``except:RE``..."""

    kind: str
    pattern: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> FieldExpression:
        """Parse ``text``; :class:`ValueError` for an unknown expander or a bad regex."""
        if text.lower() in _ALL:
            return cls("all", "")
        kind, _, pattern = text.partition(":")
        kind = kind.lower()
        if kind not in _EXPANDERS:
            raise ValueError(
                f"unknown field expression {text!r}; use all, "
                + ", ".join(f"{k}:RE" for k in _EXPANDERS)
            )
        if not pattern:
            raise ValueError(f"{kind}: needs a regular expression after the colon")
        regex = {"startswith": f"^(?:{pattern})", "endswith": f"(?:{pattern})$"}.get(kind, pattern)
        try:
            compiled = re.compile(regex, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from None
        return cls(kind, pattern, compiled)

    def matches(self, tag: int, keyword: str) -> bool:
        """True when the attribute (standard, outside group 0002) is selected."""
        if tag >> 16 & 1 or tag >> 16 == 0x0002:
            return False
        if self._regex is None:
            return True
        found = bool((keyword and self._regex.search(keyword)) or self._regex.search(f"{tag:08X}"))
        return not found if self.kind == "except" else found

    def __str__(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}:{self.pattern}"


@dataclass(frozen=True, slots=True)
class RecipeRule:
    """One header rule, with where it was written."""

    directive: Directive
    source: str
    line: int
    text: str
    """The rule as written (comment removed, spaces collapsed)."""
    tag: int | None = None
    private: PrivateTag | None = None
    expression: FieldExpression | None = None
    value: str | None = None
    """REPLACE/ADD value, ``var:`` resolved."""
    pseudo_class: str | None = None
    jitter_days: int | None = None
    layer: int = 0

    @property
    def is_exact(self) -> bool:
        """True for a rule naming one attribute (not a field expression)."""
        return self.expression is None

    @property
    def where(self) -> str:
        """``trial.recipe line 12``: how origins and findings name the rule."""
        return f"{self.source} line {self.line}"

    def target(self) -> str:
        """The field as written: keyword, tag, private tag or expression."""
        return self.text.split(None, 2)[1]

    def matches(self, tag: int, keyword: str, private_creator: str | None) -> bool:
        """True when this rule selects the element."""
        if self.private is not None:
            return self.private.matches(tag, private_creator)
        if self.expression is not None:
            return self.expression.matches(tag, keyword)
        return tag == self.tag

    def with_layer(self, layer: int) -> RecipeRule:
        """This rule placed in recipe layer ``layer`` (higher wins)."""
        return replace(self, layer=layer)


@dataclass(frozen=True, slots=True)
class UnappliedSection:
    """A section read but not applied to the header (``%filter``, ``%labels``...)."""

    source: str
    line: int
    name: str
    lines: int


@dataclass(frozen=True, slots=True)
class RecipeProblem:
    """One problem found while reading a recipe."""

    source: str
    line: int
    text: str
    message: str

    def __str__(self) -> str:
        written = f" ({self.text})" if self.text else ""
        return f"{self.source} line {self.line}: {self.message}{written}"


class RecipeError(UsageError, ValueError):
    """A recipe that cannot be used; lists every problem with its line number."""

    def __init__(self, problems: Sequence[RecipeProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        listing = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"the recipe has {count} problem{'s' * (count != 1)}:\n{listing}")


@dataclass(frozen=True)
class Recipe:
    """Parsed header rules, in order, with the sections that are not applied."""

    source: str
    rules: tuple[RecipeRule, ...]
    unapplied_sections: tuple[UnappliedSection, ...] = ()
    yields_to_removal: bool = False
    """Its PSEUDO rules apply only where the profile keeps a value: where the profile
    removes the attribute (a combined code resolved to X), it stays removed. The
    default trial recipe is such a recipe; a user's recipe decides instead."""

    def rule_at(self, line: int) -> RecipeRule | None:
        """The rule written on ``line`` of this recipe, if any."""
        return next((r for r in self.rules if r.line == line), None)


def _precedence(rule: RecipeRule) -> tuple[int, int, int]:
    return (rule.layer, int(rule.is_exact), rule.line)


class RecipeIndex:
    """Finds the winning rule for an element among layered recipes."""

    def __init__(self, recipes: Sequence[Recipe]) -> None:
        self.recipes = tuple(recipes)
        self.rules = tuple(
            rule.with_layer(layer) for layer, recipe in enumerate(recipes) for rule in recipe.rules
        )
        self._exact: dict[int, RecipeRule] = {}
        self._private: list[RecipeRule] = []
        self._expressions: list[RecipeRule] = []
        for rule in self.rules:
            if rule.private is not None:
                self._private.append(rule)
            elif rule.tag is not None:
                current = self._exact.get(rule.tag)
                if current is None or _precedence(rule) > _precedence(current):
                    self._exact[rule.tag] = rule
            else:
                self._expressions.append(rule)

    def rule_for(
        self, tag: int, keyword: str, private_creator: str | None, vr: str | None = None
    ) -> RecipeRule | None:
        """The rule that decides the element, or ``None`` to leave it to the profile.

        ``vr`` lets expression rules skip attributes they cannot act on (JITTER only
        moves dates; REPLACE only writes a value valid for the VR).
        """
        candidates: list[RecipeRule] = []
        if tag >> 16 & 1:
            candidates = [r for r in self._private if r.matches(tag, keyword, private_creator)]
        else:
            exact = self._exact.get(tag)
            if exact is not None:
                candidates.append(exact)
            candidates.extend(
                r
                for r in self._expressions
                if r.matches(tag, keyword, None) and applies_to_vr(r, vr or tag_vr(tag))
            )
        return max(candidates, key=_precedence, default=None)


def applies_to_vr(rule: RecipeRule, vr: str | None) -> bool:
    """Whether an expression rule can act on an attribute of VR ``vr``."""
    if rule.directive is Directive.JITTER:
        return vr in ("DA", "DT")
    if rule.directive is Directive.REPLACE:
        return vr is not None and value_problem(rule.value or "", vr) is None
    return True


def value_problem(value: str, vr: str) -> str | None:
    """Why ``value`` cannot be written with VR ``vr`` (``None`` when it can)."""
    if vr == "SQ":
        return "a sequence cannot hold a text value"
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT", "US", "SS", "UL", "SL"):
        if vr in ("US", "SS", "UL", "SL") and re.fullmatch(r"-?\d+", value):
            return None
        return f"a {vr} value cannot be written from recipe text"
    try:
        validate_value(vr, value, validation_mode=2)
    except ValueError as exc:
        return str(exc)
    return None


def _split_field(rest: str) -> tuple[str, str]:
    """The field token and the remainder; a private tag may contain spaces."""
    if rest.startswith("(") and '"' in rest.split(")", 1)[0]:
        close_quote = rest.find('"', rest.find('"') + 1)
        close = rest.find(")", close_quote)
        if close_quote > 0 and close > 0:
            return rest[: close + 1], rest[close + 1 :].strip()
    token, _, remainder = rest.partition(" ")
    return token, remainder.strip()


class _Parser:
    def __init__(self, source: str, variables: Mapping[str, str]) -> None:
        self.source = source
        self.variables = variables
        self.problems: list[RecipeProblem] = []
        self.rules: list[RecipeRule] = []
        self.unapplied: list[UnappliedSection] = []

    def problem(self, line: int, text: str, message: str) -> None:
        self.problems.append(RecipeProblem(self.source, line, text, message))

    def parse(self, text: str) -> Recipe:
        section: str | None = None
        seen_format = False
        open_section: list[int | str] | None = None  # [line, name, count]
        for number, raw in enumerate(text.splitlines(), start=1):
            line = " ".join(raw.split("#", 1)[0].split())
            if not line:
                continue
            head = line.split(" ", 1)[0]
            if head.upper() == "FORMAT":
                fmt = line[len(head) :].strip().lower()
                if fmt != "dicom":
                    self.problem(number, line, f"format {fmt!r} is not supported; use FORMAT dicom")
                seen_format = True
                continue
            if line.startswith("%"):
                name = head[1:].lower()
                if name not in RECIPE_SECTIONS:
                    self.problem(
                        number, line, f"unknown section %{name}; known: %header, %filter, "
                        "%labels, %fields, %values",
                    )  # fmt: skip
                if open_section is not None:
                    self._close(open_section)
                section = name
                open_section = None if name == "header" else [number, line, 0]
                continue
            if section is None:
                self.problem(number, line, "rule outside a section: put %header before it")
                continue
            if section != "header":
                if open_section is not None:
                    open_section[2] = int(open_section[2]) + 1
                continue
            self.rule(number, line)
        if open_section is not None:
            self._close(open_section)
        if not seen_format:
            self.problems.insert(0, RecipeProblem(self.source, 1, "", "missing FORMAT dicom line"))
        if self.problems:
            raise RecipeError(self.problems)
        return Recipe(self.source, tuple(self.rules), tuple(self.unapplied))

    def _close(self, open_section: list[int | str]) -> None:
        line, name, count = open_section
        self.unapplied.append(UnappliedSection(self.source, int(line), str(name), int(count)))

    def resolve(self, number: int, line: str, value: str) -> str | None:
        lowered = value.lower()
        if lowered.startswith(("func:", "deid_func:")):
            self.problem(number, line, f"{value.split(':', 1)[0]}: is not supported: {_FUNC_HELP}")
            return None
        if lowered.startswith("var:"):
            name = value[4:].strip()
            if name not in self.variables:
                self.problem(number, line, f"var:{name} has no value: pass --var {name}=VALUE")
                return None
            return self.variables[name]
        return value

    def rule(self, number: int, line: str) -> None:
        word, _, rest = line.partition(" ")
        try:
            directive = Directive(word.upper())
        except ValueError:
            known = ", ".join(d.value for d in Directive)
            self.problem(number, line, f"unknown directive {word!r}; known: {known}")
            return
        if not rest:
            self.problem(number, line, f"{directive.value} needs a field")
            return
        field_text, value_text = _split_field(rest)
        text = f"{directive.value} {field_text}" + (f" {value_text}" if value_text else "")
        target = self.target(number, text, directive, field_text)
        if target is None:
            return
        tag, private, expression = target
        if directive in _NEEDS_VALUE and not value_text:
            self.problem(number, text, f"{directive.value} needs a value after the field")
            return
        if directive is Directive.REMOVE and value_text:
            resolved = self.resolve(number, text, value_text)
            if resolved is not None:
                self.problem(number, text, "REMOVE takes no value (deid's conditional REMOVE "
                             "needs func:, which is not supported)")  # fmt: skip
            return
        value = self.resolve(number, text, value_text) if value_text else None
        if value_text and value is None:
            return
        rule = RecipeRule(directive, self.source, number, text, tag, private, expression)
        self.rules.append(self.complete(rule, value))

    def target(
        self, number: int, text: str, directive: Directive, field_text: str
    ) -> tuple[int | None, PrivateTag | None, FieldExpression | None] | None:
        try:
            if field_text.startswith("(") and '"' in field_text:
                return None, parse_private_tag(field_text), None
            if ":" in field_text or field_text.lower() in _ALL:
                if directive in _EXACT_ONLY:
                    self.problem(number, text, f"{directive.value} needs one attribute, "
                                 "not a field expression")  # fmt: skip
                    return None
                return None, None, FieldExpression.parse(field_text)
            tag = parse_tag(field_text)
        except (TagError, ValueError) as exc:
            self.problem(number, text, str(exc))
            return None
        if tag >> 16 == 0x0002:
            self.problem(number, text, "the file meta (group 0002) belongs to the de-identifier")
            return None
        if tag >> 16 & 1:
            self.problem(
                number, text, f'{format_tag(tag)} is private: name it as (gggg,"Creator",ee)'
            )
            return None
        if tag_vr(tag) is None:
            self.problem(number, text, f"{format_tag(tag)} is not in the DICOM dictionary")
            return None
        return tag, None, None

    def complete(self, rule: RecipeRule, value: str | None) -> RecipeRule:
        """Check and store the directive's value."""
        number, text = rule.line, rule.text
        vr = tag_vr(rule.tag) if rule.tag is not None else None
        if rule.directive is Directive.JITTER:
            if value is None or not re.fullmatch(r"[+-]?\d{1,5}", value.strip()):
                self.problem(number, text, f"JITTER needs whole days (e.g. -30), not {value!r}")
                return rule
            if vr is not None and vr not in ("DA", "DT"):
                self.problem(number, text, f"JITTER moves dates: {rule.target()} is {vr}")
            return replace(rule, jitter_days=int(value))
        if rule.directive is Directive.PSEUDO:
            name = (value or "").strip().upper()
            if name not in PSEUDO_CLASSES:
                known = ", ".join(sorted(PSEUDO_CLASSES))
                self.problem(number, text, f"unknown PSEUDO class {value!r}; known: {known}")
            return replace(rule, pseudo_class=name)
        if rule.directive in (Directive.REPLACE, Directive.ADD) and value is not None:
            if vr is not None:
                problem = value_problem(value, vr)
                if problem:
                    self.problem(number, text, f"value not valid for {vr}: {problem}")
            return replace(rule, value=value)
        return rule


def parse_recipe(
    text: str, source: str = "recipe", variables: Mapping[str, str] | None = None
) -> Recipe:
    """Parse recipe ``text``; :class:`RecipeError` lists every problem with its line.

    ``source`` names the recipe in origins and findings (a file name); ``variables``
    resolve ``var:NAME`` values (``--var NAME=VALUE``).
    """
    return _Parser(source, variables or {}).parse(text)


class VariableError(UsageError, ValueError):
    """A ``--var`` that is not ``NAME=VALUE``."""


def parse_variables(pairs: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (``--var``) as a dict; :class:`VariableError` if malformed."""
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise VariableError(f"--var takes NAME=VALUE, not {pair!r}")
        variables[name.strip()] = value
    return variables
