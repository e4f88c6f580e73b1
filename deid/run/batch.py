"""``deid run``: every file of a folder, in parallel, resumable, never half-written.

The parent process checks the folders, has the run's store opened (served to the
workers by the store's own process, or a deployed vault asked once), walks INPUT
(sorted), decides what an earlier run already did (the ledger,
:mod:`deid.run.ledger`), hands the rest in chunks to the worker processes
(:mod:`deid.run.pool`), collects one :class:`~deid.report.FileRecord` per input,
draws the progress bar and writes the report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deid import __version__
from deid.contract.trial_config import TrialConfig
from deid.report import FileRecord, RunReport, Status
from deid.run.chunks import Task, chunks_of
from deid.run.config import BatchConfig
from deid.run.ledger import BatchError, RunState
from deid.run.pool import WorkerLostError, worker_results
from deid.store.factory import StoreUnavailableError
from deid.store.served import StoreServer
from deid.writing import input_files, input_id, is_within, remove_stale_temp_files

REPORT_NAME = "deid-report.json"


def open_store(
    config: BatchConfig, stack: ExitStack, server: StoreServer | None = None
) -> BatchConfig:
    """Open the run's store once, before any worker starts; ``config`` as the workers
    get it.

    The embedded vault and the run-scoped store are opened in a store process (``server``,
    or one started now, ending with ``stack``), which creates an embedded trial on
    first use; a deployed vault is asked for the trial, so a wrong URL, token, trial
    or site stops the run here.
    """
    store = config.store
    if store.shared_proxy is not None:
        return config
    if store.vault is not None:
        with closing(store.open()) as opened:
            opened.trial_info()
        return config
    if server is None:
        server = stack.enter_context(StoreServer(load_vault=not config.anonymize))
    if config.anonymize or store.store_path is None:
        proxy = server.memory(store.trial_config or TrialConfig(key=store.trial), store.site)
    else:
        store.store_path.parent.mkdir(parents=True, exist_ok=True)
        proxy = server.embedded(
            store.store_path, store.trial, store.site, store.trial_config, store.key_dir
        )
    return replace(config, store=replace(store, shared_proxy=proxy))


def run_batch(
    config: BatchConfig,
    *,
    workers: int = 1,
    progress: bool = False,
    report_path: Path | None = None,
    on_result: Callable[[FileRecord], None] | None = None,
    server: StoreServer | None = None,
) -> RunReport:
    """De-identify every input of ``config``; return (and write) the run report.

    Raises :class:`~deid.run.ledger.BatchError` before anything is done when the
    folders or settings cannot work, and :class:`~deid.store.factory.StoreUnavailableError`
    when the store cannot be opened. A failing mapping store stops the run early
    (``report.stopped``); Ctrl-C stops it too (``KeyboardInterrupt`` propagates
    after the report is written). ``on_result`` is called in the parent with each
    input's record as it arrives. ``server``: the store process to open the store
    in, when the caller started it early (:class:`~deid.store.served.StoreServer`).
    """
    check_folders(config)
    with ExitStack() as stack:
        config = open_store(config, stack, server)
        return _run(config, workers, progress, report_path, on_result)


def _run(
    config: BatchConfig,
    workers: int,
    progress: bool,
    report_path: Path | None,
    on_result: Callable[[FileRecord], None] | None,
) -> RunReport:
    settings = config.settings()
    state = RunState(config.output_root)
    state.load_or_create(settings)
    config = replace(config, salt=state.salt)
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
        workers = min(workers, len(tasks))
        chunks = chunks_of(tasks, workers) if workers else []
        with closing(worker_results(config, chunks, workers)) as placed:
            for chunk_results in placed:
                for result in chunk_results:
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
                if stopped is not None:
                    break
    except (StoreUnavailableError, WorkerLostError) as exc:
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
