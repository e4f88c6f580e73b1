"""Where output goes and how it gets there: names from new identifiers, atomic writes.

PACS exports put names, IDs and dates in folder and file names, so nothing of an
input's path is ever reused: output names are built from the de-identified
object's own identifiers (subject ID and new UIDs), and an input is referred to
by a salted hash of its path relative to the input folder.

Every file is written to a temporary name in its target folder, flushed to disk,
then renamed into place, so a crash leaves either the whole file or none of it.
Temporary names start with :data:`TEMP_PREFIX`; a new run removes any left over.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import json
import os
import re
import secrets
import string
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deid.contract.errors import UsageError

TEMP_PREFIX = ".deid-tmp-"

DEFAULT_LAYOUT = "{subject}/{study}/{series}/{instance}.dcm"
LAYOUT_FIELDS = {
    "subject": "the patient's trial subject ID",
    "study": "the new Study Instance UID",
    "series": "the new Series Instance UID",
    "instance": "the new SOP Instance UID",
    "modality": "the Modality (CT, MR, SR...)",
}
"""Fields an output layout may use: only new identifiers and non-identifying codes."""

_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")
_O_BINARY = getattr(os, "O_BINARY", 0)


class LayoutError(UsageError, ValueError):
    """An output layout that could put files outside OUTPUT or on top of each other."""


@dataclass(frozen=True)
class OutputNames:
    """The identifiers an output file is named from."""

    subject: str
    study: str
    series: str
    instance: str
    modality: str = "OT"


def check_layout(layout: str) -> str:
    """Return ``layout`` if usable, else raise :class:`LayoutError` saying why."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(layout) if name is not None]
    except ValueError as exc:
        raise LayoutError(f"layout {layout!r} is not a valid template: {exc}") from None
    unknown = sorted(set(fields) - LAYOUT_FIELDS.keys())
    if unknown:
        raise LayoutError(
            f"layout {layout!r} uses unknown fields {unknown}; "
            f"use only {', '.join('{' + f + '}' for f in LAYOUT_FIELDS)}"
        )
    if "instance" not in fields:
        raise LayoutError(f"layout {layout!r} must contain {{instance}} so files never collide")
    parts = Path(layout).parts
    if Path(layout).is_absolute() or ".." in parts or not layout.strip():
        raise LayoutError(f"layout {layout!r} must be a relative path inside OUTPUT")
    return layout


def output_path(layout: str, names: OutputNames) -> str:
    """The output file's path relative to OUTPUT, with ``/`` separators."""
    values = {key: _safe_component(getattr(names, key)) for key in LAYOUT_FIELDS}
    return layout.format(**values)


def _safe_component(value: str) -> str:
    cleaned = _UNSAFE_CHARACTERS.sub("_", value.strip()) or "_"
    return "_" if cleaned in (".", "..") else cleaned


def input_id(relative_path: str, salt: bytes) -> str:
    """A stable name for an input that does not reveal its path (which carries PHI)."""
    digest = hashlib.sha256(salt + relative_path.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


_made_folders: set[str] = set()
"""Folders this process made or found (a run writes many files into each)."""
_temp_names = itertools.count()


def _temp_file(folder: Path, named: Callable[[str], object] | None = None) -> tuple[int, str]:
    """A new file of our own in ``folder``, opened exclusively: like ``mkstemp``, without
    its cost per call (a process-unique name, random so that no other process guesses it).

    ``named`` hears each name before it is created, so that a caller stopped by a
    signal right after the creation (a slow call, when a signal is likely to land)
    still knows what to remove."""
    key = str(folder)
    if key not in _made_folders:
        folder.mkdir(parents=True, exist_ok=True)
        _made_folders.add(key)
    stem = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    while True:
        name = f"{key}{os.sep}{stem}{next(_temp_names)}"
        if named is not None:
            named(name)
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600), name
        except FileExistsError:
            continue
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)  # removed since we made it


