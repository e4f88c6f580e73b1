"""The ``deid`` command line, called in process: help, errors, exit statuses, commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydicom
import pytest

from deid.cli import main
from deid.corpus import CorpusManifest, generate_corpus
from deid.profiles import Option, rule_fingerprint
from deid.pseudo import PSEUDO_CLASSES
from tests.deid.batch_support import read_report


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    return generate_corpus(
        tmp_path_factory.mktemp("site") / "export",
        patients=2,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=2,
        rows=16,
        cols=16,
        seed=5,
        include_documents=False,
    )


def _recipe(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "site.recipe"
    path.write_text("FORMAT dicom\n%header\n" + "\n".join(rules) + "\n", encoding="utf-8")
    return path


def test_help_lists_commands_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("run", "inspect", "profile", "corpus", "demo"):
        assert command in text
    assert "exit status:" in text and "130" in text
    assert main(["run", "--help"]) == 0
    assert "--anonymize" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["run", "only-one-folder"]) == 2
    assert "OUTPUT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--trial NAME --site ID"),
        (["--anonymize", "--store", "x.sqlite"], "--store and --key-dir do not apply"),
        (["--anonymize", "--option", "retain-everything"], "unknown option 'retain-everything'"),
        (["--anonymize", "--layout", "{patient}/{instance}"], "unknown fields"),
        (["--anonymize", "--site", "../07"], "--site '../07'"),
        (["--trial", "ONCO 42", "--site", "07"], "--trial 'ONCO 42'"),
        (
            [
                "--anonymize",
                "--option",
                "retain-long-full-dates",
                "--profile",
                "basic",
                "--option",
                "retain-long-modified-dates",
            ],
            "exclude each other",
        ),
    ],
)
def test_unusable_command_lines_exit_2_and_say_why(
    corpus: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(corpus.root), str(out), "--no-progress", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_input_and_bad_trial_config_exit_2(
    corpus: CorpusManifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "nothing"), str(tmp_path / "out"), "--anonymize"]) == 2
    assert "does not exist" in capsys.readouterr().err
    config = tmp_path / "trial.json"
    config.write_text('{"key": "T1", "sponsor_nam": "typo"}', encoding="utf-8")
    argv = ["run", str(corpus.root), str(tmp_path / "out"), "--anonymize"]
    assert main([*argv, "--trial", "T1", "--trial-config", str(config)]) == 2
    assert "sponsor_nam" in capsys.readouterr().err
    assert main([*argv, "--report", str(corpus.root / "report.json")]) == 2
    assert "--report must not be inside INPUT" in capsys.readouterr().err


def test_a_contradicting_recipe_stops_the_run_until_accepted(
    corpus: CorpusManifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _recipe(tmp_path, "REMOVE StationName", "KEEP PatientSex")
    out = tmp_path / "out"
    argv = ["run", str(corpus.root), str(out), "--anonymize", "--no-progress"]
    assert main([*argv, "--recipe", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "site.recipe line 4" in err and "--accept-deviation" in err
    assert not out.exists()

    accept = f"4:{rule_fingerprint('KEEP PatientSex')}"
    assert main([*argv, "--recipe", str(recipe), "--accept-deviation", accept]) == 0
    report = read_report(out / "deid-report.json")
    assert report["summary"]["written"] == 4
    written = pydicom.dcmread(out / report["files"][0]["output"])
    assert written.PatientSex in ("F", "M")
    assert "StationName" not in written


def test_run_prints_summary_and_places(
    corpus: CorpusManifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["run", str(corpus.root), str(out), "--anonymize", "--no-progress", "--workers", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 input files: 4 written, 0 skipped" in text
    assert f"de-identified files: {out}" in text
    assert "no way back" in text
    for patient in corpus.patients:
        assert patient.patient_name.split("^")[0] not in text


def test_profile_options_and_classes_list_everything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "options"]) == 0
    text = capsys.readouterr().out
    assert all(option.cli_name in text for option in Option)
    assert main(["profile", "classes"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in PSEUDO_CLASSES)


def test_profile_check_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = _recipe(tmp_path, "REMOVE StationName")
    assert main(["profile", "check", str(clean)]) == 0
    contradicting = _recipe(tmp_path, "REMOVE StationName", "KEEP PatientName")
    assert main(["profile", "check", str(contradicting)]) == 1
    text = capsys.readouterr().out
    fingerprint = rule_fingerprint("KEEP PatientName")
    assert "line 4" in text and f"--accept-deviation 4:{fingerprint}" in text
    accepted = ["--accept-deviation", f"4:{fingerprint}"]
    assert main(["profile", "check", str(contradicting), *accepted]) == 0
    broken = _recipe(tmp_path, "KEEP NoSuchKeyword")
    assert main(["profile", "check", str(broken)]) == 2
    assert main(["profile", "check", str(tmp_path / "missing.recipe")]) == 2


def test_inspect_shows_action_and_result_per_attribute(
    corpus: CorpusManifest, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus.root / corpus.files[0].path
    original = pydicom.dcmread(path)
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if line.startswith("PatientName "))
    assert "PSEUDO FULL_NAME" in line and str(original.PatientName) in line
    assert "would be written" in text

    assert main(["inspect", str(path), "--json", "--option", "clean-descriptors"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {row["path"]: row for row in document["elements"]}
    assert rows["StudyDescription"]["action"].startswith("CLEAN")
    assert rows["StudyDescription"]["result"] == "CT/Head w/o"
    assert document["outcome"]["written"] is True


def test_inspect_of_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text_file = tmp_path / "notes.dcm"
    text_file.write_text("not an image", encoding="utf-8")
    assert main(["inspect", str(text_file)]) == 1
    assert "would be quarantined: not-dicom" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "missing.dcm")]) == 2


def test_corpus_command_writes_files_and_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "manifest.json"
    argv = ["corpus", str(tmp_path / "c"), "--patients", "1", "--studies", "1", "--series", "1"]
    argv += ["--instances", "2", "--rows", "16", "--cols", "16", "--no-progress"]
    assert main([*argv, "--transfer-syntax", "explicit-be", "--manifest", str(manifest)]) == 0
    assert "wrote 4 files for 1 patients" in capsys.readouterr().out
    files = json.loads(manifest.read_text())["files"]
    assert {f["transfer_syntax"] for f in files} == {pydicom.uid.ExplicitVRBigEndian}
    assert main([*argv, "--transfer-syntax", "jpeg"]) == 2


def test_demo_runs_two_sites_with_one_vault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert (
        main(["demo", str(out), "--workers", "2", "--no-progress"]) == 0
    )  # only the deliberately broken files are quarantined
    text = capsys.readouterr().out
    assert "== site 01" in text and "== site 02" in text and "before -> after" in text
    assert "broke on purpose" in text
    # One subject re-identified with a second person's approval, the trail verified.
    assert "submitted" in text and ": pending" in text
    assert "cannot decide your own request" in text
    assert "request 1: approved" in text and "already released" in text
    assert "patient, UIDs and dates equal the original export: yes" in text
    assert "NONE of them in the trail" in text and "audit chain verified" in text
    restored = list((out / "reidentified").rglob("*.dcm"))
    assert restored and all(pydicom.dcmread(p).PatientIdentityRemoved == "NO" for p in restored)
    for site in ("01", "02"):
        report = read_report(out / "deidentified" / f"site-{site}" / "deid-report.json")
        assert report["summary"]["written"] > 0
        subjects = {r["subject_id"] for r in report["files"] if r.get("subject_id")}
        assert all(s.startswith(f"{site}-") for s in subjects)
    assert list((out / "quarantine" / "site-01").glob("*.reason.json"))
    # A second demo rebuilds its own folder.
    assert main(["demo", str(out), "--workers", "1", "--no-progress"]) == 0


def test_the_parser_states_the_defaults_of_the_modules_it_does_not_import(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The parser is built without the modules that own these values (start-up); they
    must still agree."""
    from deid.cli import VAULT_TIMEOUT
    from deid.reidentify.job import REPORT_NAME as REIDENTIFY_REPORT_NAME
    from deid.run.batch import REPORT_NAME
    from deid.vault_client import DEFAULT_TIMEOUT

    assert VAULT_TIMEOUT == DEFAULT_TIMEOUT
    for command, report in (("run", REPORT_NAME), ("reidentify", REIDENTIFY_REPORT_NAME)):
        assert main([command, "--help"]) == 0
        assert f"OUTPUT/{report}" in "".join(capsys.readouterr().out.split())


