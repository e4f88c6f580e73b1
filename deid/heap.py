"""The garbage collector during a batch: the start-up objects set aside.

A run imports pydicom, Faker's providers, SQLAlchemy and the rules: hundreds of
thousands of long-lived objects. Python's cyclic collector walks all of them at
every full collection, and reading DICOM files allocates fast enough to trigger
one every few files; measured on the benchmark corpus, a fifth of a one-worker
run went to collecting objects that can never be garbage.

:func:`settled_heap` moves everything alive once the worker is built into the
collector's permanent generation (:func:`gc.freeze`) and lets more allocations
pass between young collections. Per-file objects are freed by reference counting
as before; the collector still runs, only less often and over less.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000
"""Allocations between young collections (Python's default is 700)."""
OLDER_THRESHOLDS = (20, 20)


def settle() -> None:
    """Set the objects alive now aside from collection, for the rest of the process
    (a worker process's set-up). No collection first: it would cost more than the
    little start-up garbage it could free."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


@contextmanager
def settled_heap() -> Iterator[None]:
    """:func:`settle` for the duration of the block, then the collector as it was (a
    run in the caller's process, which may go on with other work)."""
    thresholds = gc.get_threshold()
    settle()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
