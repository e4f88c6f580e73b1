"""The run report: what happened to every input, and a summary for people.

The JSON report (``deid-report.json`` in OUTPUT unless ``--report`` says otherwise)
never names an input by its path, which in PACS exports carries names and dates:
inputs are identified by :func:`deid.writing.input_id`, a salted hash of the
relative path. The quarantine folder, which stays at the site, maps hashes back
to paths (``<input_id>.reason.json``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from deid.outcome import QuarantineReason
from deid.writing import write_json_atomic

REPORT_VERSION = 1


class Status(StrEnum):
    """What became of one input."""

    WRITTEN = "written"
    """De-identified and written to OUTPUT."""
    SKIPPED = "skipped"
    """Written by an earlier run of the same settings and unchanged since."""
    QUARANTINED = "quarantined"
    """Not written; copied to the quarantine folder with the reason."""
    FAILED = "failed"
    """Not written and not quarantined (for example the disk is full); rerun to retry."""


class Reason(StrEnum):
    """Reason codes the runner itself gives, next to the engine's
    (:class:`deid.outcome.QuarantineReason`)."""

    UNREADABLE = "unreadable"
    INTERNAL_ERROR = "internal-error"
    WRITE_ERROR = "write-error"
    QUARANTINE_ERROR = "quarantine-error"
    STORE_UNAVAILABLE = "store-unavailable"


@dataclass(slots=True)
class FileRecord:
    """One input's outcome, free of PHI."""

    input_id: str
    status: Status
    reason: str | None = None
    message: str | None = None
    output: str | None = None
    """Relative to OUTPUT, with ``/`` separators."""
    subject_id: str | None = None
    unreviewed_text: int = 0
    """Standard attributes that may carry free text and are not on the reviewed list:
    removed by default, kept under ``--keep-unreviewed-text``."""

    def to_dict(self) -> dict[str, Any]:
        """The record as the report's JSON writes it (empty fields left out)."""
        data: dict[str, Any] = {"input_id": self.input_id, "status": str(self.status)}
        for key in ("reason", "message", "output", "subject_id"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.unreviewed_text:
            data["unreviewed_text"] = self.unreviewed_text
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileRecord:
        """Read a record written by :meth:`to_dict`."""
        return cls(
            input_id=str(data["input_id"]),
            status=Status(data["status"]),
            reason=data.get("reason"),
            message=data.get("message"),
            output=data.get("output"),
            subject_id=data.get("subject_id"),
            unreviewed_text=int(data.get("unreviewed_text", 0)),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunReport:
    """Everything ``deid run`` tells about one run."""

    settings: dict[str, Any]
    files: list[FileRecord] = field(default_factory=list)
    started: str = field(default_factory=_now)
    finished: str | None = None
    stopped: str | None = None
    """Why the run stopped before the end (interrupted, mapping store failure)."""
    not_processed: int = 0
    """Inputs a stopped run did not get to; a rerun does them."""

    def add(self, record: FileRecord) -> None:
        """Record one input's outcome."""
        self.files.append(record)

    def finish(self, stopped: str | None = None, not_processed: int = 0) -> None:
        """Mark the run as over, early when ``stopped`` says why."""
        self.finished = _now()
        self.stopped = stopped
        self.not_processed = not_processed

    def counts(self) -> Counter[str]:
        """Inputs per :class:`Status`."""
        return Counter(str(record.status) for record in self.files)

    def reasons(self) -> Counter[str]:
        """Quarantined and failed inputs per reason code."""
        return Counter(
            record.reason or "unknown"
            for record in self.files
            if record.status in (Status.QUARANTINED, Status.FAILED)
        )

    def unreviewed_text(self) -> tuple[int, int]:
        """Files with unreviewed free-text attributes, and how many such values."""
        counts = [record.unreviewed_text for record in self.files if record.unreviewed_text]
        return len(counts), sum(counts)

    @property
    def complete(self) -> bool:
        """Every input written or skipped as written before, and the run not stopped."""
        counts = self.counts()
        return (
            self.stopped is None and counts[Status.QUARANTINED] == 0 and counts[Status.FAILED] == 0
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        counts = self.counts()
        return {
            "report_version": REPORT_VERSION,
            "started": self.started,
            "finished": self.finished,
            "stopped": self.stopped,
            "settings": self.settings,
            "summary": {
                "inputs": len(self.files) + self.not_processed,
                **{str(status): counts[status] for status in Status},
                "not_processed": self.not_processed,
                "reasons": dict(sorted(self.reasons().items())),
                "subjects": len({r.subject_id for r in self.files if r.subject_id}),
                "files_with_unreviewed_text": self.unreviewed_text()[0],
            },
            "files": [record.to_dict() for record in self.files],
        }

    def write(self, path: Path) -> None:
        """Write the JSON report atomically."""
        write_json_atomic(path, self.to_dict())

    def summary_lines(self) -> list[str]:
        """A short account for the terminal; no paths of inputs, no PHI."""
        counts = self.counts()
        subjects = len({r.subject_id for r in self.files if r.subject_id})
        lines = [
            f"{len(self.files) + self.not_processed} input files: "
            f"{counts[Status.WRITTEN]} written, "
            f"{counts[Status.SKIPPED]} skipped (written by an earlier run), "
            f"{counts[Status.QUARANTINED]} quarantined, {counts[Status.FAILED]} failed; "
            f"{subjects} subjects"
        ]
        for reason, count in sorted(self.reasons().items()):
            lines.append(f"  {count:6d}  {reason}: {REASON_HELP.get(reason, '')}".rstrip(": "))
        files, values = self.unreviewed_text()
        if files and self.settings.get("keep_unreviewed_text"):
            lines.append(
                f"{files} files kept {values} values of free-text attributes that PS3.15 "
                "does not list and nobody has reviewed (--keep-unreviewed-text: dates in them "
                "moved, values naming the patient removed); check them with 'deid inspect'"
            )
        elif files:
            lines.append(
                f"{files} files had {values} values of free-text attributes that PS3.15 "
                "does not list and nobody has reviewed; they were removed (emptied where "
                "the IOD needs them) unless a recipe KEEPs them: see 'deid inspect', or "
                "keep them with --keep-unreviewed-text"
            )
        if self.stopped:
            lines.append(
                f"stopped early ({self.stopped}); {self.not_processed} inputs not processed: "
                "rerun the same command to resume"
            )
        return lines


REASON_HELP: dict[str, str] = {
    QuarantineReason.NOT_DICOM: "not a DICOM file",
    QuarantineReason.TRUNCATED: "the file is cut short (an interrupted copy?)",
    QuarantineReason.UNSUPPORTED_TRANSFER_SYNTAX: "a transfer syntax deid cannot read",
    QuarantineReason.MALFORMED: "an element that cannot be decoded",
    QuarantineReason.VALUE_TOO_LONG: "a value far longer than its type allows",
    QuarantineReason.NOT_AN_INSTANCE: "no SOP instance (a DICOMDIR or a bare data set)",
    QuarantineReason.NO_PATIENT: "nothing to tell which patient it belongs to",
    QuarantineReason.UNPARSEABLE_DATE: "a date, time or age that cannot be read",
    QuarantineReason.ENCAPSULATED_DOCUMENT: "an embedded PDF or CDA document",
    QuarantineReason.BURNED_IN_ANNOTATION: "text burned into the pixels",
    QuarantineReason.INVALID_REPLACEMENT: "a recipe value not valid for its attribute",
    QuarantineReason.PSEUDONYMS_EXHAUSTED: "no free pseudonym left for some kind",
    QuarantineReason.IDENTIFIER_LEFT: "the final check found an identifier left",
    Reason.UNREADABLE: "could not be read (permissions, or the file vanished)",
    Reason.INTERNAL_ERROR: "de-identification failed unexpectedly; please report it",
    Reason.WRITE_ERROR: "the output could not be written (disk full? permissions?)",
    Reason.QUARANTINE_ERROR: "the quarantine copy could not be written",
    Reason.STORE_UNAVAILABLE: "the mapping store failed; rerun to resume",
}
"""One line per reason code for the terminal summary."""
