"""The profile reviewer: which recipe rules contradict the profile and options.

A recipe may do more than the profile (remove, blank or pseudonymize more), but
not less. Each rule is compared, attribute by attribute, with what the selected
profile and options would do without the recipe; field expressions are expanded
over Table E.1-1 and the DICOM dictionary, and only the attributes where the rule
actually wins (precedence of :mod:`deid.profiles.recipe`) count.

Severities:

- ``error``, acceptable: a contradiction (keeping or writing what the profile
  removes, replaces or cleans; BLANK on a UID or on a Type 1 dummy; a date kept
  where the profile wants none). :func:`~deid.profiles.rules.build_rules`
  refuses to run until each such line is fixed or accepted with
  ``--accept-deviation LINE:FINGERPRINT``. The
  fingerprint is a hash of the rule's text, so editing the line revokes the
  acceptance and the new rule is reviewed again.
- ``invalid``: the recipe cannot be read (unknown tag, class or directive...) or
  a rule cannot be carried out (a PSEUDO class whose values are not valid for the
  attribute's VR); it must be fixed, it cannot be accepted.
- ``warning``: allowed, but probably not what was meant (removing what an option
  promises to keep, one UID or one date shift for everyone).
- ``info``: sections that are not applied to the header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pydicom.datadict import DicomDictionary, RepeatersDictionary, keyword_for_tag

from deid.actions import Action, Code, ElementContext
from deid.contract.errors import UsageError
from deid.profiles.recipe import Directive, Recipe, RecipeIndex, RecipeRule, applies_to_vr
from deid.profiles.table import ProfileTable
from deid.profiles.tags import describe_tag, tag_vr
from deid.pseudo import PSEUDO_CLASSES, Derivation


class ProfileRules(Protocol):
    """What the reviewer asks of the profile's own rules (a recipe-less
    :class:`~deid.profiles.rules.Rules`): the table, and the action without recipes."""

    table: ProfileTable

    def profile_action(self, ctx: ElementContext) -> Action:
        """What the profile and options alone do with the element."""
        ...


_LISTED_ATTRIBUTES = 8
_VERB = {
    Code.REMOVE: "removes (X)",
    Code.ZERO: "empties (Z)",
    Code.DUMMY: "replaces with a dummy value (D)",
    Code.CLEAN: "cleans (C)",
    Code.UID: "replaces with a new UID (U)",
}


class Severity(Enum):
    """How serious a finding is."""

    ERROR = "error"
    INVALID = "invalid"
    """The rule cannot be carried out (a value the VR cannot hold): fix it."""
    WARNING = "warning"
    INFO = "info"


_BLOCKING = frozenset({Severity.ERROR, Severity.INVALID})


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the reviewer has to say about one recipe line."""

    severity: Severity
    source: str
    line: int
    rule_text: str
    message: str
    acceptable: bool = False
    """A contradiction the user may accept (``--accept-deviation``)."""
    attributes: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """8 hex digits of SHA-256 over the rule text: ties an acceptance to it."""
        return rule_fingerprint(self.rule_text)

    @property
    def acceptance(self) -> str:
        """The ``--accept-deviation`` argument that accepts this finding."""
        return f"{self.line}:{self.fingerprint}"

    def __str__(self) -> str:
        """One line: ``site.recipe line 12: KEEP PatientName``."""
        return f"{self.source} line {self.line}: {self.rule_text or self.message}"

    def render(self) -> str:
        """Severity, message, rule and how to accept it, for people."""
        text = f"{self.source} line {self.line}: {self.severity.value}: {self.message}"
        if self.rule_text:
            text += f"\n    rule: {self.rule_text}"
        if self.acceptable:
            text += f"\n    to accept this deviation: --accept-deviation {self.acceptance}"
        return text


def rule_fingerprint(rule_text: str) -> str:
    """The fingerprint of a rule's text (spaces collapsed)."""
    normalized = " ".join(rule_text.split())
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:8]