def test_a_bug_is_not_reported_as_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only deid's own errors become messages and exit statuses; a ValueError from a bug
    propagates with its traceback."""
    from deid.commands import corpus

    def broken(args: object) -> int:
        raise ValueError("a bug")

    monkeypatch.setattr(corpus, "corpus", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["corpus", str(tmp_path / "c")])


def test_corpus_settings_that_cannot_work_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["corpus", str(tmp_path / "c"), "--rows", "4", "--no-progress"]) == 2
    assert "at least 8x8 pixels" in capsys.readouterr().err


def test_a_trial_configuration_for_an_existing_trial_is_never_ignored(
    corpus: CorpusManifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported case: a first run without --trial-config created the trial with the
    defaults, and the next one's onco42.toml was ignored (every file said UNSPECIFIED
    SPONSOR). Now the run refuses, naming the keys, and writes nothing."""
    config = tmp_path / "onco42.toml"
    config.write_text('sponsor_name = "Onco Pharma"\n[sites]\n"07" = "Toronto"\n')
    store = tmp_path / "site-vault" / "vault.sqlite"
    argv = ["--trial", "ONCO-42", "--site", "07", "--store", str(store), "--no-progress"]
    assert main(["run", str(corpus.root), str(tmp_path / "first"), *argv]) == 0
    capsys.readouterr()
    second = tmp_path / "second"
    status = main(["run", str(corpus.root), str(second), *argv, "--trial-config", str(config)])
    assert status == 2
    error = capsys.readouterr().err
    assert "sponsor_name (the store has 'UNSPECIFIED SPONSOR', the file 'Onco Pharma')" in error
    assert "sites.07" in error and "deid-vault trial update ONCO-42" in error
    assert not second.exists()
    # The advice works: the vault's own command changes the trial, and the run goes on.
    from vault.cli import main as vault_main

    advice = re.search(r"(VAULT_DATABASE_URL=\S+) (VAULT_KEY_DIR=\S+) deid-vault", error)
    assert advice is not None
    with pytest.MonkeyPatch.context() as env:
        for setting in advice.groups():
            env.setenv(*setting.split("=", 1))
        assert vault_main(["trial", "update", "ONCO-42", "--config", str(config)]) == 0
    assert main(["run", str(corpus.root), str(second), *argv, "--trial-config", str(config)]) == 0
    updated = {pydicom.dcmread(p).ClinicalTrialSponsorName for p in second.rglob("*.dcm")}
    assert updated == {"Onco Pharma"}
    # Into a new store the same file sets the trial up, and every file says so.
    fresh = ["--store", str(tmp_path / "other-vault" / "vault.sqlite")]
    out = tmp_path / "third"
    assert (
        main(["run", str(corpus.root), str(out), *argv, *fresh, "--trial-config", str(config)]) == 0
    )
    written = [pydicom.dcmread(p) for p in out.rglob("*.dcm")]
    assert written
    assert {(d.ClinicalTrialSponsorName, d.ClinicalTrialSiteName) for d in written} == {
        ("Onco Pharma", "Toronto")
    }
