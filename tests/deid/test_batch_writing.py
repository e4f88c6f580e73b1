"""Output names, input hashes, atomic writes and the input walk (deid.writing)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO

import pytest

from deid.writing import (
    DEFAULT_LAYOUT,
    TEMP_PREFIX,
    LayoutError,
    OutputNames,
    StagedWrites,
    check_layout,
    copy_atomic,
    input_files,
    input_id,
    is_within,
    output_path,
    remove_stale_temp_files,
    write_atomic,
)

NAMES = OutputNames("S07-0001K", "2.25.1", "2.25.2", "2.25.3", "CT")


def test_default_layout_uses_new_identifiers_only() -> None:
    assert output_path(DEFAULT_LAYOUT, NAMES) == "S07-0001K/2.25.1/2.25.2/2.25.3.dcm"
    assert output_path("{modality}/{instance}.dcm", NAMES) == "CT/2.25.3.dcm"


def test_identifier_characters_cannot_escape_the_folder() -> None:
    hostile = OutputNames("../etc", "a/b", "..", "x\\y z", "C:T")
    path = output_path(DEFAULT_LAYOUT, hostile)
    assert path == ".._etc/a_b/_/x_y_z.dcm"
    assert ".." not in Path(path).parts


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("{subject}/{patient_name}/{instance}.dcm", "unknown fields"),
        ("{subject}/{study}.dcm", "must contain {instance}"),
        ("/abs/{instance}.dcm", "relative path inside OUTPUT"),
        ("../{instance}.dcm", "relative path inside OUTPUT"),
        ("{instance", "not a valid template"),
    ],
)
def test_bad_layouts_are_refused_with_the_reason(layout: str, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        check_layout(layout)
    assert check_layout(DEFAULT_LAYOUT) == DEFAULT_LAYOUT


def test_input_id_hides_the_path_and_depends_on_the_salt() -> None:
    path = "SMITHERSON_ANNA_19700101/IM0001"
    first = input_id(path, b"salt-1")
    assert first == input_id(path, b"salt-1")
    assert first != input_id(path, b"salt-2")
    assert first != input_id(path + "x", b"salt-1")
    assert "SMITHERSON" not in first and len(first) == 32


def test_write_atomic_replaces_whole_or_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.dcm"
    write_atomic(target, lambda handle: handle.write(b"first"))
    assert target.read_bytes() == b"first"

    def fail_halfway(handle: BinaryIO) -> None:
        handle.write(b"half of the second")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, fail_halfway)
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.dcm"]


def test_copy_atomic_copies_without_touching_the_source(tmp_path: Path) -> None:
    source = tmp_path / "in.dcm"
    source.write_bytes(os.urandom(3_000_000))
    source.chmod(0o444)
    before = source.stat()
    copy_atomic(source, tmp_path / "q" / "copy.orig", chunk_size=1 << 16)
    assert (tmp_path / "q" / "copy.orig").read_bytes() == source.read_bytes()
    assert source.stat().st_mtime_ns == before.st_mtime_ns


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / f"{TEMP_PREFIX}abc").write_bytes(b"partial")
    (tmp_path / "x" / "kept.dcm").write_bytes(b"whole")
    assert remove_stale_temp_files(tmp_path) == 1
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["kept.dcm"]
    assert remove_stale_temp_files(tmp_path / "missing") == 0


def test_input_walk_is_sorted_and_relative(tmp_path: Path) -> None:
    for relative in ("b/2", "b/1", "a/z/9", "c"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert [r for _, r in input_files(tmp_path)] == ["a/z/9", "b/1", "b/2", "c"]
    single = tmp_path / "c"
    assert input_files(single) == [(single, "c")]


def test_is_within(tmp_path: Path) -> None:
    assert is_within(tmp_path / "a" / "b", tmp_path / "a")
    assert is_within(tmp_path / "a", tmp_path / "a")
    assert not is_within(tmp_path / "ab", tmp_path / "a")


def test_atomic_writes_survive_their_folder_being_removed_and_leave_no_temp_files(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a" / "b" / "file.dcm"
    write_atomic(target, lambda handle: handle.write(b"one"))
    shutil.rmtree(tmp_path / "a")  # the process remembers it made this folder
    write_atomic(target, lambda handle: handle.write(b"two"))
    write_atomic(target, lambda handle: handle.write(b"three"))
    assert target.read_bytes() == b"three"
    assert [path.name for path in target.parent.iterdir()] == ["file.dcm"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_staged_writes_go_into_place_together_and_each_failure_stays_its_own(
    tmp_path: Path,
) -> None:
    staged = StagedWrites()
    targets = [tmp_path / "out" / f"{n}.dcm" for n in range(3)]
    (tmp_path / "out" / "1.dcm").mkdir(parents=True)  # a folder: that rename fails
    for number, target in enumerate(targets):
        staged.stage(target, bytes([number]) * 1000)
    assert len(staged) == 3
    assert not targets[0].exists()  # nothing in place before the commit
    errors = staged.commit()
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], OSError)
    assert targets[0].read_bytes() == b"\x00" * 1000
    assert targets[2].read_bytes() == b"\x02" * 1000
    assert not any(p.name.startswith(TEMP_PREFIX) for p in (tmp_path / "out").iterdir())
    assert staged.commit() == []


def test_abandoned_staged_writes_leave_nothing(tmp_path: Path) -> None:
    staged = StagedWrites()
    staged.stage(tmp_path / "a.dcm", b"a")
    staged.stage(tmp_path / "b.dcm", b"b")
    staged.abandon()
    assert list(tmp_path.iterdir()) == []
    assert staged.commit() == []


def test_staged_writes_stopped_while_going_into_place_leave_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopped (SIGTERM, Ctrl-C) between two renames: the files already in
    place stay whole, abandon() removes the rest, and no descriptor is closed twice."""
    staged = StagedWrites()
    targets = [tmp_path / f"{n}.dcm" for n in range(4)]
    for number, target in enumerate(targets):
        staged.stage(target, bytes([number]) * 100)
    renames = 0
    rename = Path.replace

    def stopped_at_the_third(self: Path, target: Path) -> Path:
        nonlocal renames
        renames += 1
        if renames == 3:
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "replace", stopped_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        staged.commit()
    staged.abandon()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.dcm", "1.dcm"]
    assert targets[1].read_bytes() == b"\x01" * 100
    assert len(staged) == 0


def test_a_stop_right_after_a_temporary_file_is_created_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating a file is slow, so a signal often lands during it and is raised just
    after: the staged list knew the name before, and the file goes."""
    real_open = os.open

    def created_then_stopped(path: str, flags: int, mode: int = 0o777) -> int:
        os.close(real_open(path, flags, mode))
        raise KeyboardInterrupt

    staged = StagedWrites()
    staged.stage(tmp_path / "kept.dcm", b"kept")
    monkeypatch.setattr("deid.writing.os.open", created_then_stopped)
    with pytest.raises(KeyboardInterrupt):
        staged.stage(tmp_path / "stopped.dcm", b"stopped")
    monkeypatch.undo()
    assert len(staged) == 1
    assert staged.commit() == [None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.dcm"]
