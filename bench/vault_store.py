"""``python -m bench --store vault``: ``deid run`` through a vault served over HTTP.

The vault is what an operator deploys, on this machine: ``deid-vault init`` (SQLite
file, keys generated in the work folder), ``deid-vault serve`` (uvicorn) on a
loopback port, and for every measured run a new trial with site ``01`` and a
``site_uploader`` token in a file of mode 600, so that each run starts with no
mappings, as the embedded store's run does. Its rate stands next to the embedded
store's rate for the same worker count, measured in the same benchmark.
Target (issue 3): vault/embedded >= 0.8.
"""

from __future__ import annotations

import io
import shutil
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import httpx

from tests.vault.servers import VaultProcess
from vault.cli import main as vault_main

TARGET_RATIO = 0.8

Measure = Callable[..., dict[str, Any]]


class Vault:
    """A served vault and its admin token."""

    def __init__(self, server: VaultProcess, admin_token: str, work: Path) -> None:
        self.server = server
        self._admin = {"Authorization": f"Bearer {admin_token}"}
        self._work = work
        self._trials = 0

    def new_trial(self) -> tuple[str, Path]:
        """A new empty trial with site 01; its key and the uploader's token file."""
        self._trials += 1
        trial = f"BENCH-{self._trials}"
        principal = f"bench-uploader-{self._trials}"
        role = {"role": "site_uploader", "trial": trial, "site": "01"}
        with httpx.Client(base_url=self.server.base, headers=self._admin, timeout=60) as http:
            http.post(
                "/v1/trials", json={"key": trial, "sites": {"01": "Bench"}}
            ).raise_for_status()
            http.post(
                "/v1/principals", json={"name": principal, "roles": [role]}
            ).raise_for_status()
            issued = http.post(f"/v1/principals/{principal}/tokens", json={})
            issued.raise_for_status()
        token_file = self._work / f"token-{self._trials}"
        token_file.touch(mode=0o600)
        token_file.chmod(0o600)
        token_file.write_text(issued.json()["token"] + "\n")
        return trial, token_file


@contextmanager
def served_vault(work: Path, workers: int = 1) -> Iterator[Vault]:
    """Initialize a vault on a SQLite file in ``work`` and serve it until the block ends
    (a vault left there by an earlier benchmark in the same ``--work-dir`` goes first)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    url = f"sqlite:///{work / 'vault.db'}"
    printed = io.StringIO()
    with redirect_stdout(io.StringIO()):
        status = vault_main(
            ["init", "--key-dir", str(work / "keys"), "--database-url", url], out=printed
        )
    if status != 0:
        raise RuntimeError(f"deid-vault init failed: {printed.getvalue()}")
    admin = next(
        line.strip() for line in printed.getvalue().splitlines() if line.strip().startswith("dvt_")
    )
    server = VaultProcess(url, work / "keys", work / "vault.log", workers=workers)
    server.start()
    try:
        yield Vault(server, admin, work)
    finally:
        server.stop()


def measure_vault(
    measure: Measure,
    corpus: Path,
    work: Path,
    embedded_runs: list[dict[str, Any]],
    repeat: int,
    server_workers: int = 1,
    embedded_arguments: Callable[[int, Path], list[str]] | None = None,
) -> list[dict[str, Any]]:
    """``deid run --vault`` for each worker count of ``embedded_runs``; print the ratios.

    With ``embedded_arguments`` (worker count and a folder for the store -> ``deid
    run`` arguments of the embedded store), each vault run is paired with an embedded
    run measured just before it, and the ratio is the median of the pairs': the
    machine's slower spells then cost both alike. Without, the ratio is to
    ``embedded_runs``' rates. Every run writes into folders of its own, removed at
    the end (see :func:`bench.run._interleaved`).
    """
    results = []
    rounds = work / "vault-rounds"
    with served_vault(work / "served-vault", server_workers) as vault:
        for embedded in embedded_runs:
            count = embedded["workers"]
            best: dict[str, Any] | None = None
            pairs: list[float] = []
            for round_number in range(repeat):  # a new trial each time: runs start empty
                folder = rounds / f"{count}-{round_number}"
                if embedded_arguments is not None:
                    arguments = embedded_arguments(count, folder / "store")
                    alongside = measure("run", corpus, folder / "embedded", arguments)
                trial, token_file = vault.new_trial()
                arguments = ["--profile", "basic", "--workers", str(count), "--trial", trial]
                arguments += ["--site", "01", "--vault", vault.server.base]
                arguments += ["--token-file", str(token_file)]
                result = measure("run", corpus, folder / "vault", arguments)
                if embedded_arguments is not None:
                    pairs.append(alongside["seconds"] / result["seconds"])
                if best is None or result["seconds"] < best["seconds"]:
                    best = result
            assert best is not None
            rate = best["files"] / best["seconds"]
            ratio = statistics.median(pairs) if pairs else rate / embedded["files_per_second"]
            results.append(
                {
                    "workers": count,
                    "files_per_second": rate,
                    "embedded_files_per_second": embedded["files_per_second"],
                    "ratio_to_embedded": ratio,
                    "ratio_to_embedded_by_round": pairs,
                    "cpu_ms_per_file": 1000 * best["cpu_seconds"] / best["files"],
                    "server_workers": server_workers,
                    "repeats": repeat,
                    **best,
                }
            )
    shutil.rmtree(rounds, ignore_errors=True)
    print(f"vault over HTTP on loopback (uvicorn, {server_workers} worker(s), SQLite):")
    print(f"{'workers':>7}  {'embedded':>8}  {'vault':>8}  {'vault/embedded':>14}")
    print("(files/s, the fastest of each; the ratio is the median of paired runs)")
    for r in results:
        print(
            f"{r['workers']:7d}  {r['embedded_files_per_second']:8.1f}  "
            f"{r['files_per_second']:8.1f}  {r['ratio_to_embedded']:14.2f}"
        )
    worst = min(r["ratio_to_embedded"] for r in results)
    verdict = "meets" if worst >= TARGET_RATIO else "misses"
    print(f"lowest vault/embedded ratio {worst:.2f}: {verdict} the target of {TARGET_RATIO}")
    return results
