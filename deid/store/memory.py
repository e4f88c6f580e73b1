"""An in-process mapping store that keeps everything in memory.

Used by the tests, by ``deid inspect`` (a throwaway store, so a what-if never
creates a mapping anywhere) and by ``deid run --anonymize``: pseudonyms are
consistent within the run and vanish with the process, so no way back exists.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence

from deid.contract.errors import DeidError
from deid.contract.kinds import is_identifying
from deid.contract.store import Enrollment, PseudonymRequest, TrialInfo
from deid.contract.subject_ids import SubjectIdTemplate
from deid.contract.trial_config import TrialConfig

# A {rand:N} template can draw an ID that is taken; after this many draws the
# template is too narrow for the site's enrollment.
_SUBJECT_ID_ATTEMPTS = 100


class StoreClosedError(DeidError, RuntimeError):
    """The store was used after :meth:`MemoryStore.close`."""


class MemoryStore:
    """A thread-safe :class:`~deid.contract.store.MappingStore` held in memory.

    ``anonymized=True`` marks a run-scoped store (``--anonymize``): the trial info it
    reports says so, and the engine records "no mapping kept" in the output.
    """

    def __init__(self, config: TrialConfig, site_id: str, *, anonymized: bool = False) -> None:
        self._config = config
        self._site_id = site_id
        self._template = SubjectIdTemplate.parse(config.subject_id_template)
        self._info = TrialInfo(
            trial=config.key,
            sponsor_name=config.sponsor_name,
            protocol_id=config.effective_protocol_id,
            protocol_name=config.effective_protocol_name,
            site_id=site_id,
            site_name=config.site_name(site_id),
            anonymized=anonymized,
        )
        self._lock = threading.Lock()
        self._closed = False
        self._enrollments: dict[str, Enrollment] = {}
        self._subject_ids: set[str] = set()
        self._pseudonyms: dict[tuple[str, str], str] = {}
        self._taken: dict[str, set[str]] = {}
        """Per kind, the pseudonyms already handed out (for identifying kinds)."""

    def trial_info(self) -> TrialInfo:
        """The trial and site this store is bound to."""
        self._check_open()
        return self._info

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient: a new subject ID and a random non-zero offset."""
        with self._lock:
            self._check_open()
            known = self._enrollments.get(patient_key)
            if known is not None:
                return Enrollment(known.subject_id, known.date_offset_days, created=False)
            enrollment = Enrollment(self._new_subject_id(), self._new_offset(), created=True)
            self._enrollments[patient_key] = enrollment
            self._subject_ids.add(enrollment.subject_id)
            return enrollment

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Existing mappings win; a proposal already used for another original is refused."""
        with self._lock:
            self._check_open()
            answers: list[str | None] = []
            for item in items:
                key = (item.kind, item.original)
                existing = self._pseudonyms.get(key)
                if existing is not None:
                    answers.append(existing)
                    continue
                taken = self._taken.setdefault(item.kind, set())
                if is_identifying(item.kind) and item.proposal in taken:
                    answers.append(None)
                    continue
                self._pseudonyms[key] = item.proposal
                taken.add(item.proposal)
                answers.append(item.proposal)
            return answers

    def close(self) -> None:
        """Forget every mapping; the store is unusable afterwards."""
        with self._lock:
            self._closed = True
            self._enrollments.clear()
            self._pseudonyms.clear()
            self._taken.clear()
            self._subject_ids.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the in-memory mapping store is closed")

    def _new_subject_id(self) -> str:
        sequence = len(self._enrollments) + 1
        for _ in range(_SUBJECT_ID_ATTEMPTS):
            subject_id = self._template.render(self._site_id, sequence)
            if subject_id not in self._subject_ids:
                return subject_id
        raise RuntimeError(
            f"subject ID template {self._template.text!r} found no free ID after "
            f"{_SUBJECT_ID_ATTEMPTS} draws; give it more random digits"
        )

    def _new_offset(self) -> int:
        low, high = self._config.date_offset_min_days, self._config.date_offset_max_days
        # Zero would leave the dates unchanged; the trial config forbids a range of
        # only zero, so a non-zero value always exists.
        while True:
            offset = low + secrets.randbelow(high - low + 1)
            if offset != 0:
                return offset