def write_atomic(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``target`` with what ``write`` writes, all or nothing."""
    fd, temp_name = _temp_file(target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp_name).replace(target)
    except BaseException:
        with suppress(FileNotFoundError):
            Path(temp_name).unlink()
        raise


def _discard(temp_name: str) -> None:
    with suppress(FileNotFoundError):
        Path(temp_name).unlink()


class StagedWrites:
    """Several files written atomically, made durable with one sync for all.

    :meth:`stage` writes each to a temporary name; :meth:`commit` pushes them all to
    disk (one ``syncfs`` of their file system where the platform has it, else one
    ``fsync`` each), then renames each into place; or :meth:`sync` (in another
    thread, while the next files are prepared) and then :meth:`place`. Until its
    rename a file is only a temporary one, which a new run removes: a crash leaves
    whole files or none.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[int, str, Path]] = []

    def __len__(self) -> int:
        return len(self._staged)

    def stage(self, target: Path, data: bytes) -> None:
        """Write ``data`` to a temporary file beside ``target``; raises ``OSError``."""
        # In the list before the file exists, by name before it is created: a stop
        # (SIGTERM, Ctrl-C) anywhere leaves abandon() something to remove.
        slot = len(self._staged)
        self._staged.append((-1, "", target))

        def named(name: str) -> None:
            self._staged[slot] = (-1, name, target)

        try:
            fd, temp_name = _temp_file(target.parent, named)
            self._staged[slot] = (fd, temp_name, target)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            fd, temp_name, _ = self._staged.pop(slot)
            if fd >= 0:
                os.close(fd)
            if temp_name:
                _discard(temp_name)
            raise

    def commit(self) -> list[OSError | None]:
        """Sync and rename every staged file; per file, in order, the error if it failed
        (a failed sync fails them all, and their temporary files are removed)."""
        return self.place(self.sync())

    def sync(self) -> OSError | None:
        """Push every staged file to disk; the error, if it failed. Safe to run in
        another thread while this one stages the next files elsewhere."""
        try:
            _sync_all([fd for fd, _, _ in self._staged])
        except OSError as exc:
            return exc
        return None

    def place(self, sync_error: OSError | None) -> list[OSError | None]:
        """Rename every staged file into place after :meth:`sync` (or remove them all
        when it failed); per file, in order, the error if it failed."""
        # Each file leaves the list only once handled: stopped halfway (SIGTERM), the
        # rest are still there for abandon(), and no descriptor is closed twice.
        errors: list[OSError | None] = []
        while self._staged:
            fd, temp_name, target = self._staged[0]
            self._staged[0] = (-1, temp_name, target)
            os.close(fd)
            if sync_error is not None:
                _discard(temp_name)
                errors.append(sync_error)
            else:
                try:
                    Path(temp_name).replace(target)
                    errors.append(None)
                except OSError as exc:
                    _discard(temp_name)
                    errors.append(exc)
            self._staged.pop(0)
        return errors

    def abandon(self) -> None:
        """Remove every staged file (the run is stopping)."""
        for fd, temp_name, _ in self._staged:
            if fd >= 0:
                os.close(fd)
            if temp_name:
                _discard(temp_name)
        self._staged = []


def _sync_all(fds: list[int]) -> None:
    """Every byte written to ``fds`` on disk: one ``syncfs`` when all are on one file
    system (Linux), else ``fsync`` each."""
    if not fds:
        return
    one_file_system = len({os.fstat(fd).st_dev for fd in fds}) == 1
    if _syncfs is not None and len(fds) > 1 and one_file_system and _syncfs(fds[0]) == 0:
        return
    # Not supported here after all (or failed): fsync each, which raises what fails.
    for fd in fds:
        os.fsync(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return function


_syncfs = _load_syncfs()


def write_json_atomic(target: Path, document: object) -> None:
    """Write ``document`` as indented JSON, atomically."""
    text = json.dumps(document, indent=1) + "\n"
    write_atomic(target, lambda handle: handle.write(text.encode("utf-8")))


def copy_atomic(source: Path, target: Path, chunk_size: int = 1 << 20) -> None:
    """Copy ``source`` (opened read-only) to ``target`` atomically."""

    def copy(handle: BinaryIO) -> None:
        with source.open("rb") as original:
            while chunk := original.read(chunk_size):
                handle.write(chunk)

    write_atomic(target, copy)


def remove_stale_temp_files(root: Path) -> int:
    """Delete temporary files an interrupted run left under ``root``; return how many."""
    removed = 0
    for path in _walk_files(root):
        if path.name.startswith(TEMP_PREFIX):
            with suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def _walk_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for folder, _, files in os.walk(root):
        for name in files:
            yield Path(folder) / name


def input_files(root: Path) -> list[tuple[Path, str]]:
    """Every file under ``root`` (or ``root`` itself), sorted, with its relative path.

    Sorted by relative path, so runs are reproducible; symbolic links to folders
    are not followed, so a link cannot pull a folder in twice.
    """
    if root.is_file():
        return [(root, root.name)]
    found = [(path, path.relative_to(root).as_posix()) for path in _walk_files(root)]
    return sorted(found, key=lambda item: item[1])


def is_within(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (after resolving links)."""
    resolved, base = path.resolve(), folder.resolve()
    return resolved == base or base in resolved.parents
