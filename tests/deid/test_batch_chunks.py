"""Chunks: one mapping-store request answers several files, and a file's trouble stays its own.

The worker prepares the inputs of a chunk one by one, asks the store once for every
pseudonym they need, then finishes and writes each. These tests count the store's
requests on a real store, and check that results, quarantines and store failures
are what per-file processing gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from deid.contract.store import Enrollment, MappingStore, PseudonymRequest, TrialInfo
from deid.corpus import CorpusManifest, generate_corpus
from deid.engine import Prepared
from deid.outcome import Deidentified, Quarantined, QuarantineReason
from deid.profiles.recipe import RecipeError
from deid.report import Reason, Status
from deid.run.chunks import (
    CHUNK_BYTES,
    CHUNK_FILES,
    ChunkWorker,
    Task,
    TaskResult,
    chunk_results,
    chunks_of,
)
from deid.run.config import BatchConfig
from deid.run.settings import RuleSettings
from deid.store.cache import StoreMemory
from deid.store.factory import StoreSpec, StoreUnavailableError
from deid.writing import DEFAULT_LAYOUT, TEMP_PREFIX, input_files
from tests.deid.engine_fixtures import engine, store


class _Counting:
    """A real store, with its batch requests counted (and optionally some proposals refused
    or the requests failing, as a full pseudonym space or a lost database would)."""

    def __init__(
        self,
        inner: MappingStore,
        refuse: str | None = None,
        fail: bool = False,
        fail_from: int | None = None,
    ) -> None:
        self.inner, self.refuse, self.fail, self.fail_from = inner, refuse, fail, fail_from
        self.requests: list[int] = []

    def trial_info(self) -> TrialInfo:
        return self.inner.trial_info()

    def enroll(self, patient_key: str) -> Enrollment:
        return self.inner.enroll(patient_key)

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        self.requests.append(len(items))
        if self.fail or (self.fail_from is not None and len(self.requests) >= self.fail_from):
            raise StoreUnavailableError("the mapping store test failed: disk I/O error")
        answers = self.inner.get_or_create([i for i in items if i.original != self.refuse])
        refused = iter(answers)
        return [None if i.original == self.refuse else next(refused) for i in items]

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    return generate_corpus(
        tmp_path_factory.mktemp("chunks") / "export",
        patients=1,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=5,
        rows=16,
        cols=16,
        seed=5,
        include_documents=False,
    )


def _paths(corpus: CorpusManifest) -> list[Path]:
    return [path for path, _ in input_files(corpus.root)]


def test_a_chunk_costs_one_store_request_and_matches_file_by_file(
    corpus: CorpusManifest,
) -> None:
    counting = _Counting(store())
    chunked = engine(mapping_store=counting)  # type: ignore[arg-type]
    prepared = [chunked.prepare(path) for path in _paths(corpus)]
    files = [file for file in prepared if isinstance(file, Prepared)]
    assert len(files) == 5 and counting.requests == []
    resolved = chunked.resolve(files)
    assert len(counting.requests) == 1  # every new original of five files, one request
    results = [chunked.finish(file) for file in resolved if isinstance(file, Prepared)]
    assert all(isinstance(result, Deidentified) for result in results)
    done = [result for result in results if isinstance(result, Deidentified)]
    assert len({result.study_uid for result in done}) == 1
    assert len({result.instance_uid for result in done}) == 5
    # The same files one at a time, on the same store: the same pseudonyms, from memory.
    again = engine(mapping_store=counting.inner)  # type: ignore[arg-type]
    for path, result in zip(_paths(corpus), done, strict=True):
        alone = again.process(path)
        assert isinstance(alone, Deidentified)
        assert (alone.instance_uid, alone.series_uid) == (result.instance_uid, result.series_uid)
        assert alone.subject_id == result.subject_id


def test_exhausted_pseudonyms_quarantine_only_their_file(corpus: CorpusManifest) -> None:
    paths = _paths(corpus)
    victim = str(pydicom.dcmread(paths[2], stop_before_pixels=True).SOPInstanceUID)
    counting = _Counting(store(), refuse=victim)
    chunked = engine(mapping_store=counting)  # type: ignore[arg-type]
    files = [file for file in map(chunked.prepare, paths) if isinstance(file, Prepared)]
    resolved = chunked.resolve(files)
    assert [type(file) for file in resolved] == [Prepared] * 2 + [Quarantined] + [Prepared] * 2
    quarantined = resolved[2]
    assert isinstance(quarantined, Quarantined)
    assert quarantined.reason is QuarantineReason.PSEUDONYMS_EXHAUSTED
    assert victim not in quarantined.message
    others = [chunked.finish(file) for file in resolved if isinstance(file, Prepared)]
    assert all(isinstance(result, Deidentified) for result in others)


def _tasks(sizes: list[int]) -> list[Task]:
    return [Task(i, f"/in/{i}", f"{i}", f"id{i}", size) for i, size in enumerate(sizes)]


def test_chunks_are_bounded_by_inputs_and_by_bytes() -> None:
    many = chunks_of(_tasks([1] * 1000), 2)
    full, rest = divmod(1000, CHUNK_FILES)
    assert [len(chunk) for chunk in many] == [CHUNK_FILES] * full + [rest]
    few = chunks_of(_tasks([1] * 10), 2)  # every worker still gets several chunks
    assert [len(chunk) for chunk in few] == [1] * 10
    big = CHUNK_BYTES // 2 + 1
    small = 4 * CHUNK_FILES - 3  # enough for chunks of CHUNK_FILES on one worker
    sizes = [len(chunk) for chunk in chunks_of(_tasks([big] * 3 + [1] * small), 1)]
    assert sizes == [1, 1, CHUNK_FILES, CHUNK_FILES, CHUNK_FILES, CHUNK_FILES - 2]
    order = [
        task.index for chunk in chunks_of(_tasks([5, big, 5, big, 5] * 7), 1) for task in chunk
    ]
    assert order == list(range(35))


def _worker(corpus: CorpusManifest, tmp_path: Path, layout: str = DEFAULT_LAYOUT) -> ChunkWorker:
    return ChunkWorker(_config(corpus, tmp_path, layout))


def _config(corpus: CorpusManifest, tmp_path: Path, layout: str = DEFAULT_LAYOUT) -> BatchConfig:
    return BatchConfig(
        input_root=corpus.root,
        output_root=tmp_path / "out",
        quarantine_root=tmp_path / "quarantine",
        rules=RuleSettings(options=("retain-long-modified-dates",)),
        store=StoreSpec("T1", "07", store_path=tmp_path / "vault" / "vault.sqlite"),
        layout=layout,
    )


def _chunk_tasks(corpus: CorpusManifest) -> list[Task]:
    return [
        Task(index, str(path), relative, f"input{index}")
        for index, (path, relative) in enumerate(input_files(corpus.root))
    ]


def test_a_worker_writes_a_chunk_with_one_request_on_the_embedded_vault(
    corpus: CorpusManifest, tmp_path: Path
) -> None:
    worker = _worker(corpus, tmp_path)
    counting = _Counting(worker.engine.store)
    worker.engine.store = counting
    try:
        results = worker.process_chunk(_chunk_tasks(corpus))
    finally:
        worker.close()
    assert [result.record.status for result in results] == [Status.WRITTEN] * 5
    assert [result.index for result in results] == list(range(5))
    assert len(counting.requests) == 1
    outputs = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(outputs) == 5
    assert len({pydicom.dcmread(p).SOPInstanceUID for p in outputs}) == 5


def test_a_store_failure_fails_every_waiting_input_of_the_chunk(
    corpus: CorpusManifest, tmp_path: Path
) -> None:
    worker = _worker(corpus, tmp_path)
    worker.engine.store = _Counting(worker.engine.store, fail=True)
    try:
        results = worker.process_chunk(_chunk_tasks(corpus))
    finally:
        worker.close()
    assert [result.record.status for result in results] == [Status.FAILED] * 5
    assert all(result.record.reason == Reason.STORE_UNAVAILABLE for result in results)
    assert all(result.fatal for result in results)
    assert [result.record.input_id for result in results] == [f"input{i}" for i in range(5)]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.dcm"))


def test_outputs_that_cannot_be_written_fail_alone(corpus: CorpusManifest, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "blocked").write_bytes(b"a file where a folder must go")
    worker = _worker(corpus, tmp_path, layout="blocked/{instance}.dcm")
    try:
        results = worker.process_chunk(_chunk_tasks(corpus))
    finally:
        worker.close()
    assert [result.record.status for result in results] == [Status.FAILED] * 5
    assert {result.record.reason for result in results} == {Reason.WRITE_ERROR}
    assert not any(result.fatal for result in results)
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert leftovers == []


def test_a_full_pseudonym_memory_still_answers_the_chunk_that_fills_it(
    corpus: CorpusManifest,
) -> None:
    chunked = engine()
    chunked.memory = StoreMemory(max_entries=4)
    first = [f for f in map(chunked.prepare, _paths(corpus)[:1]) if isinstance(f, Prepared)]
    assert all(isinstance(f, Prepared) for f in chunked.resolve(first))
    assert len(chunked.memory)  # the first file's answers, kept for the next files
    files = [f for f in map(chunked.prepare, _paths(corpus)[1:]) if isinstance(f, Prepared)]
    # The chunk's new answers overflow the memory, whose oldest entries go; every file
    # of the chunk still gets every answer, the remembered ones included.
    results = [chunked.finish(f) for f in chunked.resolve(files) if isinstance(f, Prepared)]
    assert len(results) == 4
    assert all(isinstance(result, Deidentified) for result in results)
    assert len(chunked.memory) == 4
    assert len({r.study_uid for r in results if isinstance(r, Deidentified)}) == 1


@pytest.fixture(params=["in turn", "overlapped"])
def store_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A worker's pipeline asks a store of its own process in its own thread, and one
    in another process (the run's store process, a vault) in a second thread while it
    prepares the next chunk; the embedded store is asked the second way here too, as if
    it were far."""
    if request.param == "overlapped":
        monkeypatch.setattr(StoreSpec, "answers_from_afar", property(lambda self: True))
    return str(request.param)


