"""The resume ledger, ``OUTPUT/.deid/``: a run's settings, the salt of its input hashes,
and one line per written input.

A rerun with the same settings skips inputs whose line matches and whose output
exists, and redoes everything else; quarantined and failed inputs are always tried
again. A rerun with other settings is refused, so one OUTPUT never mixes two ways
of de-identifying.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from deid import __version__
from deid.contract.errors import UsageError
from deid.report import FileRecord
from deid.writing import write_json_atomic

STATE_FOLDER = ".deid"
SETTINGS_FILE = "run.json"
DONE_FILE = "done.jsonl"
STATE_VERSION = 1


class BatchError(UsageError):
    """The batch cannot start; the message says what to change."""


@dataclass
class _DoneEntry:
    size: int
    mtime_ns: int
    record: FileRecord


class RunState:
    """``OUTPUT/.deid``: settings, salt and the inputs already written."""

    def __init__(self, output_root: Path) -> None:
        self.folder = output_root / STATE_FOLDER
        self.salt = b""
        self.done: dict[str, _DoneEntry] = {}
        self._handle: IO[str] | None = None

    def load_or_create(self, settings: dict[str, Any]) -> None:
        """Read the state of earlier runs, refusing other settings; or start afresh."""
        settings_path = self.folder / SETTINGS_FILE
        if settings_path.exists():
            try:
                stored = json.loads(settings_path.read_text(encoding="utf-8"))
                self.salt = bytes.fromhex(stored["salt"])
                previous = stored["settings"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise BatchError(
                    f"{settings_path} is damaged ({type(exc).__name__}); "
                    "write to a new OUTPUT folder"
                ) from None
            if previous.get("anonymize") or settings.get("anonymize"):
                raise BatchError(
                    "OUTPUT already holds files of another run, and an --anonymize run "
                    "keeps no mappings: the same patients would get new pseudonyms. "
                    "Write to a new, empty OUTPUT folder"
                )
            changed = sorted(k for k in settings.keys() | previous.keys()
                             if settings.get(k) != previous.get(k))  # fmt: skip
            if changed:
                raise BatchError(
                    f"OUTPUT was written with other settings ({', '.join(changed)} differ); "
                    "rerun with the same settings to resume, or write to a new OUTPUT folder"
                )
            self._load_done()
            return
        self.salt = secrets.token_bytes(16)
        document = {
            "state_version": STATE_VERSION,
            "deid_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "salt": self.salt.hex(),
            "settings": settings,
        }
        write_json_atomic(settings_path, document)

    def _load_done(self) -> None:
        path = self.folder / DONE_FILE
        if not path.exists():
            return
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    data = json.loads(line)
                    record = FileRecord.from_dict(data["record"])
                    entry = _DoneEntry(int(data["size"]), int(data["mtime_ns"]), record)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: that input is redone
                self.done[record.input_id] = entry

    def already_written(self, record_id: str, stat: os.stat_result, output_root: Path) -> bool:
        """True when the input is unchanged since an earlier run wrote it, and the output
        is still there."""
        entry = self.done.get(record_id)
        return (
            entry is not None
            and entry.size == stat.st_size
            and entry.mtime_ns == stat.st_mtime_ns
            and entry.record.output is not None
            and (output_root / entry.record.output).is_file()
        )

    def open(self) -> None:
        """Start appending to the list of written inputs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._handle = (self.folder / DONE_FILE).open("a", encoding="utf-8")

    def mark_written(self, record: FileRecord, stat: os.stat_result) -> None:
        """Remember a written input (after its output is in place)."""
        assert self._handle is not None
        line = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "record": record.to_dict(),
        }
        # Flushed, so a crash of this process loses nothing; synced only at the end:
        # after a power cut, a line that never reached the disk only makes the rerun
        # write that input again (same pseudonyms, same output name, atomically).
        self._handle.write(json.dumps(line) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        """Push the list of written inputs to disk."""
        if self._handle is not None:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Sync and close."""
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None
