"""Stopping the workers of a run ends, even when a worker does not act on SIGTERM."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deid import batch

ROOT = Path(__file__).resolve().parents[2]

# The signal arrives while __del__ sleeps: the SystemExit it raises there is only
# printed ("Exception ignored in"), and the process then blocks for good, the way a
# pool worker waits for its next task.
CHILD = """
import signal, sys, threading, time
from deid.batch import _raise_system_exit

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


def _deaf_to_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _square(n: int) -> int:
    return n * n


def test_stopping_the_pool_ends_even_when_a_worker_misses_sigterm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch, "WORKER_EXIT_GRACE_SECONDS", 1)
    bystander = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    bystander.start()
    try:
        others = {child.pid for child in multiprocessing.active_children()}
        pool = multiprocessing.get_context("fork").Pool(2, initializer=_deaf_to_sigterm)
        assert pool.map(_square, range(4)) == [0, 1, 4, 9]
        workers = [child for child in multiprocessing.active_children() if child.pid not in others]
        assert len(workers) == 2
        pool.map_async(time.sleep, [60, 60])  # busy, and deaf to SIGTERM
        time.sleep(0.5)
        started = time.monotonic()
        batch._terminate(pool, others)  # pool.terminate() alone would wait forever
        assert time.monotonic() - started < 10
        assert all(not worker.is_alive() for worker in workers)
        assert bystander.is_alive()  # not a worker of the pool: left alone
    finally:
        bystander.kill()
        bystander.join()
