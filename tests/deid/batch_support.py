"""Helpers for the runner's tests: corpora, byte checks, input snapshots."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian

from deid.writing import input_files


def plain_bytes(path: Path) -> bytes:
    """The file's bytes with a deflated data set inflated, for substring checks."""
    data = path.read_bytes()
    if data[128:132] != b"DICM":
        return data
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    if meta.TransferSyntaxUID != DeflatedExplicitVRLittleEndian:
        return data
    start = 132 + 12 + meta.FileMetaInformationGroupLength
    return data[:start] + zlib.decompress(data[start:], -zlib.MAX_WBITS)


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Per file under ``root``: content hash, modification time, mode."""
    result = {}
    for path, relative in input_files(root):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        result[relative] = (digest, stat.st_mtime_ns, stat.st_mode)
    return result


def read_report(path: Path) -> dict[str, Any]:
    """The JSON report."""
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def inputs_with_records(root: Path, report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each input's relative path with its report record (the report keeps input order)."""
    relatives = [relative for _, relative in input_files(root)]
    assert len(relatives) == len(report["files"])
    return list(zip(relatives, report["files"], strict=True))
