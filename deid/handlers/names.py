"""Person names: D and C on PN, and the PSEUDO name classes.

Every name becomes the consistent pseudonym of its class (FULL_NAME unless the
recipe names GIVEN_NAME or SURNAME), so a physician named in ten attributes and a
thousand files has one stand-in. Pseudonyms are stored in the PN form
(``Family^Given``) and written as ``Given Family`` where the VR is not PN.
"""

from __future__ import annotations

from deid.handlers.base import FileState, Step, fits, set_text

NAME_CLASSES = frozenset({"FULL_NAME", "GIVEN_NAME", "SURNAME"})
CANONICAL_VR = "PN"
"""The VR name pseudonyms are proposed for, whatever VR they end up in."""


def normalized_name(value: str) -> str:
    """A PN value as the mapping's original: trailing empty components dropped."""
    return "=".join(group.strip().rstrip("^ ") for group in value.split("=")).rstrip("=")


def render_name(pseudonym: str, vr: str) -> str:
    """A PN-form pseudonym as written into ``vr``."""
    if vr == "PN":
        return pseudonym
    family, _, given = pseudonym.partition("^")
    return fits(" ".join(part for part in (given, family) if part), vr)


class PersonNames:
    """PN pseudonyms: the name class from the action, FULL_NAME by default."""

    name = "person names"

    def collect(self, step: Step, state: FileState) -> None:
        """Want the pseudonym of every name in the value."""
        kind = _kind(step)
        for value in step.text().split("\\"):
            original = normalized_name(value)
            if original:
                state.want(kind, original)

    def apply(self, step: Step, state: FileState) -> None:
        """Write each name's pseudonym."""
        kind, vr = _kind(step), step.visit.vr
        names = []
        for value in step.text().split("\\"):
            original = normalized_name(value)
            names.append(render_name(state.pseudonym(kind, original), vr) if original else "")
        set_text(step, "\\".join(names))


def _kind(step: Step) -> str:
    return step.action.pseudo_class or "FULL_NAME"


PERSON_NAMES = PersonNames()
