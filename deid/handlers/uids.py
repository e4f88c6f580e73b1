"""UIDs: U, and D/C/PSEUDO UID on UI elements, at any depth.

Every replaceable UID of the value (see :mod:`deid.uids`) is swapped for its
consistent 2.25 pseudonym, so references inside sequences keep pointing at the
right new objects. The originals become guard needles.
"""

from __future__ import annotations

from deid.handlers.base import FileState, Step, set_text
from deid.identifiers import IdentifierKind
from deid.uids import UID_KIND, originals_to_replace, replace_uids


class Uids:
    """Replace UIDs by their consistent pseudonyms."""

    name = "UIDs"

    def collect(self, step: Step, state: FileState) -> None:
        """Want a pseudonym for each replaceable UID; each is a guard needle."""
        for uid in originals_to_replace(step.text()):
            state.want(UID_KIND, uid)
            state.identifiers.add(IdentifierKind.UID, uid)

    def apply(self, step: Step, state: FileState) -> None:
        """Write the pseudonyms."""
        text = step.text()
        pseudonyms = {uid: state.pseudonym(UID_KIND, uid) for uid in originals_to_replace(text)}
        if pseudonyms:
            set_text(step, replace_uids(text, pseudonyms))


UIDS = Uids()
