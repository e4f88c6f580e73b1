"""``deid run``: every file of a folder, in parallel, resumable, never half-written.

The parent process walks INPUT (sorted), decides what an earlier run already did,
hands the rest to worker processes, collects one :class:`~deid.report.FileRecord`
per input, draws the progress bar and writes the report. Each worker builds its
rules and engine once, opens its own connection to the mapping store, and takes
inputs in chunks (:data:`CHUNK_FILES`, :data:`CHUNK_BYTES`): each input is read
(read-only), planned and collected; the store answers the whole chunk's pseudonyms
in one request; then each is finished, named from its new identifiers and staged,
or its input copied to the quarantine folder with the reason; the staged outputs
are synced together and renamed into place. One worker runs in the parent process
and overlaps its waits with the next chunk's work: the sync (another thread), and
a vault's answer (another thread, when the store is another process).

Resuming: ``OUTPUT/.deid/`` holds the run's settings, the salt of the input hashes
and one line per written input (hash of its relative path, size, modification
time, output). A rerun with the same settings skips inputs whose line matches and
whose output exists, and redoes everything else; quarantined and failed inputs are
always tried again. A rerun with other settings is refused, so one OUTPUT never
mixes two ways of de-identifying.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.context import BaseContext
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

from tqdm import tqdm

from deid import __version__
from deid.contract.errors import UsageError
from deid.dicomfile import encode_dataset
from deid.engine import Engine, EngineSettings, PayloadPolicy, Prepared
from deid.heap import settle, settled_heap
from deid.outcome import Deidentified, Quarantined
from deid.profiles import (
    PatientNamePolicy,
    Rules,
    build_rules,
    load_recipe_file,
    load_safe_private_file,
)
from deid.pseudo import reseed
from deid.report import FileRecord, Reason, RunReport, Status
from deid.store.factory import StoreSpec, StoreUnavailableError
from deid.writing import (
    DEFAULT_LAYOUT,
    OutputNames,
    StagedWrites,
    copy_atomic,
    input_files,
    input_id,
    is_within,
    output_path,
    remove_stale_temp_files,
    write_json_atomic,
)

STATE_FOLDER = ".deid"
SETTINGS_FILE = "run.json"
DONE_FILE = "done.jsonl"
REPORT_NAME = "deid-report.json"
QUARANTINE_COPY_SUFFIX = ".orig"
QUARANTINE_REASON_SUFFIX = ".reason.json"
STATE_VERSION = 1
CHUNK_FILES = 32
"""Inputs a worker takes at once: their pseudonyms cost one store request."""
CHUNK_BYTES = 64 << 20
"""A chunk's inputs are in memory together: a chunk stops growing at this many bytes."""
SYNCS_IN_FLIGHT = 2
"""One worker in this process: chunks whose outputs may wait for their sync while the
next is prepared (a slow sync, the disk busy with other writes, then costs no wait)."""
_A = TypeVar("_A")
_R = TypeVar("_R")


class BatchError(UsageError):
    """The batch cannot start; the message says what to change."""


