"""``deid demo OUT``: what a trial site sees, in under a minute, on invented patients.

Two simulated sites export identifiable studies (``OUT/input/site-01``, ``-02``);
each de-identifies its export with ``deid run`` into ``OUT/deidentified/site-NN``
against one embedded vault (``OUT/vault``), as if both used the trial's vault.
Files that cannot be de-identified land in ``OUT/quarantine/site-NN`` with the
reason. The demo then shows one file before and after, and takes one subject back
(``OUT/reidentified``) through the vault's re-identification flow: a request, a
second person's approval, a single-use grant, and the audit trail with its
verification (:mod:`deid.reidentify.demo`).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from pydicom import dcmread

from deid.commands.console import progress_wanted
from deid.commands.deidentify import deidentify
from deid.contract.errors import ExitStatus, UsageError
from deid.contract.trial_config import load_trial_config
from deid.corpus import CorpusManifest, generate_corpus
from deid.profiles import DEFAULT_TRIAL_OPTIONS
from deid.reidentify.demo import run_reidentification
from deid.run.batch import REPORT_NAME
from deid.run.config import BatchConfig
from deid.run.settings import RuleSettings
from deid.store.factory import StoreSpec
from deid.writing import input_files

MARKER = ".deid-demo"
TRIAL = "DEMO"
SITES = (("01", 1, 3, True), ("02", 2, 2, False))
"""Site ID, corpus seed, patients, whether the export holds files to quarantine."""
TRIAL_CONFIG = """\
# The demo trial's settings (deid run --trial-config): used when the vault does not
# know the trial yet.
key = "DEMO"
sponsor_name = "Demo Sponsor Inc."
protocol_id = "DEMO-001"
protocol_name = "deid-vault demonstration"
subject_id_template = "{site}-{seq:4}{check}"

[sites]
"01" = "Demo site one"
"02" = "Demo site two"
"""
SHOWN = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "StudyDescription",
    "InstitutionName",
    "StudyInstanceUID",
    "ClinicalTrialSubjectID",
    "ClinicalTrialSponsorName",
    "PatientIdentityRemoved",
)


def demo(args: argparse.Namespace) -> int:
    """``deid demo OUT``: two sites' files, de-identified with one embedded vault."""
    return run_demo(args.output, workers=args.workers, progress=progress_wanted(args))


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(f"{out} exists and is not a demo folder; name a new or empty folder")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by deid demo; deleted and rebuilt by the next one\n")


def run_demo(out: Path, *, workers: int = 1, progress: bool = False) -> int:
    """Generate, de-identify and explain; return the worst exit status of the runs."""
    _prepare(out)
    config_file = out / "trial.toml"
    config_file.write_text(TRIAL_CONFIG, encoding="utf-8")
    trial_config = load_trial_config(config_file, key=TRIAL)
    # What 'deid run --trial DEMO --site NN --trial-config trial.toml' runs with.
    rules = RuleSettings(options=tuple(option.cli_name for option in DEFAULT_TRIAL_OPTIONS))
    worst: int = ExitStatus.OK
    manifests: dict[str, CorpusManifest] = {}
    for site, seed, patients, bad_files in SITES:
        source = out / "input" / f"site-{site}"
        manifest = generate_corpus(
            source,
            patients=patients,
            studies_per_patient=2,
            series_per_study=2,
            instances_per_series=3,
            seed=seed,
            include_bad_files=bad_files,
        )
        manifests[site] = manifest
        print(f"\n== site {site}: {len(manifest.files)} exported files in {source}")
        run = BatchConfig(
            input_root=source,
            output_root=out / "deidentified" / f"site-{site}",
            quarantine_root=out / "quarantine" / f"site-{site}",
            rules=rules,
            store=StoreSpec(
                TRIAL, site, store_path=out / "vault" / "vault.sqlite", trial_config=trial_config
            ),
        )
        status = deidentify(run, workers=workers, progress=progress)
        if status == ExitStatus.PROBLEMS and _only_expected_quarantines(
            out / "deidentified" / f"site-{site}", manifest
        ):
            print("(the quarantined files are the ones the demo broke on purpose)")
            status = ExitStatus.OK
        worst = max(worst, status)
    _show_one_file(out / "input" / "site-01", out / "deidentified" / "site-01")
    if worst == ExitStatus.OK:
        print(
            "\n== re-identification: one subject of site 01 back, with a second person's approval"
        )
        worst = max(worst, run_reidentification(out, TRIAL, "01", manifests["01"]))
    print(
        f"\nEverything is under {out}: input/ (the identifiable exports), deidentified/ "
        "(what may leave the site), quarantine/ (originals that could not be "
        "de-identified, with a .reason.json each), vault/ (the mappings, encrypted, and "
        "their key files: the way back, which stays at the site), reidentified/ (one "
        "subject's files restored after approval: identifiable again)."
    )
    return worst


def _only_expected_quarantines(output: Path, manifest: CorpusManifest) -> bool:
    """True when exactly the deliberately broken files were quarantined."""
    summary = json.loads((output / REPORT_NAME).read_text(encoding="utf-8"))["summary"]
    expected = sum(1 for f in manifest.files if f.expected == "quarantined")
    return bool(summary["quarantined"] == expected and summary["failed"] == 0)


def _show_one_file(source: Path, output: Path) -> None:
    """Print a few attributes of the first written file, before and after."""
    report = json.loads((output / REPORT_NAME).read_text(encoding="utf-8"))
    for (path, relative), record in zip(input_files(source), report["files"], strict=False):
        if record["status"] != "written":
            continue
        before = dcmread(path, stop_before_pixels=True)
        after = dcmread(output / record["output"], stop_before_pixels=True)
        print("\none file, before -> after:")
        print(f"  {'file name':26} {relative}\n  {'':26} -> {record['output']}")
        for keyword in SHOWN:
            if keyword not in before and keyword not in after:
                continue
            old = str(before.get(keyword, "")) if keyword in before else "(absent)"
            new = str(after.get(keyword, "")) if keyword in after else "(removed)"
            print(f"  {keyword:26} {old[:40] or '(empty)':42} -> {new[:40] or '(empty)'}")
        return
