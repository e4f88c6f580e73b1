"""What the mapping store answered before: a bounded memory, one per engine.

Mappings never change once created (the store's existing mapping always wins), so
a patient's enrollment and an original's pseudonym can be answered from memory for
the rest of the run: a repeated patient or original costs no proposal, no database
transaction and no round trip. When full, the oldest entries go first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from deid.contract.store import Enrollment, MappingStore
from deid.store.resolve import resolve_pseudonyms

_K = TypeVar("_K")
_V = TypeVar("_V")

DEFAULT_MAX_ENTRIES = 100_000
"""Pseudonyms (and, apart, enrollments) remembered; a run's worker meets far fewer
distinct originals than this in most runs, and each costs about a hundred bytes."""


class StoreMemory:
    """The store's answers so far, asked before the store itself."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("a memory holds at least one entry")
        self._max_entries = max_entries
        self._pseudonyms: dict[tuple[str, str], str] = {}
        self._enrollments: dict[str, Enrollment] = {}

    def __repr__(self) -> str:
        return f"StoreMemory(pseudonyms={len(self._pseudonyms)})"

    def __len__(self) -> int:
        return len(self._pseudonyms)

    def enroll(self, store: MappingStore, patient_key: str) -> Enrollment:
        """The patient's enrollment; ``created`` is True only on the call that enrolled."""
        remembered = self._enrollments.get(patient_key)
        if remembered is not None:
            return remembered
        enrollment = store.enroll(patient_key)
        self._keep(self._enrollments, patient_key, replace(enrollment, created=False))
        return enrollment

    def resolve(
        self,
        store: MappingStore,
        wanted: Sequence[tuple[str, str]],
        propose: Callable[[str], str],
    ) -> dict[tuple[str, str], str]:
        """Every wanted ``(kind, original)``'s pseudonym: remembered ones from memory,
        the rest from the store in one batch, proposed for only then
        (:func:`~deid.store.resolve.resolve_pseudonyms`; may raise its
        :class:`~deid.store.resolve.PseudonymCollisionError`)."""
        answers = {key: self._pseudonyms[key] for key in wanted if key in self._pseudonyms}
        unknown = [key for key in dict.fromkeys(wanted) if key not in answers]
        if unknown:
            fetched = resolve_pseudonyms(store, unknown, propose)
            for key, pseudonym in fetched.items():
                self._keep(self._pseudonyms, key, pseudonym)
            answers.update(fetched)
        return answers

    def _keep(self, memory: dict[_K, _V], key: _K, value: _V) -> None:
        while len(memory) >= self._max_entries:
            del memory[next(iter(memory))]
        memory[key] = value
