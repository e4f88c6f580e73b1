"""What ``deid inspect`` and the README list: options and PSEUDO classes."""

from __future__ import annotations

from dataclasses import dataclass

from deid.profiles.options import BASIC_PROFILE_CODE, DEFAULT_TRIAL_OPTIONS, Option
from deid.pseudo import PSEUDO_CLASSES, Derivation


@dataclass(frozen=True, slots=True)
class OptionDescription:
    """One option, for people."""

    cli_name: str
    title: str
    code: str
    """The CID 7050 code value."""
    description: str
    default: bool
    """Part of ``deid run``'s default option set."""


@dataclass(frozen=True, slots=True)
class PseudoClassDescription:
    """One PSEUDO class, for people."""

    name: str
    description: str
    vrs: tuple[str, ...]
    source: str
    """Where values come from: random proposal, date offset or subject ID."""


_SOURCES = {
    Derivation.PROPOSED: "random, made consistent by the mapping store",
    Derivation.DATE_OFFSET: "the original moved by the patient's date offset",
    Derivation.SUBJECT_ID: "the patient's enrollment",
}


def describe_options() -> list[OptionDescription]:
    """Every option with its CLI name, PS3.15 name, CID 7050 code and one line."""
    return [
        OptionDescription(
            option.cli_name,
            option.title,
            option.code.value,
            option.description,
            option in DEFAULT_TRIAL_OPTIONS,
        )
        for option in Option
    ]


def describe_pseudo_classes() -> list[PseudoClassDescription]:
    """Every PSEUDO class with what it produces and for which VRs."""
    return [
        PseudoClassDescription(c.name, c.description, tuple(sorted(c.vrs)), _SOURCES[c.derivation])
        for c in sorted(PSEUDO_CLASSES.values(), key=lambda c: c.name)
    ]


def options_table() -> str:
    """The options as aligned text lines (``deid inspect --options``)."""
    rows = [f"{'basic':34} {BASIC_PROFILE_CODE.value}  the Basic Profile itself (always)"]
    for d in describe_options():
        default = " (default)" if d.default else ""
        rows.append(f"{d.cli_name:34} {d.code}  {d.description}{default}")
    return "\n".join(rows)


def pseudo_classes_table() -> str:
    """The PSEUDO classes as aligned text lines."""
    return "\n".join(
        f"{d.name:22} {d.description}; VRs {', '.join(d.vrs)}; from {d.source}"
        for d in describe_pseudo_classes()
    )
