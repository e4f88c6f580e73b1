"""The fast reader of plain Explicit VR Little Endian files builds what ``dcmread``
builds, element by element, and steps aside for every other file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread, examples
from pydicom.dataset import Dataset, FileDataset

from deid.corpus import TRANSFER_SYNTAXES, CorpusManifest
from deid.dicomfile import encode_dataset, read_input
from deid.native_read import read_explicit_little
from deid.writing import input_files
from tests.deid.engine_fixtures import ct_dataset, one_series_corpus, write_file


@pytest.fixture(scope="module", params=sorted(TRANSFER_SYNTAXES))
def corpus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> CorpusManifest:
    return one_series_corpus(
        tmp_path_factory.mktemp(f"native-{request.param}"), request.param, seed=11
    )


def _state(dataset: Dataset) -> list[Any]:
    """Every element as stored (raw or decoded), in order, and the encodings."""
    return [
        *((tag, type(element).__name__, element) for tag, element in dataset._dict.items()),
        dataset.original_encoding,
        dataset.original_character_set,
        dataset._character_set,
    ]


def assert_same_as_pydicom(fast: FileDataset, path: Path) -> None:
    slow = dcmread(path)
    assert fast.preamble == slow.preamble
    assert _state(fast.file_meta) == _state(slow.file_meta)
    assert _state(fast) == _state(slow)
    assert (fast.filename, fast.is_little_endian, fast.is_implicit_VR) == (
        slow.filename,
        slow.is_little_endian,
        slow.is_implicit_VR,
    )
    assert encode_dataset(fast) == encode_dataset(slow)


def test_every_corpus_file_is_read_as_pydicom_reads_it(corpus: CorpusManifest) -> None:
    read_fast = 0
    for path, _ in input_files(corpus.root):
        fast = read_explicit_little(path)
        if fast is not None:
            read_fast += 1
            assert_same_as_pydicom(fast, path)
    files = len(input_files(corpus.root))
    explicit_little = corpus.root.name.startswith("native-explicit-le")
    # Explicit little endian: the images (the SR and key objects may hold sequences of
    # undefined length); every other syntax is pydicom's.
    assert read_fast >= files // 2 if explicit_little else read_fast == 0, (corpus.root, read_fast)


@pytest.mark.parametrize("name", ["ct", "mr", "rt_dose", "rt_plan", "waveform", "overlay"])
def test_pydicom_examples_are_read_as_pydicom_reads_them(name: str) -> None:
    path = Path(examples.get_path(name))
    fast = read_explicit_little(path)
    if fast is not None:
        assert_same_as_pydicom(fast, path)


def test_a_file_with_a_character_set_is_read_as_pydicom_reads_it(tmp_path: Path) -> None:
    path = write_file(ct_dataset(), tmp_path / "in.dcm")  # ISO_IR 100, sequences
    fast = read_explicit_little(path)
    assert fast is not None
    assert_same_as_pydicom(fast, path)
    assert fast._character_set == ["latin_1"]


@pytest.mark.parametrize(
    "damage",
    ["cut in a value", "cut in a header", "a byte too many", "no DICM", "only the meta"],
)
def test_damaged_files_are_left_to_pydicom(tmp_path: Path, damage: str) -> None:
    data = write_file(ct_dataset(), tmp_path / "in.dcm").read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    changed = {
        "cut in a value": data[:-3],
        "cut in a header": data[: len(data) - len(data[-200:]) + 5],
        "a byte too many": data + b"\x00",
        "no DICM": data[:128] + b"DICX" + data[132:],
        "only the meta": data[:meta_end],
    }[damage]
    path = tmp_path / "damaged.dcm"
    path.write_bytes(changed)
    assert read_explicit_little(path) is None


def test_read_input_reads_plain_files_fast_and_checks_them_the_same(tmp_path: Path) -> None:
    path = write_file(ct_dataset(), tmp_path / "in.dcm")
    assert _state(read_input(path)) == _state(dcmread(path))
