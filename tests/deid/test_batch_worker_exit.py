"""A worker told to stop (SIGTERM) ends even when the signal lands in a finalizer."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

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
