"""A worker's pipeline: inputs in chunks, each read, planned, resolved with one store
request, finished, staged, synced and renamed into place.

Each input is read (read-only), planned and collected; the store answers the whole
chunk's pseudonyms in one request; then each is finished, named from its new
identifiers and staged, or its input copied to the quarantine folder with the
reason; the staged outputs are synced together and renamed into place.
:func:`chunk_results` runs a worker's chunks with its waits overlapped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from deid import __version__
from deid.dicomfile import encode_dataset
from deid.engine import Engine, Prepared
from deid.outcome import Deidentified, Quarantined
from deid.report import FileRecord, Reason, Status
from deid.run.config import BatchConfig
from deid.store.factory import StoreUnavailableError
from deid.writing import (
    OutputNames,
    StagedWrites,
    copy_atomic,
    output_path,
    write_json_atomic,
)

QUARANTINE_COPY_SUFFIX = ".orig"
QUARANTINE_REASON_SUFFIX = ".reason.json"
CHUNK_FILES = 32
"""Inputs a worker takes at once: their pseudonyms cost one store request."""
CHUNK_BYTES = 64 << 20
"""A chunk's inputs are in memory together: a chunk stops growing at this many bytes."""
SYNCS_IN_FLIGHT = 2
"""Chunks whose outputs may wait for their sync while the next is prepared (a slow
sync, the disk busy with other writes, then costs no wait)."""
_A = TypeVar("_A")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Task:
    """One input for a worker."""

    index: int
    path: str
    relative: str
    """Only for the quarantine reason file, which stays at the site."""
    input_id: str
    size: int = 0
    """Bytes on disk: chunks are bounded by bytes as well as by inputs."""


@dataclass(slots=True)
class TaskResult:
    """A worker's answer for one task."""

    index: int
    record: FileRecord
    fatal: str | None = None
    """Set when the run must stop (the mapping store failed)."""


@dataclass(eq=False)
class StagedChunk:
    """A chunk on its way: inputs prepared, resolved, then outputs staged under
    temporary names; the results so far."""

    tasks: list[Task]
    results: dict[int, TaskResult] = field(default_factory=dict)
    staged: StagedWrites = field(default_factory=StagedWrites)
    written: list[tuple[Task, FileRecord]] = field(default_factory=list)
    waiting: list[tuple[Task, Prepared]] = field(default_factory=list)
    """Inputs prepared, waiting for the store's answers."""
    resolved: list[Prepared | Quarantined] | None = None
    """The store's answers were given (or a file's pseudonyms ran out)."""

    def sync(self) -> OSError | None:
        """Push the staged outputs to disk (any thread); the error, if it failed."""
        return self.staged.sync()

    def place(self, sync_error: OSError | None) -> list[TaskResult]:
        """Rename the synced outputs into place; every task's result, in order."""
        try:
            for (task, record), error in zip(
                self.written, self.staged.place(sync_error), strict=True
            ):
                self.results[task.index] = (
                    TaskResult(task.index, record) if error is None else _unwritten(task, error)
                )
        finally:
            self.staged.abandon()
        return [self.results[task.index] for task in self.tasks]

    def abandon(self) -> None:
        """Remove the staged outputs (the run is stopping)."""
        self.staged.abandon()

    def stops_the_run(self) -> bool:
        """True when a result is fatal (the mapping store failed)."""
        return any(result.fatal is not None for result in self.results.values())


