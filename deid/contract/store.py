"""The mapping store: the one door through which ``deid`` obtains pseudonyms.

A store is bound to one trial and one site when it is opened. It answers two
questions, both in batches so that a file costs one round trip at most:

* which trial subject is this patient (enrolling the patient on first sight), and
  by how many days are the patient's dates moved;
* which pseudonym stands for each of these originals (creating the mapping from
  the proposal when the original is new).

Reverse lookups are deliberately absent: taking a pseudonym back to its original
exists only in the vault's audited re-identification flow.

Implementations: the embedded vault (the vault's own service layer on SQLite,
``vault.embedded``), the HTTP client of a deployed vault, and the run-scoped
store of ``--anonymize`` (consistent within one run, nothing kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class TrialInfo:
    """What the engine writes into the clinical-trial attributes (0012,xxxx)."""

    trial: str
    """The trial's key, as named on the command line (``--trial``)."""
    sponsor_name: str
    protocol_id: str
    protocol_name: str
    site_id: str
    site_name: str
    anonymized: bool = False
    """True for a run-scoped store: no way back exists for what it hands out."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A patient as a trial subject."""

    subject_id: str
    date_offset_days: int
    created: bool
    """True when this call enrolled the patient."""


@dataclass(frozen=True, slots=True)
class PseudonymRequest:
    """One original that needs a pseudonym, with a fresh random proposal for it."""

    kind: str
    """The mapping's namespace: a PSEUDO class name (``FULL_NAME``) or ``UID``."""
    original: str
    proposal: str


@runtime_checkable
class MappingStore(Protocol):
    """What every mapping store offers the engine."""

    def trial_info(self) -> TrialInfo:
        """The trial and site this store is bound to."""
        ...

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient; atomic across workers, processes and sites."""
        ...

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Answer each item with its canonical pseudonym, in order.

        An existing mapping wins over the proposal. ``None`` means the proposal was
        refused because it is already another original's pseudonym of that kind;
        the caller proposes again (:func:`deid.store.resolve.resolve_pseudonyms`).
        """
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
