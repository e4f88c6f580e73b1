"""The element handlers, through the engine on small files written and re-read."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from engine_fixtures import (
    PATIENT_ID,
    PATIENT_NAME,
    PRIVATE_SOP_CLASS,
    ct_dataset,
    engine,
    reread,
    store,
    write_file,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRBigEndian, ExplicitVRLittleEndian

from deid.actions import Action, Code
from deid.contract.store import Enrollment
from deid.dates import parse_da, shift_da
from deid.engine import EngineSettings
from deid.handlers import NotApplicableError, handler_for
from deid.handlers.base import FileState, Step
from deid.handlers.dates import SHIFT
from deid.handlers.fixed import DUMMY_TEXT, REPLACE
from deid.handlers.pixels import PixelMask
from deid.outcome import Deidentified, Quarantined, QuarantineError, QuarantineReason
from deid.profiles.recipe import parse_recipe
from deid.profiles.reviewer import rule_fingerprint
from deid.walk import visits

MODIFIED_DATES = ("retain-long-modified-dates",)
ONE_DAY = timedelta(days=1)


def recipe(*rules: str):  # type: ignore[no-untyped-def]
    text = "FORMAT dicom\n%header\n" + "\n".join(rules) + "\n"
    return parse_recipe(text, "user.recipe")


def accepting(*rules: str) -> tuple[str, ...]:
    """Acceptances of every rule, by line (rules start on line 3)."""
    return tuple(f"{line}:{rule_fingerprint(rule)}" for line, rule in enumerate(rules, start=3))


def offset_of(result: Dataset, original_study_date: str = "20191231") -> int:
    return (parse_da(result.StudyDate) - parse_da(original_study_date)).days


def test_multi_valued_dates_and_ranges_move_part_by_part(tmp_path):
    ds = ct_dataset()
    ds.CalibrationDate = ["20190101", "20190201"]
    ds.AcquisitionDate = "20190101-20190301"
    result = reread(engine(MODIFIED_DATES).process(write_file(ds, tmp_path / "in.dcm")))
    days = offset_of(result)
    assert list(result.CalibrationDate) == [shift_da("20190101", days), shift_da("20190201", days)]
    assert result.AcquisitionDate == shift_da("20190101-20190301", days)
    assert result.StudyTime == "235830"  # a whole-day offset leaves times of day alone


def test_a_shift_with_a_time_part_carries_the_date_across_midnight():
    """The engine's offsets are whole days; the handler still moves DA+TM pairs as one
    date-time, so any shift with a time part stays right."""
    ds = Dataset()
    ds.StudyDate, ds.StudyTime = "20191231", "233000"
    steps = [Step(v, Action(Code.CLEAN, "test")) for v in visits(ds)]
    state = FileState(Enrollment("S01-00017", 0, False), timedelta(hours=1))
    for step in steps:
        if step.visit.vr == "TM":
            state.moving_times[(id(step.visit.dataset), step.visit.tag)] = step.text()
    for step in steps:
        SHIFT.apply(step, state)
    assert (ds.StudyDate, ds.StudyTime) == ("20200101", "003000")


def test_ages_of_90_and_over_are_capped(tmp_path):
    ds = ct_dataset()
    ds.PatientAge = "095Y"
    options = (*MODIFIED_DATES, "retain-patient-characteristics")
    result = reread(engine(options).process(write_file(ds, tmp_path / "in.dcm")))
    assert result.PatientAge == "090Y"
    ds.PatientAge = "049Y"
    result = reread(engine(options).process(write_file(ds, tmp_path / "in.dcm")))
    assert result.PatientAge == "049Y"


def test_a_moved_birth_date_makes_the_very_old_exactly_90(tmp_path):
    ds = ct_dataset()
    ds.PatientBirthDate = "19200101"  # 99 at the study
    rule = "PSEUDO PatientBirthDate DATE"
    the_engine = engine(MODIFIED_DATES, recipe=recipe(rule), accept=accepting(rule))
    result = reread(the_engine.process(write_file(ds, tmp_path / "in.dcm")))
    study = parse_da(result.StudyDate)
    assert parse_da(result.PatientBirthDate) == study.replace(year=study.year - 90)
    young = ct_dataset()  # born 1970: moved by the offset, nothing more
    result = reread(the_engine.process(write_file(young, tmp_path / "young.dcm")))
    assert result.PatientBirthDate == shift_da("19700315", offset_of(result))


def test_unparseable_ages_are_a_quarantine(tmp_path):
    ds = ct_dataset()
    ds.PatientAge = "ancient"
    outcome = engine((*MODIFIED_DATES, "retain-patient-characteristics")).process(
        write_file(ds, tmp_path / "in.dcm")
    )
    assert isinstance(outcome, Quarantined)
    assert outcome.reason is QuarantineReason.UNPARSEABLE_DATE
    assert "PatientAge" in outcome.message and "ancient" not in outcome.message


def test_descriptions_are_scrubbed_under_clean_descriptors(tmp_path):
    options = (*MODIFIED_DATES, "clean-descriptors")
    result = reread(engine(options).process(write_file(ct_dataset(), tmp_path / "in.dcm")))
    assert result.StudyDescription == "CT/Head w/o"
    assert result.SeriesDescription == "Axial"


def test_structured_text_is_scrubbed_item_by_item(tmp_path):
    ds = ct_dataset()
    finding = Dataset()
    finding.ValueType = "TEXT"
    finding.TextValue = f"Bartholomew Kowalczyk (MRN {PATIENT_ID}): no acute abnormality."
    container = Dataset()
    container.ValueType = "CONTAINER"
    container.ContentSequence = Sequence([finding])
    ds.ContentSequence = Sequence([container])
    options = (*MODIFIED_DATES, "clean-structured-content")
    result = reread(engine(options).process(write_file(ds, tmp_path / "in.dcm")))
    text = result.ContentSequence[0].ContentSequence[0].TextValue
    assert text == "(MRN ): no acute abnormality."


def test_kept_text_holding_the_patients_name_is_scrubbed_not_kept(tmp_path):
    ds = ct_dataset()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "70450", "C4"
    code.CodeMeaning = "CT head for KOWALCZYK"  # not in Table E.1-1: kept
    ds.ProcedureCodeSequence = Sequence([code])
    result = reread(engine().process(write_file(ds, tmp_path / "in.dcm")))
    assert result.ProcedureCodeSequence[0].CodeMeaning == "CT head for"
    assert result.ProcedureCodeSequence[0].CodeValue == "70450"


def test_identity_bearing_dummies_are_consistent_pseudonyms(tmp_path):
    # In a SOP class of no IOD table, Device Serial Number (X/Z/D) and Protocol Name
    # (X/D) are Type 1 somewhere: D. In a CT Image they are Type 3: removed.
    the_engine = engine()
    first_ds = ct_dataset()
    first_ds.SOPClassUID = PRIVATE_SOP_CLASS
    first_ds.DeviceSerialNumber = "HCI-SN-0042"
    first = reread(the_engine.process(write_file(first_ds, tmp_path / "a.dcm")))
    other = ct_dataset()
    other.SOPClassUID = PRIVATE_SOP_CLASS
    other.DeviceSerialNumber = "HCI-SN-0042"
    other.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.77"
    other.PatientID = "H7654321"  # another patient, same hospital, same scanner
    second = reread(the_engine.process(write_file(other, tmp_path / "b.dcm")))
    assert first.DeviceSerialNumber == second.DeviceSerialNumber != "HCI-SN-0042"
    assert first.PatientID != second.PatientID
    assert first.AccessionNumber == second.AccessionNumber != "A19123456"
    ds = ct_dataset()
    ds.SOPClassUID = PRIVATE_SOP_CLASS
    ds.ProtocolName = "HCI head protocol"
    result = reread(the_engine.process(write_file(ds, tmp_path / "c.dcm")))
    assert result.ProtocolName == DUMMY_TEXT
    ct = ct_dataset()
    ct.ProtocolName, ct.DeviceSerialNumber = "HCI head protocol", "HCI-SN-0042"
    result = reread(the_engine.process(write_file(ct, tmp_path / "d.dcm")))
    assert "ProtocolName" not in result and "DeviceSerialNumber" not in result
    assert "InstitutionName" not in result  # X/Z/D, Type 3 in General Equipment


def test_standard_uids_are_never_replaced(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = PRIVATE_SOP_CLASS  # Referenced Image Sequence: X/Z/U* -> U
    ds.FrameOfReferenceUID = "1.2.840.10008.1.4.1.1"  # Talairach: a well-known frame
    result = reread(engine().process(write_file(ds, tmp_path / "in.dcm")))
    assert result.FrameOfReferenceUID == "1.2.840.10008.1.4.1.1"
    assert result.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage


def test_uids_are_consistent_inside_and_outside_sequences(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = PRIVATE_SOP_CLASS  # the reference sequences: X/Z/U* -> U
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = ds.SOPInstanceUID
    result = reread(engine().process(write_file(ds, tmp_path / "in.dcm")))
    assert result.ReferencedImageSequence[0].ReferencedSOPInstanceUID == result.SOPInstanceUID
    assert result.SourceImageSequence[0].ReferencedSOPInstanceUID.startswith("2.25.")


def test_safe_private_attributes_are_kept_and_orphaned_creators_go(tmp_path):
    ds = ct_dataset()
    block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    block.add_new(0x23, "DS", "39.375")  # on the PS3.15 safe list
    unsafe = ds.private_block(0x0029, "ACME CT", create=True)
    unsafe.add_new(0x10, "LO", "tube 2")
    options = (*MODIFIED_DATES, "retain-safe-private")
    result = reread(engine(options).process(write_file(ds, tmp_path / "in.dcm")))
    assert result.private_block(0x0019, "GEMS_ACQU_01")[0x23].value == "39.375"
    assert 0x00291010 not in result and 0x00290010 not in result
    assert 0x00331010 not in result and 0x00330010 not in result


def test_recipe_replace_and_add(tmp_path):
    user = recipe("REPLACE ProtocolName HEAD1", "ADD Laterality R", "ADD BodyPartExamined HEAD")
    ds = ct_dataset()
    ds.ProtocolName = "HCI head protocol"
    ds.BodyPartExamined = "CHEST"
    result = reread(engine(recipe=user).process(write_file(ds, tmp_path / "in.dcm")))
    assert result.ProtocolName == "HEAD1"
    assert result.Laterality == "R"  # added: the file had none
    assert result.BodyPartExamined == "HEAD"  # present: the ADD replaced it


def test_invalid_replacement_values_are_a_quarantine():
    """The recipe parser refuses such values already; the engine checks again."""
    ds = Dataset()
    ds.Rows = 4
    ds.StudyDate = "20200101"
    state = FileState(Enrollment("S01-00017", 1, False), ONE_DAY)
    for visit, value in zip(visits(ds), ("2020-13", "many"), strict=True):
        action = Action(Code.REPLACE, "test", value=value)
        with pytest.raises(QuarantineError, match=f"value for {visit.keyword} is not a valid"):
            REPLACE.apply(Step(visit, action), state)


def test_patient_name_policy_subject_id(tmp_path):
    from deid.engine import Engine
    from deid.profiles import PatientNamePolicy, build_rules

    rules = build_rules(
        MODIFIED_DATES, with_trial_recipe=True, patient_name_policy=PatientNamePolicy.SUBJECT_ID
    )
    outcome = Engine(rules, store()).process(write_file(ct_dataset(), tmp_path / "in.dcm"))
    assert isinstance(outcome, Deidentified)
    result = reread(outcome)
    assert str(result.PatientName) == result.PatientID == outcome.subject_id


def test_the_file_meta_is_rebuilt(tmp_path):
    path = write_file(ct_dataset(), tmp_path / "in.dcm")
    assert dcmread(path).file_meta.SourceApplicationEntityTitle == "HOLLOWAY_PACS"
    meta = reread(engine().process(path)).file_meta
    assert set(meta.dir()) == {
        "FileMetaInformationGroupLength",
        "FileMetaInformationVersion",
        "ImplementationClassUID",
        "ImplementationVersionName",
        "MediaStorageSOPClassUID",
        "MediaStorageSOPInstanceUID",
        "TransferSyntaxUID",
    }


@pytest.mark.parametrize(
    ("code", "vr", "message"),
    [
        (Code.PSEUDO, "PN", "PSEUDO DATE cannot produce a valid PN value"),
        (Code.JITTER, "LO", "JITTER cannot apply to a LO element"),
        (Code.UID, "LO", "U cannot apply to a LO element"),
        (Code.JITTER, "SQ", "JITTER cannot apply to a sequence"),
    ],
)
def test_actions_that_cannot_apply(code, vr, message):
    action = Action(code, "test", pseudo_class="DATE", jitter_days=1)
    with pytest.raises(NotApplicableError, match=message):
        handler_for(action, vr, "")


def test_names_keep_their_form(tmp_path):
    ds = ct_dataset()
    ds.SOPClassUID = PRIVATE_SOP_CLASS  # Operators' Name X/Z/D: Type 2 in some IOD
    ds.OperatorsName = ["Strachan^Crispin", "Urquhart^Fenella"]
    result = reread(engine().process(write_file(ds, tmp_path / "in.dcm")))
    names = [str(name) for name in result.OperatorsName]
    assert len(names) == 2 and all(name.count("^") == 1 for name in names)
    assert "Strachan^Crispin" not in names and names[0] != names[1]
    assert PATIENT_NAME not in names


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_pixel_masks_blank_burned_in_text(tmp_path, syntax):
    ds = ct_dataset()
    ds.BurnedInAnnotation = "YES"
    ds.NumberOfFrames = 2
    pixels = np.arange(1, 33, dtype=np.uint16).reshape(2, 4, 4)
    ds.PixelData = pixels.astype(">u2" if syntax == ExplicitVRBigEndian else "<u2").tobytes()
    path = write_file(ds, tmp_path / "in.dcm", syntax)
    assert engine().process(path).reason is QuarantineReason.BURNED_IN_ANNOTATION  # type: ignore[union-attr]
    masks = (
        PixelMask(0, 0, 4, 1, modality="CT", rows=4, columns=4),  # the top line
        PixelMask(0, 0, 1, 1, modality="MR"),  # another scanner's: not applied
    )
    outcome = engine(settings=EngineSettings(pixel_masks=masks)).process(path)
    assert isinstance(outcome, Deidentified), outcome
    result = reread(outcome)
    masked = result.pixel_array
    assert (masked[:, 0, :] == 0).all()
    assert (masked[:, 1:, :] == pixels[:, 1:, :]).all()
    assert result.BurnedInAnnotation == "NO"
    codes = [item.CodeValue for item in result.DeidentificationMethodCodeSequence]
    assert codes[-1] == "113101"


def test_pixel_masks_on_colour_planes(tmp_path):
    ds = ct_dataset()
    ds.BurnedInAnnotation = "YES"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 1
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = bytes(range(1, 49))
    settings = EngineSettings(pixel_masks=(PixelMask(2, 2, 2, 2),))
    result = reread(engine(settings=settings).process(write_file(ds, tmp_path / "in.dcm")))
    planes = np.frombuffer(result.PixelData, dtype=np.uint8).reshape(3, 4, 4)
    assert (planes[:, 2:, 2:] == 0).all() and (planes[:, :2, :] != 0).all()


def test_compressed_pixels_cannot_be_masked():
    from pydicom import examples

    ds = dcmread(examples.get_path("jpeg2k"))
    ds.BurnedInAnnotation = "YES"
    settings = EngineSettings(pixel_masks=(PixelMask(0, 0, 10, 10),))
    outcome = engine(settings=settings).deidentify(ds)
    assert isinstance(outcome, Quarantined)
    assert outcome.reason is QuarantineReason.BURNED_IN_ANNOTATION
    assert "compressed" in outcome.message


def test_pixel_masks_need_a_real_rectangle():
    with pytest.raises(ValueError, match="positive width and height"):
        PixelMask(0, 0, 0, 5)


def test_other_patient_ids_are_needles_even_when_their_sequence_goes(tmp_path):
    ds = ct_dataset()
    other = Dataset()
    other.PatientID = "PHN987654321"
    other.IssuerOfPatientID = "PROVINCIAL HEALTH"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientComments = "see PHN987654321 for the old records"
    options = (*MODIFIED_DATES, "clean-descriptors")
    result = reread(engine(options).process(write_file(ds, tmp_path / "in.dcm")))
    assert "OtherPatientIDsSequence" not in result
    assert result.PatientComments == "see for the old records"