class RecipeContradictionError(UsageError, ValueError):
    """A recipe contradicts the profile where the user has not accepted it."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        listing = "\n".join(f.render() for f in self.findings)
        super().__init__(
            f"the recipe contradicts the profile in {len(self.findings)} place"
            f"{'s' * (len(self.findings) != 1)}; fix each line or accept it:\n{listing}"
        )


class AcceptanceError(UsageError, ValueError):
    """An ``--accept-deviation`` that is malformed or matches no contradiction."""


@dataclass(frozen=True, slots=True)
class AcceptedDeviation:
    """``--accept-deviation LINE:FINGERPRINT``."""

    line: int
    fingerprint: str

    @classmethod
    def parse(cls, text: str) -> AcceptedDeviation:
        """Parse ``LINE:FINGERPRINT`` (as the reviewer prints it)."""
        line, sep, fingerprint = text.strip().partition(":")
        if not sep or not line.isdigit() or len(fingerprint) != 8:
            raise AcceptanceError(
                f"--accept-deviation takes LINE:FINGERPRINT as `deid profile check` prints "
                f"it (e.g. 12:3fa9c2d1), not {text!r}"
            )
        return cls(int(line), fingerprint.lower())


@dataclass(frozen=True)
class ReviewReport:
    """What ``deid profile check FILE`` prints, and its exit status."""

    source: str
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that stop a run."""
        return tuple(f for f in self.findings if f.severity in _BLOCKING)

    @property
    def ok(self) -> bool:
        """True when the recipe can run as it is."""
        return not self.errors

    @property
    def exit_status(self) -> int:
        """0 when the recipe can run, 1 when it contradicts the profile or is broken."""
        return 0 if self.ok else 1

    def render(self) -> str:
        """Human-readable report, one finding per paragraph, then a summary line."""
        lines = [f.render() for f in self.findings]
        counts = {s: sum(f.severity is s for f in self.findings) for s in Severity}
        counts[Severity.ERROR] += counts[Severity.INVALID]
        verdict = "OK: the recipe can run" if self.ok else "NOT OK: the recipe cannot run"
        lines.append(
            f"{self.source}: {verdict} ({counts[Severity.ERROR]} errors, "
            f"{counts[Severity.WARNING]} warnings, {counts[Severity.INFO]} notes)"
        )
        return "\n".join(lines)


def _kept_by_option(profile: Action) -> bool:
    return profile.code is Code.KEEP and profile.table_code not in (None, "K")


def _verdict(rule: RecipeRule, vr: str | None, profile: Action) -> tuple[Severity, str] | None:
    """How ``rule`` relates to the profile's ``action`` for one attribute."""
    directive, code = rule.directive, profile.code
    if directive is Directive.PSEUDO and rule.pseudo_class in PSEUDO_CLASSES:
        pseudo = PSEUDO_CLASSES[rule.pseudo_class]
        if vr is not None and not pseudo.accepts(vr):
            return Severity.INVALID, f"PSEUDO {pseudo.name} cannot produce a valid {vr} value"
        if pseudo.derivation is Derivation.DATE_OFFSET and code in (Code.ZERO, Code.DUMMY):
            return Severity.ERROR, (
                "keeps a shifted date where the profile keeps none; select "
                "retain-long-modified-dates to keep dates moved by the patient's offset"
            )
    writes = directive in (Directive.REPLACE, Directive.ADD, Directive.PSEUDO, Directive.JITTER)
    blanks = directive is Directive.BLANK or (
        directive in (Directive.REPLACE, Directive.ADD) and not rule.value
    )
    if directive is Directive.KEEP and profile.unreviewed_text:
        return None  # unreviewed free text kept on request, as --keep-unreviewed-text
    if directive is Directive.KEEP and code in _VERB:
        return Severity.ERROR, f"keeps what the profile {_VERB[code]}"
    if blanks and code is Code.UID:
        return Severity.ERROR, "leaves a UID empty: U needs a non-empty UID, references break"
    if blanks and code is Code.DUMMY and profile.table_code == "D":
        return Severity.ERROR, "leaves empty what the profile fills with a dummy (Type 1)"
    if writes and not blanks and code is Code.REMOVE:
        return Severity.ERROR, "writes a value where the profile removes the attribute (X)"
    if directive is Directive.JITTER and code in (Code.ZERO, Code.DUMMY):
        return Severity.ERROR, (
            f"keeps a shifted date where the profile {_VERB[code]}; select "
            "retain-long-modified-dates to keep dates moved by the patient's offset"
        )
    if directive is Directive.JITTER and code is Code.CLEAN:
        return Severity.WARNING, (
            f"moves every patient by the same {rule.jitter_days} days instead of each "
            "patient's own date offset"
        )
    if directive in (Directive.REPLACE, Directive.ADD) and code is Code.UID and not blanks:
        return Severity.WARNING, "writes the same UID into every file: references will collide"
    if directive is Directive.REMOVE and code is Code.UID:
        return Severity.WARNING, "removes a UID the profile replaces: references to it break"
    if directive is not Directive.KEEP and _kept_by_option(profile):
        return Severity.WARNING, (
            "changes what a selected option keeps; the De-identification Method will "
            "still claim the option"
        )
    return None