def _pipeline_with_store_failing_from(
    corpus: CorpusManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: int
) -> Iterator[TaskResult]:
    """A worker's pipeline (chunks of one input here), its real store failing from its
    ``request``-th batch request on."""
    worker = ChunkWorker(_config(corpus, tmp_path))
    worker.engine.store = _Counting(worker.engine.store, fail_from=request)
    return _each(worker, chunks_of(_chunk_tasks(corpus), 1))


def _each(worker: ChunkWorker, chunks: list[list[Task]]) -> Iterator[TaskResult]:
    """The pipeline's results one by one; the worker closed when it ends or is closed."""
    try:
        for placed in chunk_results(worker, chunks):
            yield from placed
    finally:
        worker.close()


def _temporary_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_one_worker_reports_every_synced_chunk_before_a_store_failure(
    corpus: CorpusManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_requests: str
) -> None:
    """Chunks are synced while the next is prepared: a failure in the third still
    comes after the first two, written and in place, and nothing is left staged."""
    results = list(_pipeline_with_store_failing_from(corpus, tmp_path, monkeypatch, 3))
    statuses = [result.record.status for result in results]
    assert statuses == [Status.WRITTEN, Status.WRITTEN, Status.FAILED]
    assert results[-1].fatal is not None
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 2
    assert _temporary_files(tmp_path) == []