@dataclass(frozen=True)
class RuleSettings:
    """What every worker builds its rules and engine from (picklable, compared on resume).

    The parent builds the rules once before any worker starts
    (:meth:`build_rules`), so a bad recipe or option stops the run before it begins.
    """

    options: tuple[str, ...] = ()
    recipe: Path | None = None
    variables: tuple[tuple[str, str], ...] = ()
    accepted_deviations: tuple[str, ...] = ()
    safe_private: Path | None = None
    strict: bool = False
    patient_name: str = PatientNamePolicy.PSEUDONYM.value
    burned_in_annotation: str = PayloadPolicy.QUARANTINE.value
    encapsulated_documents: str = PayloadPolicy.QUARANTINE.value

    def build_rules(self) -> Rules:
        """The run's rules: profile and options, the default trial recipe, the recipe.

        Raises the rules' own errors (unknown option, unreadable or contradicting
        recipe, bad safe-private file), whose messages say what to fix. Built once per
        process for the same settings and file contents (the parent's check, then
        the worker; forked workers inherit it).
        """
        try:
            key = (self, _file_digest(self.recipe), _file_digest(self.safe_private))
        except OSError:
            return self._build_rules()  # which says what is wrong with the file
        built = _BUILT_RULES.get(key)
        if built is None:
            built = self._build_rules()
            _BUILT_RULES.clear()  # one run's rules at a time
            _BUILT_RULES[key] = built
        return built

    def _build_rules(self) -> Rules:
        recipe = load_recipe_file(self.recipe, dict(self.variables)) if self.recipe else None
        safe_private = load_safe_private_file(self.safe_private) if self.safe_private else None
        return build_rules(
            self.options,
            strict=self.strict,
            patient_name_policy=PatientNamePolicy(self.patient_name),
            safe_private=safe_private,
            recipe=recipe,
            accepted_deviations=self.accepted_deviations,
            with_trial_recipe=True,
        )

    def engine_settings(self) -> EngineSettings:
        """What the engine does with payloads it cannot clean."""
        return EngineSettings(
            burned_in_annotation=PayloadPolicy(self.burned_in_annotation),
            encapsulated_documents=PayloadPolicy(self.encapsulated_documents),
        )

    def fingerprint(self) -> dict[str, Any]:
        """The settings as compared between runs; files by their content."""
        return {
            "options": sorted(self.options),
            "recipe_sha256": _file_digest(self.recipe),
            "variables": sorted(f"{k}={v}" for k, v in self.variables),
            "accepted_deviations": sorted(self.accepted_deviations),
            "safe_private_sha256": _file_digest(self.safe_private),
            "strict": self.strict,
            "patient_name": self.patient_name,
            "burned_in_annotation": self.burned_in_annotation,
            "encapsulated_documents": self.encapsulated_documents,
        }


_BUILT_RULES: dict[tuple[RuleSettings, str | None, str | None], Rules] = {}


def _file_digest(path: Path | None) -> str | None:
    return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class BatchConfig:
    """Everything a run needs; travels to every worker."""

    input_root: Path
    output_root: Path
    quarantine_root: Path
    rules: RuleSettings
    store: StoreSpec
    anonymize: bool = False
    layout: str = DEFAULT_LAYOUT
    salt: bytes = field(default=b"", repr=False)

    def settings(self) -> dict[str, Any]:
        """What must not change between runs into the same OUTPUT."""
        return {
            **self.rules.fingerprint(),
            "trial": self.store.trial,
            "site": self.store.site,
            "store": self.store.identity(),
            "anonymize": self.anonymize,
            "layout": self.layout,
        }


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


# --- resume state --------------------------------------------------------------------


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


# --- the worker ----------------------------------------------------------------------


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


class Worker:
    """Builds the rules, the engine and a store connection once; then file by file."""

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
            return _failed(task, Reason.STORE_UNAVAILABLE, str(exc), fatal=True)
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
            return _failed(
                task,
                Reason.QUARANTINE_ERROR,
                f"{message}; and the quarantine copy failed: {exc.strerror}",
            )
        record = FileRecord(task.input_id, Status.QUARANTINED, str(reason), message)
        return TaskResult(task.index, record)


_worker: Worker | None = None
_worker_failure: tuple[str, str] = (Reason.INTERNAL_ERROR, "the worker could not start")


WORKER_EXIT_GRACE_SECONDS = 5


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    # Unwinding removes the temporary file. But a signal that lands while a
    # finalizer (__del__) runs has its exception printed and dropped, and the worker
    # would wait for its next task forever, with the parent waiting for it (seen when
    # a vault stopped mid-run): SIGALRM's default action ends it for sure.
    signal.alarm(WORKER_EXIT_GRACE_SECONDS)
    raise SystemExit(128 + signum)


def _init_worker(config: BatchConfig) -> None:
    # The parent handles Ctrl-C and stops the pool; a terminated worker unwinds, so
    # its temporary file is removed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    reseed()
    global _worker, _worker_failure
    # Raising here would make the pool start replacement workers forever; the first
    # task reports the failure instead and the parent stops the run.
    try:
        _worker = Worker(config)
        settle()
    except StoreUnavailableError as exc:
        _worker_failure = (Reason.STORE_UNAVAILABLE, str(exc))
    except Exception as exc:
        _worker_failure = (Reason.INTERNAL_ERROR, f"a worker could not start: {exc!r}")


def _work(tasks: list[Task]) -> list[TaskResult]:
    if _worker is None:
        reason, message = _worker_failure
        return [_failed(task, reason, message, fatal=True) for task in tasks]
    return _worker.process_chunk(tasks)


def _chunks(tasks: list[Task], workers: int) -> list[list[Task]]:
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
    return _failed(task, Reason.WRITE_ERROR, f"cannot write the output: {error.strerror}")


