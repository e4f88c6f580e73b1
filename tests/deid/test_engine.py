"""The engine on a multi-patient corpus: every file written, re-read and searched.

The corpus (:mod:`deid.corpus`) has several patients with studies, series, SR and
KOS documents, nested sequences, private tags, four transfer syntaxes and files
that must be quarantined; its manifest lists every identifying original per file.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from engine_fixtures import (
    PATIENT_NAME,
    PRIVATE_SOP_CLASS,
    SOP_UID,
    ct_dataset,
    engine,
    plain_bytes,
    reread,
    result_bytes,
    store,
    write_file,
)
from pydicom import dcmread
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from deid.contract.limits import MAX_ORIGINAL_LENGTH
from deid.contract.store import Enrollment
from deid.corpus import CorpusFile, CorpusManifest, generate_corpus
from deid.dates import format_da, parse_da, shift_da
from deid.engine import Engine, EngineSettings, PayloadPolicy
from deid.outcome import Deidentified, Outcome, Quarantined, QuarantineReason
from deid.profiles import build_rules
from deid.profiles.recipe import parse_recipe
from deid.profiles.reviewer import rule_fingerprint
from deid.profiles.trial import trial_recipe
from deid.store.memory import MemoryStore
from vault.config import Settings
from vault.runtime import Limits

EXPECTED_REASONS = {
    "not_dicom": QuarantineReason.NOT_DICOM,
    "truncated": QuarantineReason.TRUNCATED,
    "encapsulated_pdf": QuarantineReason.ENCAPSULATED_DOCUMENT,
    "burned_in": QuarantineReason.BURNED_IN_ANNOTATION,
}


@dataclass
class Run:
    manifest: CorpusManifest
    store: MemoryStore
    outcomes: dict[str, Outcome]
    written: dict[str, bytes]

    def result(self, entry: CorpusFile) -> FileDataset:
        return dcmread(io.BytesIO(self.written[entry.path]))

    def of_kind(self, kind: str) -> list[CorpusFile]:
        return [f for f in self.manifest.files if f.kind == kind]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(
        root,
        patients=3,
        studies_per_patient=2,
        series_per_study=2,
        instances_per_series=2,
        rows=16,
        cols=16,
        include_bad_files=True,
    )
    mapping_store = store()
    the_engine = engine(mapping_store=mapping_store)
    before = {f.path: (root / f.path).read_bytes() for f in manifest.files}
    outcomes = {f.path: the_engine.process(root / f.path) for f in manifest.files}
    written = {
        path: result_bytes(outcome)
        for path, outcome in outcomes.items()
        if isinstance(outcome, Deidentified)
    }
    after = {f.path: (root / f.path).read_bytes() for f in manifest.files}
    assert before == after, "an input was modified"
    return Run(manifest, mapping_store, outcomes, written)


@pytest.fixture(scope="module")
def structured(run: Run) -> Run:
    """The same corpus's documents under Clean Structured Content: SR and KOS trees kept
    (the same store: the same pseudonyms)."""
    mapping_store = run.store
    the_engine = engine(
        ("retain-long-modified-dates", "clean-structured-content"), mapping_store=mapping_store
    )
    documents = [f for f in run.manifest.files if f.kind in ("SR", "KOS") and f.path in run.written]
    outcomes = {f.path: the_engine.process(run.manifest.root / f.path) for f in documents}
    written = {
        path: result_bytes(outcome)
        for path, outcome in outcomes.items()
        if isinstance(outcome, Deidentified)
    }
    return Run(run.manifest, mapping_store, outcomes, written)


def test_good_files_are_written_and_bad_ones_quarantined_with_their_reason(run):
    for entry in run.manifest.files:
        outcome = run.outcomes[entry.path]
        if entry.expected == "written":
            assert isinstance(outcome, Deidentified), (entry.path, outcome)
        else:
            assert isinstance(outcome, Quarantined), entry.path
            assert outcome.reason is EXPECTED_REASONS[entry.kind]
            for original in entry.originals:
                assert original.lower() not in outcome.message.lower()


def test_no_original_anywhere_in_any_output_file(run):
    for entry in run.manifest.files:
        if entry.path not in run.written:
            continue
        data = plain_bytes(run.written[entry.path]).lower()
        leaks = [o for o in entry.originals if o.lower().encode("latin-1") in data]
        assert not leaks, f"{entry.path}: {len(leaks)} originals left"


def test_every_transfer_syntax_round_trips(run):
    seen = set()
    for entry in run.manifest.files:
        if entry.path not in run.written:
            continue
        result = run.result(entry)
        assert result.file_meta.TransferSyntaxUID == entry.transfer_syntax
        seen.add(entry.transfer_syntax)
        if entry.kind == "CT":
            original = dcmread(run.manifest.root / entry.path)
            assert result.PixelData == original.PixelData  # copied, never decoded
            assert result.pixel_array.shape == (16, 16)
    assert seen == {
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    }


def test_one_subject_and_one_date_offset_per_patient(run):
    offsets: dict[int, set[int]] = {}
    subjects: dict[int, set[str]] = {}
    for entry in run.manifest.files:
        if entry.path not in run.written:
            continue
        result = run.result(entry)
        patient = run.manifest.patients[entry.patient]
        study = next(s for s in patient.studies if s.study_uid == entry.study_uid)
        moved = parse_da(result.StudyDate) - parse_da(study.study_date)
        offsets.setdefault(entry.patient, set()).add(moved.days)
        subjects.setdefault(entry.patient, set()).add(result.PatientID)
        assert result.ClinicalTrialSubjectID == result.PatientID
    assert all(len(values) == 1 for values in offsets.values()), offsets
    assert all(len(values) == 1 for values in subjects.values()), subjects
    assert len({next(iter(s)) for s in subjects.values()}) == len(run.manifest.patients)
    assert all(next(iter(o)) != 0 for o in offsets.values())


def test_intervals_and_datetimes_move_exactly(run):
    for entry in run.of_kind("CT"):
        result = run.result(entry)
        original = dcmread(run.manifest.root / entry.path)
        offset = (parse_da(result.StudyDate) - parse_da(original.StudyDate)).days
        assert result.AcquisitionDate == shift_da(original.AcquisitionDate, offset)
        assert result.AcquisitionTime == original.AcquisitionTime  # whole days
        assert result.AcquisitionDateTime[8:] == original.AcquisitionDateTime[8:]
        assert result.AcquisitionDateTime[:8] == shift_da(original.AcquisitionDateTime[:8], offset)
        assert result.SeriesDate == shift_da(original.SeriesDate, offset)


def test_references_point_at_the_new_objects(run, structured):
    new_uid: dict[str, str] = {}
    for entry in run.manifest.files:
        if entry.path in run.written:
            result = run.result(entry)
            new_uid[entry.sop_uid] = result.SOPInstanceUID
            new_uid[entry.series_uid] = result.SeriesInstanceUID
            new_uid[entry.study_uid] = result.StudyInstanceUID
            assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    for entry in run.manifest.files:
        if entry.path not in run.written:
            continue
        result = run.result(entry)
        # X/Z/U* and X/Z, Type 3 in the CT Image IOD: removed (PS3.15 E.1.1).
        for keyword in ("ReferencedImageSequence", "SourceImageSequence"):
            assert keyword not in result
        assert "ReferencedStudySequence" not in result
        if entry.kind not in ("SR", "KOS"):
            continue
        # The documents' evidence (not in Table E.1-1: kept) and, under Clean
        # Structured Content, their content trees point at the new objects.
        kept = structured.result(entry)
        referenced = set()
        for study in kept.get("CurrentRequestedProcedureEvidenceSequence", []):
            assert study.StudyInstanceUID == result.StudyInstanceUID
            for series in study.ReferencedSeriesSequence:
                assert series.SeriesInstanceUID in new_uid.values()
                referenced.update(i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence)
        assert referenced >= {new_uid[uid] for uid in entry.references}
        assert referenced <= set(new_uid.values())
    frames = {}
    for entry in run.of_kind("CT"):
        result = run.result(entry)
        frames.setdefault(result.StudyInstanceUID, set()).add(result.FrameOfReferenceUID)
    assert all(len(uids) == 1 for uids in frames.values())


def test_sr_content_tree_is_kept_and_cleaned_item_by_item(structured):
    for entry in structured.of_kind("SR"):
        result = structured.result(entry)
        context = {
            item.ConceptNameCodeSequence[0].CodeValue: item for item in result.ContentSequence
        }
        assert result.StudyInstanceUID == context["121018"].UID  # UIDREF follows
        observer = context["121008"].PersonName
        assert str(observer) and str(observer) not in entry.originals  # a pseudonym
        images = [i for i in context["121070"].ContentSequence if i.ValueType == "IMAGE"]
        assert images and all(
            i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID.startswith("2.25.") for i in images
        )
        finding = next(i for i in context["121070"].ContentSequence if i.ValueType == "TEXT")
        assert finding.TextValue.endswith("no acute intracranial abnormality.")
        assert "113104" in {c.CodeValue for c in result.DeidentificationMethodCodeSequence}


def test_without_clean_structured_content_the_tree_is_one_dummy_item(run):
    for entry in run.of_kind("SR") + run.of_kind("KOS"):
        result = run.result(entry)
        (item,) = result.ContentSequence  # D: one item, holding nothing of the original
        original = dcmread(run.manifest.root / entry.path).ContentSequence[0]
        assert item.ValueType == original.ValueType  # a code string, kept: still valid
        assert item.RelationshipType == original.RelationshipType
        assert "ContentSequence" not in item
        for code in item.get("ConceptNameCodeSequence", []):
            assert (code.CodeValue, code.CodingSchemeDesignator) == ("ANONYMIZED", "99DEID")
        assert "113104" not in {c.CodeValue for c in result.DeidentificationMethodCodeSequence}


def test_trial_attributes_and_markers(run):
    info = run.store.trial_info()
    for entry in run.manifest.files:
        if entry.path not in run.written:
            continue
        result = run.result(entry)
        assert result.PatientIdentityRemoved == "YES"
        assert result.LongitudinalTemporalInformationModified == "MODIFIED"
        assert (result.ClinicalTrialSponsorName, result.ClinicalTrialProtocolID) == (
            info.sponsor_name,
            info.protocol_id,
        )
        assert (result.ClinicalTrialSiteID, result.ClinicalTrialSiteName) == (
            info.site_id,
            info.site_name,
        )
        assert result.ClinicalTrialProtocolName == info.protocol_name
        method = list(result.DeidentificationMethod)
        assert "PS3.15 Basic Application Confidentiality Profile" in method
        assert "recipe: default trial recipe" in method
        codes = [item.CodeValue for item in result.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113107"]
        assert str(result.PatientName).count("^") == 1  # a FULL_NAME pseudonym
        assert result.preamble == b"\x00" * 128
        assert "SourceApplicationEntityTitle" not in result.file_meta
        assert result.file_meta.ImplementationVersionName == "DEIDVAULT_0_1"


def test_consistent_pseudonyms_across_files_and_engines(run, tmp_path):
    names = {}
    for entry in run.of_kind("CT"):
        result = run.result(entry)
        names.setdefault(entry.patient, set()).add(str(result.PatientName))
    assert all(len(n) == 1 for n in names.values())
    # A second engine on the same store (another worker, a later run) agrees.
    entry = run.of_kind("CT")[0]
    again = engine(mapping_store=run.store).process(run.manifest.root / entry.path)
    first = run.result(entry)
    second = reread(again)
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "SOPInstanceUID"):
        assert second[keyword].value == first[keyword].value
    assert second.StudyDate == first.StudyDate


def test_the_guard_refuses_an_identifier_no_rule_removed(tmp_path):
    ds = ct_dataset()
    ds.private_block(0x0033, "ACME RIS EXPORT 1.0").add_new(0x13, "OB", PATIENT_NAME.encode())
    path = write_file(ds, tmp_path / "in.dcm")
    rule = 'KEEP (0033,"ACME RIS EXPORT 1.0",13)'
    keep = parse_recipe(f"FORMAT dicom\n%header\n{rule}\n", "keep.recipe")
    outcome = engine(recipe=keep, accept=(f"3:{rule_fingerprint(rule)}",)).process(path)
    assert outcome == Quarantined(
        QuarantineReason.IDENTIFIER_LEFT, "guard: patient name left in (0033,1013)"
    )


def test_the_guard_catches_a_uid_in_kept_structured_text(tmp_path):
    ds = ct_dataset()
    finding = Dataset()
    finding.ValueType = "TEXT"
    finding.TextValue = f"see prior object {SOP_UID}"
    container = Dataset()
    container.ValueType = "CONTAINER"
    container.ContentSequence = Sequence([finding])
    ds.ContentSequence = Sequence([container])
    path = write_file(ds, tmp_path / "in.dcm")
    options = ("retain-long-modified-dates", "clean-structured-content", "clean-descriptors")
    outcome = engine(options).process(path)
    assert isinstance(outcome, Quarantined)
    assert outcome.reason is QuarantineReason.IDENTIFIER_LEFT
    assert outcome.message == "guard: UID left in ContentSequence[0].ContentSequence[0].TextValue"


@pytest.mark.parametrize(
    ("inject", "where"),
    [
        (lambda ds: ds.file_meta.add_new(0x00020016, "AE", "KOWALCZYK"), "file meta"),
        (lambda ds: setattr(ds, "preamble", b"H1234567".ljust(128, b"\0")), "preamble"),
    ],
)
def test_the_guard_catches_what_a_faulty_finishing_step_leaves(
    tmp_path, monkeypatch, inject, where
):
    """Fault injection: the file meta and preamble are rebuilt by the engine, so a leak
    there needs a bug; the guard must still refuse the file."""
    import deid.engine as engine_module

    real = engine_module.finish_file_meta

    def faulty(dataset: FileDataset) -> None:
        real(dataset)
        inject(dataset)

    monkeypatch.setattr(engine_module, "finish_file_meta", faulty)
    outcome = engine().process(write_file(ct_dataset(), tmp_path / "in.dcm"))
    assert isinstance(outcome, Quarantined)
    assert outcome.reason is QuarantineReason.IDENTIFIER_LEFT
    assert where in outcome.message
    assert "KOWALCZYK" not in outcome.message and "H1234567" not in outcome.message


def test_accepted_payloads_are_written_and_recorded(tmp_path):
    ds = ct_dataset()
    ds.BurnedInAnnotation = "YES"
    path = write_file(ds, tmp_path / "in.dcm")
    assert engine().process(path).reason is QuarantineReason.BURNED_IN_ANNOTATION  # type: ignore[union-attr]
    accepting = engine(settings=EngineSettings(burned_in_annotation=PayloadPolicy.ACCEPT))
    outcome = accepting.process(path)
    assert isinstance(outcome, Deidentified)
    assert outcome.accepted == ("burned-in annotation accepted as the user's responsibility",)
    result = reread(outcome)
    assert "burned-in annotation accepted as the user's responsibility" in list(
        result.DeidentificationMethod
    )


def test_accepted_encapsulated_documents_are_kept(tmp_path):
    ds = ct_dataset()
    ds.EncapsulatedDocument = b"%PDF-1.4 Kowalczyk"
    path = write_file(ds, tmp_path / "in.dcm")
    refused = engine().process(path)
    assert isinstance(refused, Quarantined)
    assert refused.reason is QuarantineReason.ENCAPSULATED_DOCUMENT
    settings = EngineSettings(encapsulated_documents=PayloadPolicy.ACCEPT)
    result = reread(engine(settings=settings).process(path))
    assert result.EncapsulatedDocument == b"%PDF-1.4 Kowalczyk"


def test_anonymize_mode_is_marked(tmp_path):
    from deid.contract.trial_config import TrialConfig

    anonymizing = MemoryStore(TrialConfig(key="TEACH"), "S01", anonymized=True)
    the_engine = Engine(build_rules((), recipe=trial_recipe()), anonymizing)
    result = reread(the_engine.process(write_file(ct_dataset(), tmp_path / "in.dcm")))
    assert "anonymized: no mapping kept" in list(result.DeidentificationMethod)
    assert result.LongitudinalTemporalInformationModified == "REMOVED"
    assert "StudyDate" not in result or not result.StudyDate


def test_inspect_shows_every_element_from_the_same_code(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = PRIVATE_SOP_CLASS  # Referenced Image Sequence kept (U)
    path = write_file(ds, tmp_path / "in.dcm")
    inspection = engine().inspect(dcmread(path))
    assert isinstance(inspection.outcome, Deidentified)
    rows = {row.path: row for row in inspection.rows}
    name = rows["PatientName"]
    assert name.original == PATIENT_NAME and name.result not in (None, "", PATIENT_NAME)
    assert "PSEUDO FULL_NAME" in name.action
    assert rows["IssuerOfPatientID"].result is None  # removed
    nested = rows["ReferencedImageSequence[0].ReferencedSOPInstanceUID"]
    assert nested.result is not None and nested.result.startswith("2.25.")
    moved = rows["StudyDate"].result
    assert moved is not None and moved != "20191231" and len(moved) == 8
    added = [row for row in inspection.rows if row.original is None]
    assert {"ClinicalTrialSponsorName", "PatientIdentityRemoved"} <= {r.keyword for r in added}
    assert rows["(0033,1010)"].result is None  # the private RIS block goes


def test_inspect_of_a_file_that_would_be_quarantined_still_lists_it(tmp_path):
    ds = ct_dataset()
    ds.BurnedInAnnotation = "YES"
    inspection = engine().inspect(dcmread(write_file(ds, tmp_path / "in.dcm")))
    assert isinstance(inspection.outcome, Quarantined)
    assert inspection.outcome.reason is QuarantineReason.BURNED_IN_ANNOTATION
    assert any(row.keyword == "PatientName" for row in inspection.rows)


def test_inputs_from_pydicom_examples(tmp_path):
    from pydicom import examples

    written = 0
    for name in ("ct", "mr", "rt_dose", "rt_plan", "waveform", "overlay", "jpeg2k", "ybr_color"):
        path = examples.get_path(name)
        outcome = engine().process(path)
        assert isinstance(outcome, Deidentified), (name, outcome)
        result = reread(outcome)
        original = dcmread(path)
        assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        if "PixelData" in original:
            assert result.PixelData == original.PixelData
            del result.PixelData  # compressed samples can hold any short byte string
        header = io.BytesIO()
        result.save_as(header)
        data = plain_bytes(header.getvalue())
        for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID"):
            value = str(original.get(keyword, "") or "")
            # as a token: a short ID like "204" turns up inside random 2.25 UIDs
            token = rb"(?<![0-9A-Za-z.])" + re.escape(value.encode()) + rb"(?![0-9A-Za-z.])"
            if len(value) >= 3:
                assert re.search(token, data) is None, (name, keyword)
        written += 1
    assert written == 8
    assert isinstance(engine().process(examples.get_path("dicomdir")), Quarantined)


def test_date_offsets_are_per_patient_not_per_file(tmp_path):
    the_store = store(date_offset_min_days=-400, date_offset_max_days=-20)
    the_engine = engine(mapping_store=the_store)
    first = reread(the_engine.process(write_file(ct_dataset(), tmp_path / "a.dcm")))
    other = ct_dataset()
    other.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    other.StudyDate = "20200615"
    second = reread(the_engine.process(write_file(other, tmp_path / "b.dcm")))
    first_shift = parse_da(first.StudyDate) - parse_da("20191231")
    second_shift = parse_da(second.StudyDate) - parse_da("20200615")
    assert first_shift == second_shift and first_shift < timedelta(0)
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID


def test_files_with_no_patient_identity_at_all_are_quarantined(tmp_path):
    ds = ct_dataset()
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID"):
        delattr(ds, keyword)
    outcome = engine().process(write_file(ds, tmp_path / "in.dcm"))
    assert outcome == Quarantined(
        QuarantineReason.NO_PATIENT,
        "the file has no Patient ID, Patient's Name or Study Instance UID to tell which "
        "subject it belongs to",
    )


def test_written_results_are_valid_part10_files(run):
    entry = run.of_kind("CT")[0]
    data = run.written[entry.path]
    assert data[128:132] == b"DICM"
    dcmread(io.BytesIO(data), force=False)


def test_inspect_names_file_meta_rows(tmp_path):
    path = write_file(ct_dataset(), tmp_path / "in.dcm")
    rows = {row.path: row for row in engine().inspect(dcmread(path)).rows}
    assert rows["file meta SourceApplicationEntityTitle"].result is None
    media = rows["file meta MediaStorageSOPInstanceUID"]
    assert media.original == SOP_UID and media.result == rows["SOPInstanceUID"].result
    assert rows["file meta ImplementationVersionName"].result == "DEIDVAULT_0_1"


@pytest.mark.parametrize(
    ("keyword", "what"),
    [("PatientID", "patient's identity"), ("StudyInstanceUID", "UID pseudonym")],
)
def test_an_original_longer_than_the_store_takes_quarantines_its_file_alone(
    tmp_path: Path, keyword: str, what: str
) -> None:
    """A Patient ID or UID of thousands of characters (no valid value comes near) is
    the file's fault: it is quarantined before the store is asked, so the store never
    refuses a whole chunk and the run goes on."""
    enrolled: list[str] = []
    mapping_store = store()
    real_enroll = mapping_store.enroll

    def enroll(patient_key: str) -> Enrollment:
        enrolled.append(patient_key)
        return real_enroll(patient_key)

    mapping_store.enroll = enroll  # type: ignore[method-assign]
    run = engine(mapping_store=mapping_store)
    dataset = ct_dataset()
    setattr(dataset, keyword, "1" * (MAX_ORIGINAL_LENGTH + 1))
    outcome = run.process(write_file(dataset, tmp_path / "long.dcm"))
    assert isinstance(outcome, Quarantined)
    assert outcome.reason is QuarantineReason.VALUE_TOO_LONG
    assert what in outcome.message and "1" * 20 not in outcome.message
    if keyword == "PatientID":
        assert enrolled == []  # refused before the store was asked
    assert isinstance(run.process(write_file(ct_dataset(), tmp_path / "ok.dcm")), Deidentified)


def test_the_longest_original_is_the_vaults_default_limit() -> None:
    assert (
        MAX_ORIGINAL_LENGTH
        == Limits().max_value_length
        == Settings.model_fields["max_value_length"].default
    )


def test_an_infants_scan_moved_onto_the_birth_date_is_written(tmp_path: Path) -> None:
    """A scan 100 days after birth, moved back 100 days, lands on the birth date: chance
    of the arithmetic, which the guard lets through (the offset never changes, so
    refusing it would refuse the file at every rerun)."""
    mapping_store = store(date_offset_min_days=-100, date_offset_max_days=-100)
    run = engine(mapping_store=mapping_store)
    dataset = ct_dataset()
    study = parse_da(dataset.StudyDate)
    dataset.PatientBirthDate = format_da(study - timedelta(days=100))
    dataset.PatientAge = "000Y"
    outcome = run.process(write_file(dataset, tmp_path / "infant.dcm"))
    assert isinstance(outcome, Deidentified), outcome
    result = reread(outcome)
    assert result.StudyDate == dataset.PatientBirthDate  # moved onto it, by chance
    assert result.PatientBirthDate != dataset.PatientBirthDate