def test_one_worker_stopped_early_leaves_no_staged_output(
    corpus: CorpusManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_requests: str
) -> None:
    """The caller stops after the first result (Ctrl-C, a fatal result): the chunk
    being synced then is not put in place, and its temporary files go."""
    results = _pipeline_with_store_failing_from(corpus, tmp_path, monkeypatch, 99)
    first = next(results)
    assert first.record.status is Status.WRITTEN
    results.close()
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 1
    assert _temporary_files(tmp_path) == []


def test_rules_are_built_once_per_settings_and_recipe_content(tmp_path: Path) -> None:
    """The parent's check and the worker share one build; a changed recipe file is
    read again, and a missing one still says what is wrong."""
    recipe = tmp_path / "recipe.txt"
    recipe.write_text("FORMAT dicom\n%header\nREPLACE ProtocolName SCANNER\n", encoding="utf-8")
    settings = RuleSettings(recipe=recipe)
    first = settings.build_rules()
    assert RuleSettings(recipe=recipe).build_rules() is first
    recipe.write_text("FORMAT dicom\n%header\nREPLACE ProtocolName OTHER\n", encoding="utf-8")
    again = settings.build_rules()
    assert again is not first
    assert settings.build_rules() is again
    assert RuleSettings(options=("clean-descriptors",)).build_rules() is not again
    recipe.unlink()
    with pytest.raises(RecipeError, match="recipe"):
        settings.build_rules()


def test_one_worker_with_overlapped_store_requests_writes_what_one_by_one_writes(
    corpus: CorpusManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same pseudonyms and outputs whether the store is asked in turn or while the
    next chunk is prepared (every input of a run of five, chunks of one)."""
    outputs = {}
    for mode in ("in turn", "overlapped"):
        if mode == "overlapped":
            monkeypatch.setattr(StoreSpec, "answers_from_afar", property(lambda self: True))
        config = _config(corpus, tmp_path / mode)
        config = replace(config, store=replace(config.store, store_path=tmp_path / "vault.db"))
        results = list(_each(ChunkWorker(config), chunks_of(_chunk_tasks(corpus), 1)))
        assert [r.record.status for r in results] == [Status.WRITTEN] * 5
        outputs[mode] = sorted(
            str(path.relative_to(tmp_path / mode / "out"))
            for path in (tmp_path / mode / "out").rglob("*.dcm")
        )
        assert _temporary_files(tmp_path / mode) == []
    assert outputs["in turn"] == outputs["overlapped"]
    assert len(outputs["overlapped"]) == 5
