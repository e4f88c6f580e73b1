"""What the engine gives back for one file: a result to write, or a quarantine.

A quarantine names a typed :class:`QuarantineReason` and a message for people.
Messages never hold a value from the file (no names, IDs, dates or UIDs): they
name attributes by keyword or tag path and say what kind of problem it is, so
they can go to logs, reports and terminals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from pydicom.dataset import FileDataset

from deid.contract.errors import DeidError


class QuarantineReason(StrEnum):
    """Why a file was not written."""

    NOT_DICOM = "not-dicom"
    """No DICOM preamble and ``DICM`` prefix: not a DICOM Part 10 file."""
    TRUNCATED = "truncated"
    """The file ends before its last element does."""
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported-transfer-syntax"
    """A transfer syntax whose data set encoding is unknown (private or retired)."""
    MALFORMED = "malformed"
    """An element that cannot be decoded: unknown VR, a value that breaks its VR."""
    VALUE_TOO_LONG = "value-too-long"
    """A short-text value (PN, LO, SH, DA...) far beyond any valid length."""
    NOT_AN_INSTANCE = "not-an-instance"
    """No SOP Class or SOP Instance UID (a DICOMDIR, a bare data set)."""
    NO_PATIENT = "no-patient"
    """Neither Patient ID, Patient's Name nor Study Instance UID to enroll the patient by."""
    UNPARSEABLE_DATE = "unparseable-date"
    """A date, time or age that must be moved or capped but cannot be parsed."""
    ENCAPSULATED_DOCUMENT = "encapsulated-document"
    """An encapsulated PDF, CDA or other document: its content cannot be cleaned."""
    BURNED_IN_ANNOTATION = "burned-in-annotation"
    """Burned In Annotation is YES and no pixel rule masks the text."""
    INVALID_REPLACEMENT = "invalid-replacement"
    """A recipe value (REPLACE, ADD) or pseudonym that is not valid for the element's VR."""
    PSEUDONYMS_EXHAUSTED = "pseudonyms-exhausted"
    """The mapping store kept refusing fresh proposals of one kind."""
    IDENTIFIER_LEFT = "identifier-left"
    """The guard found an identifying original in the result."""


class QuarantineError(DeidError):
    """Raised inside reading and the engine; becomes a :class:`Quarantined` outcome."""

    def __init__(self, reason: QuarantineReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Quarantined:
    """The file must not be written; the reason and a PHI-free message say why."""

    reason: QuarantineReason
    message: str


@dataclass(slots=True)
class Deidentified:
    """A de-identified dataset, ready to be written, and what the runner needs."""

    dataset: FileDataset
    subject_id: str
    study_uid: str
    series_uid: str
    instance_uid: str
    modality: str
    enrolled: bool
    """True when this file enrolled its patient (a new subject)."""
    actions: Counter[str] = field(default_factory=Counter)
    """How many elements got each action (``REMOVE``, ``KEEP``...), any depth."""
    unreviewed_text: int = 0
    """Standard attributes that can carry free text and are not on the reviewed list,
    removed or kept as the settings say (see :attr:`deid.actions.Action.unreviewed_text`)."""
    accepted: tuple[str, ...] = ()
    """Payloads kept as the user's responsibility (``burned-in annotation``...)."""


Outcome = Deidentified | Quarantined
