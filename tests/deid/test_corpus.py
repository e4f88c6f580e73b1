"""The corpus generator: realistic, identifiable, deterministic files and an honest manifest."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import faker.providers.person.en_US as faker_en_us
import faker.providers.person.fr_CA as faker_fr_ca
import pydicom
import pytest
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian

from deid import corpus
from deid.corpus import TRANSFER_SYNTAXES, CorpusManifest, generate_corpus
from tests.deid.batch_support import plain_bytes


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    return generate_corpus(
        tmp_path_factory.mktemp("corpus"),
        patients=3,
        studies_per_patient=2,
        series_per_study=2,
        instances_per_series=2,
        rows=32,
        cols=32,
        seed=7,
        include_bad_files=True,
    )


def test_manifest_lists_every_file_written(small: CorpusManifest) -> None:
    on_disk = sorted(p.relative_to(small.root).as_posix() for p in small.root.rglob("*"))
    on_disk = [p for p in on_disk if (small.root / p).is_file()]
    assert sorted(f.path for f in small.files) == on_disk
    kinds = Counter(f.kind for f in small.files)
    # 3 patients x 2 studies x (2 series x 2 CT + SR + KOS), plus one of each bad kind.
    assert kinds == {
        "CT": 24,
        "SR": 6,
        "KOS": 6,
        **dict.fromkeys(corpus.BAD_FILE_KINDS, 1),
    }


def test_every_original_listed_is_really_in_the_file(small: CorpusManifest) -> None:
    for entry in small.files:
        data = plain_bytes(small.root / entry.path).lower()
        missing = [o for o in entry.originals if o.lower().encode() not in data]
        assert not missing, f"{entry.path}: manifest lists values not in the file: {missing}"
        assert entry.originals


def test_files_read_back_with_their_transfer_syntax_and_pixels(small: CorpusManifest) -> None:
    seen = set()
    for entry in small.files:
        if entry.expected != "written":
            continue
        ds = pydicom.dcmread(small.root / entry.path)
        assert ds.file_meta.TransferSyntaxUID == entry.transfer_syntax
        assert ds.SOPInstanceUID == entry.sop_uid
        assert ds.StudyInstanceUID == entry.study_uid
        seen.add(entry.transfer_syntax)
        if entry.kind == "CT":
            pixels = ds.pixel_array
            assert pixels.shape == (32, 32)
            # Air, tissue and bone whatever the byte order on disk.
            assert pixels.min() < 100 and 1900 < pixels.max() < 2100
    assert seen == set(TRANSFER_SYNTAXES.values())


def test_identifiable_content_is_realistic(small: CorpusManifest) -> None:
    patient = small.patients[0]
    family, given = patient.patient_name.split("^")
    ct = next(f for f in small.files if f.kind == "CT" and f.patient == 0)
    ds = pydicom.dcmread(small.root / ct.path)
    assert ds.StudyDescription.startswith(f"{family}-CT/")
    assert ds.PatientName == patient.patient_name
    assert ds.OtherPatientIDsSequence[0].IssuerOfPatientID
    # Three levels deep: Request Attributes > Scheduled Protocol Code > Protocol Context.
    context = ds.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0]
    assert context.ProtocolContextSequence[0].PersonName
    creators = {elem.value for elem in ds if elem.tag.is_private_creator}
    assert {"GEMS_ACQU_01", "GEMS_PARM_01", "ACME RIS EXPORT 1.0"} <= creators
    assert ds.file_meta.SourceApplicationEntityTitle
    # Export folders carry the name and birth date, as PACS exports do.
    assert ct.path.startswith(f"{family.upper()}_{given.upper()}_{patient.birth_date}/")
    # One patient is older than 89.
    ages = {
        p.index: int(p.studies[0].study_date[:4]) - int(p.birth_date[:4]) for p in small.patients
    }
    assert ages[2] > 89


def test_sr_and_kos_reference_the_ct_instances(small: CorpusManifest) -> None:
    ct_uids = {f.sop_uid for f in small.files if f.kind == "CT"}
    for entry in small.files:
        if entry.kind not in ("SR", "KOS"):
            continue
        assert entry.references and set(entry.references) <= ct_uids
        ds = pydicom.dcmread(small.root / entry.path)
        evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
        referenced = {
            sop.ReferencedSOPInstanceUID
            for series in evidence.ReferencedSeriesSequence
            for sop in series.ReferencedSOPSequence
        }
        assert referenced == set(entry.references)
    sr = pydicom.dcmread(small.root / next(f.path for f in small.files if f.kind == "SR"))
    value_types = set()

    def visit(items: pydicom.Sequence) -> None:
        for item in items:
            value_types.add(item.ValueType)
            visit(item.get("ContentSequence", []))

    visit(sr.ContentSequence)
    assert {"TEXT", "PNAME", "UIDREF", "IMAGE", "CONTAINER"} <= value_types


def test_study_intervals_are_known_and_acquisition_crosses_midnight(
    small: CorpusManifest,
) -> None:
    for patient in small.patients:
        dates = [s.study_date for s in patient.studies]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
    late = small.patients[1].studies[0]
    assert late.study_time == "235830"
    ct = [
        pydicom.dcmread(small.root / f.path)
        for f in small.files
        if f.kind == "CT" and f.study_uid == late.study_uid
    ]
    assert {ds.AcquisitionDate for ds in ct} != {late.study_date}


def test_bad_files_are_what_they_claim(small: CorpusManifest) -> None:
    bad = {f.kind: small.root / f.path for f in small.files if f.expected == "quarantined"}
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(bad["not_dicom"])
    truncated = pydicom.dcmread(bad["truncated"])
    assert len(truncated.PixelData) < truncated.Rows * truncated.Columns * 2
    assert pydicom.dcmread(bad["burned_in"]).BurnedInAnnotation == "YES"
    pdf = pydicom.dcmread(bad["encapsulated_pdf"])
    assert pdf.EncapsulatedDocument.startswith(b"%PDF")


def test_same_seed_same_bytes_other_seed_other_people(tmp_path: Path) -> None:
    def digest(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    options = {"patients": 2, "studies_per_patient": 1, "instances_per_series": 1, "rows": 16}
    first = generate_corpus(tmp_path / "a", seed=3, cols=16, **options)  # type: ignore[arg-type]
    generate_corpus(tmp_path / "b", seed=3, cols=16, **options)  # type: ignore[arg-type]
    other = generate_corpus(tmp_path / "c", seed=4, cols=16, **options)  # type: ignore[arg-type]
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert {f.sop_uid for f in first.files}.isdisjoint({f.sop_uid for f in other.files})


def test_transfer_syntax_choice_and_bad_arguments(tmp_path: Path) -> None:
    manifest = generate_corpus(
        tmp_path,
        patients=1,
        studies_per_patient=1,
        instances_per_series=1,
        rows=16,
        cols=16,
        transfer_syntaxes=[ExplicitVRLittleEndian],
        include_documents=False,
    )
    assert {f.transfer_syntax for f in manifest.files} == {ExplicitVRLittleEndian}
    assert {f.kind for f in manifest.files} == {"CT"}
    with pytest.raises(ValueError, match="transfer syntaxes must be among"):
        generate_corpus(tmp_path, transfer_syntaxes=["1.2.3"])
    with pytest.raises(ValueError, match="at least one patient"):
        generate_corpus(tmp_path, patients=0)


def test_names_never_collide_with_pseudonym_sources() -> None:
    """An original found in an output must be a leak, never a Faker coincidence."""
    faker_family = set(faker_en_us.Provider.last_names) | set(faker_fr_ca.Provider.last_names)
    faker_given = set(faker_en_us.Provider.first_names) | set(faker_fr_ca.Provider.first_names)
    families = set(corpus._FAMILY_NAMES) | set(corpus._STAFF_FAMILY_NAMES)
    givens = set(corpus._GIVEN_NAMES) | set(corpus._STAFF_GIVEN_NAMES)
    assert not families & faker_family
    assert not givens & faker_given
    assert not set(corpus._FAMILY_NAMES) & set(corpus._STAFF_FAMILY_NAMES)
