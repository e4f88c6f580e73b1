"""Sequences follow PS3.15: D is one minimal dummy item, X removes, Z empties, C cleans.

A Comprehensive SR written here carries what issue 11 found surviving: a verifying
observer with an employee code whose meaning names her, an SR text that dates the
exam and names people, a person name, a UID reference, a prior study date. Each
result is written, re-read, searched byte by byte and checked with dciodvfy. Its
people have names no pseudonym list holds, so a pseudonym never shares a part with
them by chance (that the draw avoids it is the pseudonym tests' business).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from engine_fixtures import (
    PATIENT_ID,
    code_item,
    ct_dataset,
    engine,
    reread,
    result_bytes,
    store,
    write_file,
)
from iod_validator import error_kinds, iod_errors
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from deid.actions import Action, Code, ElementContext
from deid.dates import parse_da, shift_da
from deid.engine import Engine
from deid.handlers.text_dates import move_dates_in_text
from deid.outcome import Deidentified
from deid.profiles import build_rules, parse_recipe

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
TRIAL = ("retain-long-modified-dates",)
STRUCTURED = (*TRIAL, "clean-structured-content")
SR_TEXT = (
    "Exam performed 15/01/2020 by Ysolde Quillfeather for Kowalczyk, MRN H1234567; "
    "no acute finding."
)
ORIGINALS = (
    "15/01/2020",
    "Quillfeather",
    "Ysolde",
    "EMP778899",
    "Radiographer",
    "Abernethy",
    "Holloway",
    "Kowalczyk",
    PATIENT_ID,
    "20191201",
    "1.2.826.0.1.3680043.8.498.2",
)
"""What the SR holds that must never come out as it is (the last: every UID root)."""


def _item(relationship: str, value_type: str, code: tuple[str, str, str], **values) -> Dataset:  # type: ignore[no-untyped-def]
    item = Dataset()
    item.RelationshipType, item.ValueType = relationship, value_type
    item.ConceptNameCodeSequence = Sequence([code_item(*code)])
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def sr_dataset() -> Dataset:
    """A valid Comprehensive SR (dciodvfy finds no error in it) full of identity."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.20001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.20002"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.20003"
    ds.PatientName, ds.PatientID = "Kowalczyk^Bartholomew", PATIENT_ID
    ds.PatientBirthDate, ds.PatientSex = "19700315", "M"
    ds.StudyDate, ds.StudyTime = "20200115", "101500"
    ds.ReferringPhysicianName, ds.StudyID, ds.AccessionNumber = "", "S1", "A19123456"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = "SR", 1, 1, "ACME"
    ds.ContentDate, ds.ContentTime = "20200115", "101500"
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.PerformedProcedureCodeSequence = Sequence()
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "VERIFIED"
    observers = []
    for name, organization in (
        ("Quillfeather^Ysolde", "Holloway Crest Infirmary"),
        ("Abernethy^Crispian", "Holloway Crest Annex"),
    ):
        observer = Dataset()
        observer.VerifyingObserverName = name
        observer.VerifyingOrganization = organization
        observer.VerificationDateTime = "20200116093000"
        observer.VerifyingObserverIdentificationCodeSequence = Sequence(
            [code_item("EMP778899", "99HCI", "Radiographer Ysolde Quillfeather")]
        )
        observers.append(observer)
    ds.VerifyingObserverSequence = Sequence(observers)
    image_uid = "1.2.826.0.1.3680043.8.498.20010"
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = CTImageStorage, image_uid
    series = Dataset()
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.20011"
    series.ReferencedSOPSequence = Sequence([reference])
    evidence = Dataset()
    evidence.StudyInstanceUID = ds.StudyInstanceUID
    evidence.ReferencedSeriesSequence = Sequence([series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([code_item("18748-4", "LN", "Diagnostic Imaging Report")])
    image = Dataset()
    image.RelationshipType, image.ValueType = "CONTAINS", "IMAGE"
    image_reference = Dataset()
    image_reference.ReferencedSOPClassUID = CTImageStorage
    image_reference.ReferencedSOPInstanceUID = image_uid
    image.ReferencedSOPSequence = Sequence([image_reference])
    text = _item("CONTAINS", "TEXT", ("121071", "DCM", "Finding"), TextValue=SR_TEXT)
    ds.ContentSequence = Sequence(
        [
            _item(
                "HAS OBS CONTEXT",
                "PNAME",
                ("121008", "DCM", "Person Observer Name"),
                PersonName="Quillfeather^Ysolde",
            ),
            _item(
                "HAS OBS CONTEXT",
                "UIDREF",
                ("121018", "DCM", "Procedure Study Instance UID"),
                UID=ds.StudyInstanceUID,
            ),
            _item("CONTAINS", "DATE", ("111536", "DCM", "Date of prior study"), Date="20191201"),
            _item(
                "CONTAINS",
                "CONTAINER",
                ("121070", "DCM", "Findings for Kowalczyk"),
                ContinuityOfContent="SEPARATE",
                ContentSequence=Sequence([text, image]),
            ),
        ]
    )
    return ds


@pytest.fixture
def sr_file(tmp_path: Path) -> Path:
    return write_file(sr_dataset(), tmp_path / "in" / "sr.dcm")


def _written(outcome: object, path: Path) -> Path:
    assert isinstance(outcome, Deidentified), outcome
    path.write_bytes(result_bytes(outcome))
    return path


def _method_codes(result: Dataset) -> set[str]:
    return {item.CodeValue for item in result.DeidentificationMethodCodeSequence}


def _no_originals(data: bytes) -> list[str]:
    lowered = data.lower()
    return [o for o in ORIGINALS if o.lower().encode() in lowered]


@pytest.mark.parametrize("options", [TRIAL, ()], ids=["trial", "basic"])
def test_content_sequence_d_is_one_dummy_item_and_nothing_of_the_report_stays(
    options, sr_file, tmp_path
):
    outcome = engine(options).process(sr_file)
    out = _written(outcome, tmp_path / "out.dcm")
    assert _no_originals(out.read_bytes()) == []
    assert b"Exam performed" not in out.read_bytes() and b"Finding" not in out.read_bytes()
    result = dcmread(out)
    (item,) = result.ContentSequence
    assert (item.RelationshipType, item.ValueType) == ("HAS OBS CONTEXT", "PNAME")
    (code,) = item.ConceptNameCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "ANONYMIZED",
        "99DEID",
        "ANONYMIZED",
    )
    assert str(item.PersonName) not in ("", "Quillfeather^Ysolde")  # the trial's pseudonym
    (observer,) = result.VerifyingObserverSequence  # D: one item, the second dropped
    assert len(observer.VerifyingObserverIdentificationCodeSequence) == 0  # Type 2: Z
    assert str(observer.VerifyingObserverName) == str(item.PersonName)  # one person
    assert "113104" not in _method_codes(result)
    assert len(iod_errors(out)) <= len(iod_errors(sr_file))


def test_clean_structured_content_keeps_the_tree_and_cleans_everything_in_it(sr_file, tmp_path):
    outcome = engine(STRUCTURED).process(sr_file)
    out = _written(outcome, tmp_path / "out.dcm")
    assert _no_originals(out.read_bytes()) == []
    result = dcmread(out)
    offset = (parse_da(result.StudyDate) - parse_da("20200115")).days
    person, uid, prior, findings = result.ContentSequence
    assert person.ConceptNameCodeSequence[0].CodeMeaning == "Person Observer Name"
    assert str(person.PersonName) not in ("", "Quillfeather^Ysolde")
    assert result.StudyInstanceUID == uid.UID  # UIDREF follows the new study UID
    assert prior.Date == shift_da("20191201", offset)
    meaning = findings.ConceptNameCodeSequence[0]
    assert (meaning.CodeValue, meaning.CodeMeaning) == ("121070", "Findings for")  # scrubbed
    text, image = findings.ContentSequence
    moved = move_dates_in_text("15/01/2020", offset)
    assert text.TextValue == f"Exam performed {moved} by for MRN no acute finding."
    assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID.startswith("2.25.")
    assert image.ReferencedSOPSequence[0].ReferencedSOPClassUID == CTImageStorage
    assert "113104" in _method_codes(result)  # CID 7050: Clean Structured Content
    assert len(iod_errors(out)) <= len(iod_errors(sr_file))
    assert error_kinds(iod_errors(out)) <= error_kinds(iod_errors(sr_file))


def test_declared_method_codes_follow_the_options_applied(sr_file):
    for options, codes in (
        ((), {"113100"}),
        (TRIAL, {"113100", "113107"}),
        (STRUCTURED, {"113100", "113107", "113104"}),
    ):
        result = reread(engine(options).process(sr_file))
        assert _method_codes(result) == codes, options


def test_extra_items_and_unrequired_attributes_of_a_dummy_sequence_go(tmp_path):
    ds = sr_dataset()
    extra = ds.VerifyingObserverSequence[0]
    extra.add_new(0x00081040, "LO", "Radiology Holloway")  # Institutional Department Name
    result = reread(engine(TRIAL).process(write_file(ds, tmp_path / "sr.dcm")))
    (observer,) = result.VerifyingObserverSequence
    assert "InstitutionalDepartmentName" not in observer  # not required in the item
    assert observer.VerifyingOrganization not in ("", "Holloway Crest Infirmary")
    original = "20200116093000"
    offset = (parse_da(result.StudyDate) - parse_da("20200115")).days
    assert observer.VerificationDateTime[:8] == shift_da(original[:8], offset)  # C: moved


def test_an_empty_dummy_sequence_stays_empty(tmp_path):
    ds = sr_dataset()
    ds.VerifyingObserverSequence = Sequence()
    ds.VerificationFlag = "UNVERIFIED"
    result = reread(engine(TRIAL).process(write_file(ds, tmp_path / "sr.dcm")))
    assert len(result.VerifyingObserverSequence) == 0


@pytest.mark.parametrize(
    ("keyword", "tag"),
    [
        ("OperatorIdentificationSequence", 0x00081072),  # X/D, Type 3 in General Series
        ("InstitutionCodeSequence", 0x00080082),  # X/Z/D, Type 3 in General Equipment
        ("ReferencedStudySequence", 0x00081110),  # X/Z, Type 3 in General Study
    ],
)
def test_type_3_sequences_of_combined_codes_are_removed_whole(keyword, tag, tmp_path):
    ds = ct_dataset()
    person = Dataset()
    person.PersonIdentificationCodeSequence = Sequence(
        [code_item("EMP778899", "99HCI", "Radiographer Ysolde Quillfeather")]
    )
    person.InstitutionName = "Holloway Crest Infirmary"
    contents = {
        "OperatorIdentificationSequence": person,
        "InstitutionCodeSequence": code_item("HCI", "99HCI", "Holloway Crest Infirmary"),
        "ReferencedStudySequence": code_item("x", "y", "z"),
    }
    setattr(ds, keyword, Sequence([contents[keyword]]))
    outcome = engine(TRIAL).process(write_file(ds, tmp_path / "ct.dcm"))
    result = reread(outcome)
    assert keyword not in result
    assert b"EMP778899" not in result_bytes(outcome)
    inspection = engine(TRIAL).inspect(dcmread(tmp_path / "ct.dcm"))
    row = next(r for r in inspection.rows if r.keyword == keyword)
    # Type 3 in the CT Image IOD, or not in it at all: removed either way.
    assert "IOD ct-image" in row.action and row.action.startswith("REMOVE")
    assert row.action == f"REMOVE ({rules_origin(tag)})"  # inspect shows the rules' why


def rules_origin(tag: int) -> str:
    ctx = ElementContext(tag, "SQ", "", None, (), CTImageStorage)
    return build_rules(TRIAL).action_for(ctx).origin


def test_a_type_1c_reference_sequence_of_x_z_d_becomes_a_dummy_with_new_uids(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = ENHANCED_CT  # Referenced PPS Sequence: 1C in the CT Series module
    step = Dataset()
    step.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step
    step.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.30001"
    second = Dataset()
    second.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    second.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.30002"
    ds.ReferencedPerformedProcedureStepSequence = Sequence([step, second])
    outcome = engine(TRIAL).process(write_file(ds, tmp_path / "ct.dcm"))
    (item,) = reread(outcome).ReferencedPerformedProcedureStepSequence
    assert item.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.3"  # a SOP class: kept
    assert item.ReferencedSOPInstanceUID.startswith("2.25.")
    assert b"498.3000" not in result_bytes(outcome)  # neither UID, the dropped one included


def test_the_trial_recipe_names_operators_only_where_the_profile_keeps_a_value(tmp_path):
    ds = ct_dataset()
    ds.OperatorsName = "Abernethy^Crispian"
    ct = reread(engine(TRIAL).process(write_file(ds, tmp_path / "ct.dcm")))
    assert "OperatorsName" not in ct  # X/Z/D, Type 3 in the CT Image IOD
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.2"  # RT Dose: Type 2 in the RT Series
    rt = engine(TRIAL).inspect(dcmread(write_file(ds, tmp_path / "rt.dcm")))
    row = next(r for r in rt.rows if r.keyword == "OperatorsName")
    assert row.action.startswith("PSEUDO FULL_NAME") and "(profile: ZERO)" in row.action
    assert row.result not in (None, "", "Abernethy^Crispian")
    # A site's own recipe decides instead of the profile (its reviewer accepts a
    # pseudonym: some IOD needs a value), even where the Type would remove it.
    site = parse_recipe("FORMAT dicom\n%header\nPSEUDO OperatorsName FULL_NAME\n", "site")
    ds.SOPClassUID = CTImageStorage
    mine = build_rules(TRIAL, recipe=site, with_trial_recipe=True)
    result = reread(Engine(mine, store()).process(write_file(ds, tmp_path / "site.dcm")))
    assert str(result.OperatorsName) not in ("", "Abernethy^Crispian")


def test_graphic_annotations_are_a_dummy_or_cleaned(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = GSPS
    annotation = Dataset()
    annotation.GraphicLayer = "LAYER1"
    text = Dataset()
    text.UnformattedTextValue = "Kowalczyk lesion 15/01/2020"
    text.BoundingBoxAnnotationUnits = "PIXEL"
    annotation.TextObjectSequence = Sequence([text])
    ds.GraphicAnnotationSequence = Sequence([annotation, annotation])
    path = write_file(ds, tmp_path / "pr.dcm")
    dummy = reread(engine(TRIAL).process(path))
    (item,) = dummy.GraphicAnnotationSequence
    assert item.GraphicLayer == "LAYER1"  # a code string: kept, the item stays valid
    (dummy_text,) = item.TextObjectSequence  # 1C, present: a dummy item of its own
    assert dummy_text.UnformattedTextValue == "ANONYMIZED"
    assert dummy_text.BoundingBoxAnnotationUnits == "PIXEL"
    cleaned = reread(engine((*TRIAL, "clean-graphics")).process(path))
    assert len(cleaned.GraphicAnnotationSequence) == 2
    value = cleaned.GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue
    offset = (parse_da(cleaned.StudyDate) - parse_da("20191231")).days
    assert value == f"lesion {move_dates_in_text('15/01/2020', offset)}"


def test_inside_a_dummy_item_kept_text_becomes_a_dummy_and_codes_a_dummy_code():
    rules = build_rules(TRIAL)
    kept = Action(Code.KEEP, "reviewed safe")
    path = (0x00081072,)  # Operator Identification Sequence
    code_path = (0x00081072, 0x00401101)  # its Person Identification Code Sequence
    in_dummy = rules.sequences.in_dummy
    assert in_dummy(kept, 0x00401101, "SQ", path, "OperatorIdentificationSequence").code is (
        Code.DUMMY
    )  # Type 1: a dummy item of its own
    value = in_dummy(kept, 0x00080100, "SH", code_path, "PersonIdentificationCodeSequence")
    assert (value.code, value.value) == (Code.REPLACE, "ANONYMIZED")
    scheme = in_dummy(kept, 0x00080102, "SH", code_path, "PersonIdentificationCodeSequence")
    assert scheme.value == "99DEID"
    address = in_dummy(kept, 0x00401102, "ST", path, "OperatorIdentificationSequence")
    assert address.code is Code.REMOVE  # Person's Address: Type 3
    unknown = in_dummy(kept, 0x00080104, "LO", (0x00291010,), "SomeCodeSequence")
    assert unknown.code is Code.REPLACE  # a code sequence the tables do not know


def test_inside_a_cleaned_sequence_codes_and_code_strings_are_never_cut():
    rules = build_rules(STRUCTURED)
    ctx = ElementContext(0x0040A040, "CS", "ValueType", None, (0x0040A730,), COMPREHENSIVE_SR)
    assert rules.sequences.cleaned(rules.action_for(ctx), ctx.tag, "CS").code is Code.KEEP
    code = ElementContext(0x00080100, "SH", "CodeValue", None, (0x0040A730,), COMPREHENSIVE_SR)
    assert rules.sequences.cleaned(rules.action_for(code), code.tag, "SH").code is Code.KEEP
    meaning = ElementContext(0x00080104, "LO", "CodeMeaning", None, (0x0040A730,), "")
    assert rules.sequences.cleaned(rules.action_for(meaning), meaning.tag, "LO").code is (
        Code.CLEAN
    )
    uids = build_rules((*STRUCTURED, "retain-uids"))
    kept_uid = ElementContext(0x00081155, "UI", "ReferencedSOPInstanceUID", None, (), "")
    assert uids.sequences.cleaned(uids.action_for(kept_uid), kept_uid.tag, "UI").code is (
        Code.KEEP
    )  # what Retain UIDs keeps stays kept


def test_the_common_instance_reference_goes_when_nothing_references_an_instance(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = ENHANCED_CT
    index = Dataset()
    index.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.40001"
    instance = Dataset()
    instance.ReferencedSOPClassUID, instance.ReferencedSOPInstanceUID = CTImageStorage, "1.2.3"
    index.ReferencedInstanceSequence = Sequence([instance])
    ds.ReferencedSeriesSequence = Sequence([index])
    del ds.ReferencedImageSequence  # what the index listed: gone by the profile
    del ds.SourceImageSequence
    result = reread(engine(TRIAL).process(write_file(ds, tmp_path / "ct.dcm")))
    assert "ReferencedSeriesSequence" not in result
    ds.SOPClassUID = "1.2.826.0.1.3680043.8.498.1.77"  # no table: the references stay (U)
    ds.SourceImageSequence = ct_dataset().SourceImageSequence
    kept = reread(engine(TRIAL).process(write_file(ds, tmp_path / "private.dcm")))
    assert "ReferencedSeriesSequence" in kept and "SourceImageSequence" in kept


def test_written_sr_is_read_back_by_pydicom_as_a_whole(sr_file):
    for options in (TRIAL, STRUCTURED, ()):
        data = result_bytes(engine(options).process(sr_file))
        assert dcmread(io.BytesIO(data)).ContentSequence is not None
