"""Identifiers that are not names or UIDs: IDs, institutions, addresses, phones...

D on an identity-bearing attribute (Accession Number, Device Serial Number,
Institution Name...) writes the consistent pseudonym of the PSEUDO class its kind
calls for (:data:`deid.identifiers.PSEUDO_CLASS_FOR_KIND`); a recipe's PSEUDO names
the class itself. SUBJECT_ID is not mapped: it is the patient's subject ID.
"""

from __future__ import annotations

from deid.actions import Code
from deid.handlers.base import FileState, Step, fits, set_text
from deid.identifiers import PSEUDO_CLASS_FOR_KIND, kind_of
from deid.pseudo import get_class


def pseudo_class_of(step: Step) -> str:
    """The PSEUDO class whose pseudonyms this step writes."""
    if step.action.code is Code.PSEUDO and step.action.pseudo_class:
        return get_class(step.action.pseudo_class).name
    kind = kind_of(step.visit.keyword, step.visit.vr)
    if kind is None:
        raise ValueError(f"{step.visit.keyword or step.visit.tag} carries no identifier")
    return PSEUDO_CLASS_FOR_KIND[kind]


class IdentifierPseudonyms:
    """Each value replaced by its consistent pseudonym of one PSEUDO class."""

    name = "identifier pseudonyms"

    def collect(self, step: Step, state: FileState) -> None:
        """Want the pseudonym of every value."""
        kind = pseudo_class_of(step)
        for value in step.text().split("\\"):
            if value.strip():
                state.want(kind, value.strip())

    def apply(self, step: Step, state: FileState) -> None:
        """Write each value's pseudonym, fitted to the VR."""
        kind, vr = pseudo_class_of(step), step.visit.vr
        values = [
            fits(state.pseudonym(kind, value.strip()), vr) if value.strip() else ""
            for value in step.text().split("\\")
        ]
        set_text(step, "\\".join(values))


class SubjectId:
    """PSEUDO SUBJECT_ID: the patient's trial subject ID."""

    name = "subject ID"

    def collect(self, step: Step, state: FileState) -> None:
        """Derived from the enrollment: nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the subject ID."""
        set_text(step, state.enrollment.subject_id)


IDENTIFIER_PSEUDONYMS = IdentifierPseudonyms()
SUBJECT_ID = SubjectId()
