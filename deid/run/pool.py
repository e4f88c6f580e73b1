"""The worker processes of a run: how chunks reach them, how results come back, how they stop.

Every run, with one worker or many, runs its workers as processes forked from this
one (they inherit the loaded tables and the rules built for the run's check). Each
takes the next chunk from a counter they share, runs its chunks through
:func:`~deid.run.chunks.chunk_results` and sends each chunk's results back on a pipe
of its own as the chunk goes into place. The parent handles Ctrl-C; a worker
ignores it and unwinds on SIGTERM, which removes its temporary files.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from types import FrameType
from typing import TYPE_CHECKING

from deid.contract.errors import DeidError
from deid.heap import settle
from deid.pseudo import reseed
from deid.report import Reason
from deid.run.chunks import ChunkWorker, Task, TaskResult, chunk_results, failed
from deid.run.config import BatchConfig
from deid.store.factory import StoreUnavailableError

if TYPE_CHECKING:
    from sys import UnraisableHookArgs

WORKER_EXIT_GRACE_SECONDS = 5


class WorkerLostError(DeidError, RuntimeError):
    """A worker process ended without finishing its chunks (killed, or out of memory)."""


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    # Unwinding removes the temporary file. But a signal that lands while a
    # finalizer (__del__) runs has its exception printed and dropped, and the worker
    # would wait forever, with the parent waiting for it (seen when a vault stopped
    # mid-run): SIGALRM's default action ends it for sure.
    signal.alarm(WORKER_EXIT_GRACE_SECONDS)
    raise SystemExit(128 + signum)


def _quiet_when_stopped(unraisable: UnraisableHookArgs) -> None:
    """A worker's hook for exceptions Python drops: the SystemExit of a stop that landed
    in a finalizer is expected (the alarm ends the worker), not a traceback to show."""
    if not isinstance(unraisable.exc_value, SystemExit):
        sys.__unraisablehook__(unraisable)


def _context() -> ForkContext | SpawnContext:
    # fork starts workers in milliseconds and shares the loaded tables; each worker
    # reseeds what must differ per process.
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _taken(chunks: Sequence[list[Task]], next_chunk: Synchronized[int]) -> Iterator[list[Task]]:
    """The chunks this worker takes, each as it is ready for one (no chunk twice)."""
    while True:
        with next_chunk.get_lock():
            index = next_chunk.value
            next_chunk.value = index + 1
        if index >= len(chunks):
            return
        yield chunks[index]


def _work(
    config: BatchConfig,
    chunks: Sequence[list[Task]],
    next_chunk: Synchronized[int],
    results: Connection,
) -> None:
    """A worker process: build the engine, then chunks until none is left; ``None`` last."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    sys.unraisablehook = _quiet_when_stopped
    reseed()
    taken = _taken(chunks, next_chunk)
    try:
        worker = ChunkWorker(config)
    except StoreUnavailableError as exc:
        failure = (Reason.STORE_UNAVAILABLE, str(exc))
    except Exception as exc:
        failure = (Reason.INTERNAL_ERROR, f"a worker could not start: {exc!r}")
    else:
        settle()
        for placed in chunk_results(worker, taken):
            results.send(placed)
        # Only when done: a worker told to stop ends with its connections, and must not
        # wait for a store request in flight.
        worker.close()
        results.send(None)
        return
    # The first chunk it takes says why; the run stops there.
    for tasks in taken:
        results.send([failed(task, *failure, fatal=True) for task in tasks])
        break
    results.send(None)


def worker_results(
    config: BatchConfig, chunks: Sequence[list[Task]], workers: int
) -> Generator[list[TaskResult], None, None]:
    """Run ``chunks`` on ``workers`` processes; each chunk's results as they arrive.

    Closing the generator (the run stops early: a fatal result, Ctrl-C) stops the
    workers; so does the end of the chunks. A worker that ends without finishing
    raises :class:`WorkerLostError`.
    """
    context = _context()
    next_chunk = context.Value("i", 0)
    running: dict[Connection, BaseProcess] = {}
    try:
        for number in range(workers):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(
                target=_work,
                args=(config, chunks, next_chunk, writer),
                name=f"deid-worker-{number + 1}",
                daemon=True,
            )
            process.start()
            writer.close()  # so that a worker's end reads as the end of its pipe
            running[reader] = process
        while running:
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                try:
                    placed = ready.recv()
                except EOFError:
                    lost = running.pop(ready)
                    lost.join()
                    raise WorkerLostError(
                        f"worker process {lost.name} ended unexpectedly (exit status "
                        f"{lost.exitcode}); rerun the same command to resume"
                    ) from None
                if placed is None:
                    running.pop(ready).join()
                    ready.close()
                else:
                    yield placed
    finally:
        stop(running.values())
        for reader in running:
            reader.close()


def stop(processes: Iterable[BaseProcess]) -> None:
    """End the worker processes, sure to: SIGTERM (a worker unwinds and removes its
    temporary files), then, after the grace period, SIGKILL for any still there (a
    worker can miss the signal: see :func:`_raise_system_exit`)."""
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + 2 * WORKER_EXIT_GRACE_SECONDS
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in alive:
        if process.is_alive():
            process.kill()
            process.join()