def _failed(task: Task, reason: str, message: str, *, fatal: bool = False) -> TaskResult:
    """Neither written nor quarantined; ``fatal`` stops the run."""
    record = FileRecord(task.input_id, Status.FAILED, reason, message)
    return TaskResult(task.index, record, fatal=message if fatal else None)


# --- the parent ----------------------------------------------------------------------


def _context() -> BaseContext:
    # fork starts workers in milliseconds and shares the loaded tables; the worker
    # initializer reseeds what must differ per process.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _results_in_process(
    config: BatchConfig, tasks: list[Task]
) -> Generator[TaskResult, None, None]:
    """One worker in this process, with its waits overlapped: while another process
    answers one chunk's pseudonyms (a vault: a round trip) the next chunk is
    prepared, and while a chunk's outputs are synced to disk (:data:`SYNCS_IN_FLIGHT`)
    the next ones are prepared and finished; each in a thread of its own, as both
    wait outside Python (the embedded store answers in Python, in this thread).
    Outputs go into place, and their results out, in order and only once synced."""
    worker = Worker(config)
    overlap = config.store.answers_from_afar
    live: list[StagedChunk] = []
    """Chunks prepared and not yet in place: what a stopped run abandons."""
    asking: list[tuple[StagedChunk, Future[None]]] = []
    unplaced: list[tuple[StagedChunk, Future[OSError | None] | None]] = []
    try:
        with (
            settled_heap(),
            ThreadPoolExecutor(1, thread_name_prefix="deid-store") as asker,
            ThreadPoolExecutor(1, thread_name_prefix="deid-sync") as syncer,
        ):
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

            def placed(keep: int) -> Iterator[TaskResult]:
                while len(unplaced) > keep:
                    chunk, syncing = unplaced[0]
                    results = chunk.place(syncing.result() if syncing else chunk.sync())
                    unplaced.pop(0)
                    live.remove(chunk)
                    yield from results

            for tasks_of_chunk in _chunks(tasks, 1):
                chunk = worker.prepare_chunk(tasks_of_chunk)
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
                else:  # answered in this process, in Python: nothing to gain
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
        # The threads are done (leaving the executors waited for them): whatever was
        # staged and not put in place goes.
        for chunk in live:
            chunk.abandon()
        worker.close()


def _answered() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def _results_in_pool(
    config: BatchConfig, tasks: list[Task], workers: int, stack: ExitStack
) -> Generator[TaskResult, None, None]:
    others = {child.pid for child in multiprocessing.active_children()}
    pool = _context().Pool(workers, initializer=_init_worker, initargs=(config,))
    stack.callback(pool.join)
    stack.callback(_terminate, pool, others)
    for results in pool.imap_unordered(_work, _chunks(tasks, workers), chunksize=1):
        yield from results
    # Every result is in: let the workers finish on their own. Terminating them (the
    # stack's callback, for the early exits) could catch one where its SIGTERM
    # handler's SystemExit is swallowed (inside a finalizer); _terminate kills such
    # a straggler after a grace period.
    pool.close()
    pool.join()


def _terminate(pool: Any, others: set[int | None]) -> None:
    """``pool.terminate()``, sure to end.

    It sends each worker SIGTERM and then waits for every one of them; a worker that
    misses the signal (it can, blocked on the task queue's lock, which the pool
    keeps while it stops) would be waited for forever. After the grace period the
    workers still there (children of this process other than ``others``) are killed.
    """
    stopping = threading.Thread(target=pool.terminate, name="deid-pool-stop", daemon=True)
    stopping.start()
    stopping.join(2 * WORKER_EXIT_GRACE_SECONDS)
    while stopping.is_alive():
        for child in multiprocessing.active_children():
            if child.pid not in others:
                child.kill()
        stopping.join(1)