def _candidates(rules_profile: ProfileRules) -> Iterator[int]:
    """Every standard tag a field expression could select: table rows and dictionary."""
    seen: set[int] = set()
    for row in rules_profile.table.rows:
        if row.tag is not None and row.tag >> 16 != 0x0002:
            seen.add(row.tag)
    for tag in DicomDictionary:
        if tag >> 16 != 0x0002 and not tag >> 16 & 1:
            seen.add(tag)
    # Repeating groups (curves 50xx, overlays 60xx...) as their first group.
    seen.update(int(mask.replace("x", "0"), 16) for mask in RepeatersDictionary)
    yield from sorted(seen)


def _contexts(
    rule: RecipeRule, index: RecipeIndex, candidates: Sequence[int]
) -> Iterator[tuple[ElementContext, str | None]]:
    """The attributes where ``rule`` is the winning rule, as contexts with their VR."""
    if rule.private is not None:
        private = rule.private
        tag = private.group << 16 | 0x1000 | private.offset
        yield ElementContext(tag, "UN", "", private.creator, (), ""), None
        return
    tags = [rule.tag] if rule.tag is not None else candidates
    for tag in tags:
        assert tag is not None
        keyword = keyword_for_tag(tag) or ""
        vr = tag_vr(tag)
        if not rule.matches(tag, keyword, None) or not applies_to_vr(rule, vr):
            continue
        if index.rule_for(tag, keyword, None, vr) != rule:
            continue
        yield ElementContext(tag, vr or "UN", keyword, None, (), ""), vr


def _review_rule(
    rule: RecipeRule,
    index: RecipeIndex,
    rules_profile: ProfileRules,
    candidates: Sequence[int],
) -> list[Finding]:
    grouped: dict[tuple[Severity, str], list[str]] = {}
    for ctx, vr in _contexts(rule, index, candidates):
        profile = rules_profile.profile_action(ctx)
        verdict = _verdict(rule, vr, profile)
        if verdict is not None:
            label = describe_tag(ctx.tag) if rule.private is None else rule.target()
            grouped.setdefault(verdict, []).append(label)
    findings = []
    for (severity, message), attributes in grouped.items():
        shown = ", ".join(attributes[:_LISTED_ATTRIBUTES])
        more = len(attributes) - _LISTED_ATTRIBUTES
        if more > 0:
            shown += f" and {more} more"
        findings.append(
            Finding(
                severity,
                rule.source,
                rule.line,
                rule.text,
                f"{shown}: {message}",
                acceptable=severity is Severity.ERROR,
                attributes=tuple(attributes),
            )
        )
    return findings


def review_layers(recipes: Sequence[Recipe], rules_profile: ProfileRules) -> list[Finding]:
    """Findings about layered ``recipes`` against the profile-only ``rules_profile``."""
    index = RecipeIndex(recipes)
    candidates = list(_candidates(rules_profile))
    findings: list[Finding] = []
    for rule in index.rules:
        findings.extend(_review_rule(rule, index, rules_profile, candidates))
    for recipe in recipes:
        for section in recipe.unapplied_sections:
            findings.append(
                Finding(
                    Severity.INFO,
                    section.source,
                    section.line,
                    section.name,
                    f"section {section.name} ({section.lines} lines) is read but not applied "
                    "to the header",
                )
            )
    return sorted(findings, key=lambda f: (f.source, f.line, f.severity.value))


def apply_acceptances(
    findings: Sequence[Finding], accepted: Iterable[AcceptedDeviation | str], source: str
) -> tuple[list[Finding], list[Finding]]:
    """Split acceptable contradictions of recipe ``source`` into (accepted, refused).

    Every acceptance must match a contradiction on its line with the same rule
    text; one that does not raises :class:`AcceptanceError` (the line was edited
    or no longer contradicts the profile), so stale acceptances never linger.
    """
    wanted = [
        a if isinstance(a, AcceptedDeviation) else AcceptedDeviation.parse(a) for a in accepted
    ]
    contradictions = [f for f in findings if f.acceptable]
    accepted_findings: list[Finding] = []
    refused: list[Finding] = []
    for finding in contradictions:
        match = finding.source == source and any(
            a.line == finding.line and a.fingerprint == finding.fingerprint for a in wanted
        )
        (accepted_findings if match else refused).append(finding)
    for acceptance in wanted:
        if not any(
            f.line == acceptance.line and f.fingerprint == acceptance.fingerprint
            for f in accepted_findings
        ):
            raise AcceptanceError(
                f"--accept-deviation {acceptance.line}:{acceptance.fingerprint} matches no "
                f"contradiction in {source}: the line was edited or no longer contradicts "
                "the profile; run `deid profile check` again"
            )
    return accepted_findings, refused
