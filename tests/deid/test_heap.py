"""The collector is settled for a run in the caller's process and put back after."""

from __future__ import annotations

import gc

import pytest

from deid.heap import YOUNG_THRESHOLD, settled_heap


def test_settled_heap_freezes_and_restores() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with settled_heap():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settled_heap_restores_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="stop"), settled_heap():
        raise RuntimeError("stop")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