def run_batch(
    config: BatchConfig,
    *,
    workers: int = 1,
    progress: bool = False,
    report_path: Path | None = None,
    on_result: Callable[[FileRecord], None] | None = None,
) -> RunReport:
    """De-identify every input of ``config``; return (and write) the run report.

    Raises :class:`BatchError` before anything is done when the folders or settings
    cannot work. A failing mapping store stops the run early (``report.stopped``);
    Ctrl-C stops it too (``KeyboardInterrupt`` propagates after the report is
    written). ``on_result`` is called in the parent with each input's record as it
    arrives.
    """
    check_folders(config)
    settings = config.settings()
    state = RunState(config.output_root)
    state.load_or_create(settings)
    config = _with_salt(config, state.salt)
    remove_stale_temp_files(config.output_root)
    remove_stale_temp_files(config.quarantine_root)

    report = RunReport(settings={**settings, "deid_version": __version__, "workers": workers})
    tasks: list[Task] = []
    stats: dict[int, os.stat_result] = {}
    skipped: dict[int, FileRecord] = {}
    for index, (path, relative) in enumerate(input_files(config.input_root)):
        record_id = input_id(relative, config.salt)
        try:
            stat = path.stat()
        except OSError:
            stat = None
        if stat is not None and state.already_written(record_id, stat, config.output_root):
            done = state.done[record_id].record
            skipped[index] = FileRecord(
                record_id,
                Status.SKIPPED,
                output=done.output,
                subject_id=done.subject_id,
                unreviewed_text=done.unreviewed_text,
            )
            continue
        if stat is not None:
            stats[index] = stat
        tasks.append(Task(index, str(path), relative, record_id, stat.st_size if stat else 0))

    results: dict[int, FileRecord] = dict(skipped)
    stopped: str | None = None
    report_file = report_path or config.output_root / REPORT_NAME
    state.open()
    tqdm.monitor_interval = 0  # no monitor thread in a process that forks workers
    bar = tqdm(
        total=len(tasks),
        unit="file",
        desc="de-identifying",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    not_written = 0
    try:
        with ExitStack() as stack:
            if (workers == 1 and not os.environ.get("DEID_FORCE_POOL")) or len(tasks) <= 1:
                outcomes = _results_in_process(config, tasks)
            else:
                outcomes = _results_in_pool(config, tasks, min(workers, len(tasks)), stack)
            stack.enter_context(closing(outcomes))
            for result in outcomes:
                results[result.index] = result.record
                if result.record.status is Status.WRITTEN and result.index in stats:
                    state.mark_written(result.record, stats[result.index])
                bar.update()
                if result.record.status is not Status.WRITTEN:
                    not_written += 1
                    bar.set_postfix(not_written=not_written, refresh=False)
                if result.fatal is not None:
                    stopped = result.fatal
                    break
                if on_result is not None:
                    on_result(result.record)
    except StoreUnavailableError as exc:
        stopped = str(exc)
    except KeyboardInterrupt:
        _finish(report, results, state, report_file, bar, "interrupted", len(tasks) + len(skipped))
        raise
    _finish(report, results, state, report_file, bar, stopped, len(tasks) + len(skipped))
    return report


def _finish(
    report: RunReport,
    results: dict[int, FileRecord],
    state: RunState,
    report_file: Path,
    bar: tqdm[Any],
    stopped: str | None,
    inputs: int,
) -> None:
    bar.close()
    state.close()
    for index in sorted(results):
        report.add(results[index])
    report.finish(stopped, not_processed=inputs - len(results))
    report.write(report_file)


def _with_salt(config: BatchConfig, salt: bytes) -> BatchConfig:
    return replace(config, salt=salt)


def check_folders(config: BatchConfig) -> None:
    """Refuse folder combinations that could touch the input or leak originals or keys."""
    source = config.input_root
    if not source.exists():
        raise BatchError(f"INPUT {source} does not exist")
    places = {
        "OUTPUT": config.output_root,
        "the quarantine folder": config.quarantine_root,
    }
    if config.store.store_path is not None:
        places["the mapping store"] = config.store.store_path
    for name, place in places.items():
        if is_within(place, source) or (source.is_dir() and is_within(source, place)):
            raise BatchError(
                f"{name} ({place}) and INPUT ({source}) overlap; choose folders outside "
                "each other so that INPUT is never written to"
            )
    # OUTPUT is what leaves the site: originals and keys must not be in it.
    if is_within(config.quarantine_root, config.output_root):
        raise BatchError(
            f"the quarantine folder ({config.quarantine_root}) is inside OUTPUT: it holds "
            "originals and must stay at the site; choose a folder outside OUTPUT"
        )
    store = config.store.store_path
    if store is not None and is_within(store, config.output_root):
        raise BatchError(
            f"the mapping store ({store}) is inside OUTPUT: it and its key files must stay "
            "at the site; choose a path outside OUTPUT"
        )
    if config.output_root.exists() and not config.output_root.is_dir():
        raise BatchError(f"OUTPUT {config.output_root} exists and is not a folder")