class ChunkWorker:
    """Builds the rules, the engine and a store connection once; then chunk by chunk."""

    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        self.store = config.store.open()
        try:
            self.engine = Engine(
                config.rules.build_rules(), self.store, config.rules.engine_settings()
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Let go of the store connection."""
        with suppress(StoreUnavailableError):
            self.store.close()

    def process(self, task: Task) -> TaskResult:
        """De-identify one input into OUTPUT, or quarantine it; never raises."""
        return self.process_chunk([task])[0]

    def process_chunk(self, tasks: list[Task]) -> list[TaskResult]:
        """De-identify several inputs, asking the mapping store once for all of them.

        Each input is read, planned and collected; the store answers every pseudonym
        of the chunk in one request; then each is finished and written (or
        quarantined) on its own. Never raises; a failing store ends the chunk with
        a fatal result.
        """
        chunk = self.prepare_chunk(tasks)  # stages nothing
        try:
            self.resolve_chunk(chunk)
            self.finish_chunk(chunk)
            return chunk.place(chunk.sync())
        finally:
            chunk.abandon()  # stopped on the way (SIGTERM): no temporary file stays

    def prepare_chunk(self, tasks: list[Task]) -> StagedChunk:
        """Read, plan and collect each input (enrolling new patients); a fatal result
        (the store failed) ends the chunk there."""
        chunk = StagedChunk(tasks)
        for task in tasks:
            prepared = self._attempt(task, self.engine.prepare, task.path)
            if isinstance(prepared, TaskResult):
                chunk.results[task.index] = prepared
                if prepared.fatal is not None:
                    chunk.tasks = [t for t in tasks if t.index in chunk.results]
                    chunk.waiting = []
                    return chunk
            else:
                chunk.waiting.append((task, prepared))
        return chunk

    def resolve_chunk(self, chunk: StagedChunk) -> None:
        """Ask the store for every pseudonym of the prepared chunk at once. May run in a
        second thread while this worker prepares the next chunk: the engine's answers
        and its preparation share nothing, and the store takes one call at a time."""
        if not chunk.waiting:
            return
        try:
            chunk.resolved = self.engine.resolve([file for _, file in chunk.waiting])
        except Exception as exc:  # every input of the chunk gets its result
            for task, _ in chunk.waiting:
                chunk.results[task.index] = self._unexpected(task, exc)
            chunk.waiting = []

    def finish_chunk(self, chunk: StagedChunk) -> None:
        """Finish and stage each resolved input of the chunk."""
        if chunk.resolved is None:
            return
        for (task, _), file in zip(chunk.waiting, chunk.resolved, strict=True):
            self._finish(task, file, chunk)
        chunk.waiting, chunk.resolved = [], None  # the datasets go; the outputs are staged

    def _finish(self, task: Task, file: Prepared | Quarantined, chunk: StagedChunk) -> None:
        """Finish one resolved file and stage its output (or record why not)."""
        try:
            done = self._attempt(task, self.engine.finish, file)
            failed = done if isinstance(done, TaskResult) else self._stage(task, done, chunk)
        except BaseException:
            chunk.abandon()
            raise
        if failed is not None:
            chunk.results[task.index] = failed

    def _attempt(
        self, task: Task, step: Callable[[_A], _R | Quarantined], argument: _A | Quarantined
    ) -> _R | TaskResult:
        """``step(argument)`` for ``task``, or the task's result when it quarantines
        or fails (a ``Quarantined`` outcome included)."""
        if isinstance(argument, Quarantined):  # resolving quarantined it
            return self._quarantine(task, argument.reason, argument.message)
        try:
            outcome = step(argument)
        except Exception as exc:
            return self._unexpected(task, exc)
        if isinstance(outcome, Quarantined):
            return self._quarantine(task, outcome.reason, outcome.message)
        return outcome

    def _unexpected(self, task: Task, exc: Exception) -> TaskResult:
        if isinstance(exc, StoreUnavailableError):
            return failed(task, Reason.STORE_UNAVAILABLE, str(exc), fatal=True)
        if isinstance(exc, OSError):
            return self._quarantine(task, Reason.UNREADABLE, f"cannot read: {exc.strerror}")
        # The message may quote a value of the file: it goes to the quarantine
        # folder (which holds the original anyway), never to the report.
        return self._quarantine(
            task,
            Reason.INTERNAL_ERROR,
            f"unexpected {type(exc).__name__} while de-identifying",
            detail=str(exc),
        )

    def _stage(self, task: Task, result: Deidentified, chunk: StagedChunk) -> TaskResult | None:
        """Encode and stage the output (it goes into place with the chunk's commit);
        the task's result only when it cannot be written."""
        names = OutputNames(
            subject=result.subject_id,
            study=result.study_uid,
            series=result.series_uid,
            instance=result.instance_uid,
            modality=result.modality,
        )
        relative = output_path(self.config.layout, names)
        encoded = self._attempt(task, encode_dataset, result.dataset)
        if isinstance(encoded, TaskResult):
            return encoded
        try:
            chunk.staged.stage(self.config.output_root / relative, encoded)
        except OSError as exc:
            return _unwritten(task, exc)
        record = FileRecord(
            task.input_id,
            Status.WRITTEN,
            output=relative,
            subject_id=result.subject_id,
            unreviewed_text=result.unreviewed_text,
        )
        chunk.written.append((task, record))
        return None

    def _quarantine(
        self, task: Task, reason: str, message: str, detail: str | None = None
    ) -> TaskResult:
        root = self.config.quarantine_root
        copy = root / f"{task.input_id}{QUARANTINE_COPY_SUFFIX}"
        explanation = {
            "input_id": task.input_id,
            "reason": str(reason),
            "message": message,
            "source": task.relative,
            "input_root": str(self.config.input_root.resolve()),
            "quarantined": datetime.now(UTC).isoformat(timespec="seconds"),
            "deid_version": __version__,
        }
        if detail:
            explanation["detail"] = detail
        try:
            copy_atomic(Path(task.path), copy)
            write_json_atomic(root / f"{task.input_id}{QUARANTINE_REASON_SUFFIX}", explanation)
        except OSError as exc:
            return failed(
                task,
                Reason.QUARANTINE_ERROR,
                f"{message}; and the quarantine copy failed: {exc.strerror}",
            )
        record = FileRecord(task.input_id, Status.QUARANTINED, str(reason), message)
        return TaskResult(task.index, record)


def chunks_of(tasks: list[Task], workers: int) -> list[list[Task]]:
    """Tasks in chunks of up to :data:`CHUNK_FILES`, small enough that every worker gets
    several (the last ones to finish then wait less for each other)."""
    most = max(1, min(CHUNK_FILES, len(tasks) // (4 * workers)))
    chunks: list[list[Task]] = []
    chunk: list[Task] = []
    size = 0
    for task in tasks:
        if chunk and (len(chunk) >= most or size + task.size > CHUNK_BYTES):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(task)
        size += task.size
    return [*chunks, chunk] if chunk else chunks


def _unwritten(task: Task, error: OSError) -> TaskResult:
    return failed(task, Reason.WRITE_ERROR, f"cannot write the output: {error.strerror}")


def failed(task: Task, reason: str, message: str, *, fatal: bool = False) -> TaskResult:
    """Neither written nor quarantined; ``fatal`` stops the run."""
    record = FileRecord(task.input_id, Status.FAILED, reason, message)
    return TaskResult(task.index, record, fatal=message if fatal else None)


def chunk_results(worker: ChunkWorker, chunks: Iterable[list[Task]]) -> Iterator[list[TaskResult]]:
    """Every chunk's results, in order, once its outputs are synced and in place.

    Waits are overlapped: while another process answers one chunk's pseudonyms (the
    run's store process, a vault) the next chunk is prepared, and while a chunk's
    outputs are synced to disk (:data:`SYNCS_IN_FLIGHT`) the next ones are prepared
    and finished; each in a thread of its own, as both wait outside Python (a store
    in this process answers in Python, in this thread). A fatal result (the store
    failed) ends it with that chunk. Closing the generator early (the run stops)
    removes whatever was staged and not put in place.
    """
    overlap = worker.config.store.answers_from_afar
    live: list[StagedChunk] = []
    """Chunks prepared and not yet in place: what a stopped run abandons."""
    asking: list[tuple[StagedChunk, Future[None]]] = []
    unplaced: list[tuple[StagedChunk, Future[OSError | None] | None]] = []
    asker, syncer = _Lane("deid-store"), _Lane("deid-sync")
    try:
        # A chunk leaves a list only once the next step is done with it, so that
        # an interruption anywhere finds it in ``live`` and its files are removed.

        def finish_answered() -> bool:
            """Finish the chunk the store has answered; True when it ends the run."""
            chunk, asked = asking[0]
            asked.result()
            worker.finish_chunk(chunk)
            last = chunk.stops_the_run()
            unplaced.append((chunk, None if last else syncer.submit(chunk.sync)))
            asking.pop(0)
            return last

        def placed(keep: int) -> Iterator[list[TaskResult]]:
            while len(unplaced) > keep:
                chunk, syncing = unplaced[0]
                results = chunk.place(syncing.result() if syncing else chunk.sync())
                unplaced.pop(0)
                live.remove(chunk)
                yield results

        for tasks in chunks:
            chunk = worker.prepare_chunk(tasks)
            live.append(chunk)
            if asking and finish_answered():
                yield from placed(0)  # the run stops: this chunk is not reported
                return
            if chunk.stops_the_run():
                unplaced.append((chunk, None))
                yield from placed(0)
                return
            if overlap:
                asking.append((chunk, asker.submit(worker.resolve_chunk, chunk)))
            else:
                worker.resolve_chunk(chunk)
                asking.append((chunk, _answered()))
                if finish_answered():
                    yield from placed(0)
                    return
            yield from placed(SYNCS_IN_FLIGHT)
        if asking:
            finish_answered()
        yield from placed(0)
    finally:
        # Whatever was staged and not put in place goes, at once: a stop must not wait
        # for a store request that may be retrying against a vault that is gone.
        for chunk in live:
            chunk.abandon()
        asker.close()
        syncer.close()


class _Lane:
    """One daemon thread doing submitted calls in turn. Daemon, unlike an executor's:
    a worker told to stop does not wait for a call in flight (a request retrying
    against a vault that is gone) before it ends."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def submit(self, call: Callable[..., _R], *args: Any) -> Future[_R]:
        """Do ``call(*args)`` after the calls submitted before; its future."""
        future: Future[_R] = Future()
        self._calls.put((lambda: call(*args), future))
        return future

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)

    def close(self) -> None:
        """End the thread once the calls submitted so far are done (not waited for)."""
        self._calls.put(None)


def _answered() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done
