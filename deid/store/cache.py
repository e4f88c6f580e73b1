"""A process-local cache in front of any mapping store.

Mappings never change once created, so a resolved ``(kind, original)`` or a
patient's enrollment can be answered from memory for the rest of the run: a
repeated original then costs no database transaction or round trip. The cache
is bounded; when full, the oldest entries go first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from deid.contract.store import Enrollment, MappingStore, PseudonymRequest, TrialInfo

DEFAULT_MAX_ENTRIES = 200_000


class CachingStore:
    """Wraps a :class:`MappingStore`; answers repeated questions from memory."""

    def __init__(self, inner: MappingStore, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("a cache holds at least one entry")
        self._inner = inner
        self._max_entries = max_entries
        self._pseudonyms: dict[tuple[str, str], str] = {}
        self._enrollments: dict[str, Enrollment] = {}
        self._info: TrialInfo | None = None
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CachingStore({self._inner!r}, entries={len(self._pseudonyms)})"

    def _evict(self, cache: dict[str, Enrollment] | dict[tuple[str, str], str]) -> None:
        while len(cache) >= self._max_entries:
            del cache[next(iter(cache))]  # type: ignore[arg-type]

    def trial_info(self) -> TrialInfo:
        """The inner store's trial information (fetched once)."""
        if self._info is None:
            self._info = self._inner.trial_info()
        return self._info

    def enroll(self, patient_key: str) -> Enrollment:
        """The patient's enrollment; ``created`` is True only on the call that enrolled."""
        cached = self._enrollments.get(patient_key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        enrollment = self._inner.enroll(patient_key)
        self._evict(self._enrollments)
        self._enrollments[patient_key] = replace(enrollment, created=False)
        return enrollment

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Answer cached items from memory, send the rest in one batch."""
        answers: list[str | None] = []
        missing: list[int] = []
        for position, item in enumerate(items):
            cached = self._pseudonyms.get((item.kind, item.original))
            answers.append(cached)
            if cached is None:
                missing.append(position)
        self.hits += len(items) - len(missing)
        if not missing:
            return answers
        self.misses += len(missing)
        fetched = self._inner.get_or_create([items[p] for p in missing])
        if len(fetched) != len(missing):
            raise RuntimeError(
                f"mapping store answered {len(fetched)} items for {len(missing)} requested"
            )
        for position, pseudonym in zip(missing, fetched, strict=True):
            answers[position] = pseudonym
            if pseudonym is not None:
                item = items[position]
                self._evict(self._pseudonyms)
                self._pseudonyms[(item.kind, item.original)] = pseudonym
        return answers

    def close(self) -> None:
        """Forget everything and close the inner store."""
        self._pseudonyms.clear()
        self._enrollments.clear()
        self._inner.close()
