"""Stopping the workers of a run ends, even when a worker does not act on SIGTERM."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deid.run import pool

ROOT = Path(__file__).resolve().parents[2]

# The signal arrives while __del__ sleeps: the SystemExit it raises there is only
# printed ("Exception ignored in"), and the process then blocks for good, the way a
# pool worker waits for its next task.
CHILD = """
import signal, sys, threading, time
from deid.run.pool import _raise_system_exit

signal.signal(signal.SIGTERM, _raise_system_exit)

class Finalized:
    def __del__(self):
        print("in finalizer", flush=True)
        time.sleep(3)

thing = Finalized()
del thing
print("after finalizer", flush=True)
threading.Event().wait()
"""


def test_a_signal_dropped_in_a_finalizer_still_ends_the_worker() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "in finalizer"
        time.sleep(0.2)
        child.send_signal(signal.SIGTERM)
        status = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.stdout.read().strip() == "after finalizer"  # the exception was dropped
    assert status == -signal.SIGALRM


def _deaf_and_busy() -> None:
    # Busy, and deaf to SIGTERM (the way a worker is that missed it, see above).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)


def test_stopping_the_workers_ends_even_when_one_misses_sigterm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool, "WORKER_EXIT_GRACE_SECONDS", 1)
    context = multiprocessing.get_context("fork")
    bystander = context.Process(target=time.sleep, args=(30,))
    bystander.start()
    try:
        workers = [context.Process(target=_deaf_and_busy) for _ in range(2)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        started = time.monotonic()
        pool.stop(workers)  # SIGTERM alone would wait forever
        assert time.monotonic() - started < 10
        assert all(not worker.is_alive() for worker in workers)
        assert bystander.is_alive()  # not a worker of the run: left alone
    finally:
        bystander.kill()
        bystander.join()
