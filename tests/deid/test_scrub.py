import pytest

from deid.identifiers import IdentifierKind, Identifiers, date_spellings, kind_of, name_spellings
from deid.scrub import Scrubber, scrubber_for


def patient_scrubber() -> Scrubber:
    ids = Identifiers()
    ids.add(IdentifierKind.PATIENT_NAME, "Smith^John^Quincy")
    ids.add(IdentifierKind.PATIENT_ID, "MRN123456")
    ids.add(IdentifierKind.BIRTH_DATE, "19800102")
    ids.add(IdentifierKind.PERSON_NAME, "Li^Wu")  # two-letter parts: only the full name
    return scrubber_for(ids.patient_level())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Smith-CT/Head w/o", "CT/Head w/o"),
        ("CT/Head w/o - SMITH", "CT/Head w/o"),
        ("CT head for John Smith", "CT head for"),
        ("Smith, John: follow-up", "follow-up"),
        ("Smith^John^Quincy knee", "knee"),
        ("John Q. Smith knee", "Q. knee"),  # the initial alone is not a needle
        ("MR brain MRN123456 contrast", "MR brain contrast"),
        ("born 02/01/1980, chest", "born chest"),
        ("born 1980-01-02", "born"),
        ("born Jan 2, 1980", "born"),
        ("follow-up\\Smith", "follow-up\\"),  # multi-valued: each value trimmed
        ("Li Wu biopsy", "biopsy"),
    ],
)
def test_scrubs_the_patients_identifiers(text, expected):
    assert patient_scrubber().scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Smithsonian protocol",  # no hit inside a word
        "JOHNSON CT",
        "MRN1234567 is another patient",
        "liver and lung",  # "Li" is not a needle on its own
        "WU protocol",
        "19800102123 ",
        "",
    ],
)
def test_leaves_other_text_alone(text):
    assert patient_scrubber().scrub(text) == text


def test_scrubbers_are_cached_per_needle_set():
    ids = Identifiers()
    ids.add(IdentifierKind.PATIENT_NAME, "Doe^Jane")
    assert scrubber_for(ids.patient_level()) is scrubber_for(ids.patient_level())
    assert Scrubber(()).scrub("Doe Jane") == "Doe Jane"


def test_name_and_date_spellings():
    spellings = name_spellings("van der Berg^Anna-Lena")
    assert {"Anna-Lena van der Berg", "van der Berg, Anna-Lena", "Berg", "Lena"} <= set(spellings)
    assert {"02/01/1980", "01/02/1980", "2.1.1980", "2 January 1980", "02-Jan-1980"} <= set(
        date_spellings("19800102")
    )
    assert date_spellings("not a date") == ["not a date"]


def test_needles_skip_short_tokens_and_keep_uids_apart():
    ids = Identifiers()
    ids.add(IdentifierKind.OTHER_ID, "7")
    ids.add(IdentifierKind.OTHER_ID, "AB\\ABC")
    ids.add(IdentifierKind.UID, "1.2.3.4")
    assert set(ids.needles) == {"abc", "1.2.3.4"}
    assert [n.text for n in ids.patient_level()] == ["abc"]


def test_non_ascii_needles_are_also_sought_as_the_files_bytes():
    ids = Identifiers(encodings=("utf_8",))
    ids.add(IdentifierKind.PATIENT_NAME, "Müller^Jörg")
    assert "müller" in ids.needles
    assert "Müller".encode().decode("latin-1").lower() in ids.needles


@pytest.mark.parametrize(
    ("keyword", "vr", "kind"),
    [
        ("PatientName", "PN", IdentifierKind.PATIENT_NAME),
        ("ReferringPhysicianName", "PN", IdentifierKind.PERSON_NAME),
        ("AccessionNumber", "SH", IdentifierKind.ACCESSION),
        ("StudyID", "SH", IdentifierKind.OTHER_ID),
        ("DeviceSerialNumber", "LO", IdentifierKind.OTHER_ID),
        ("InstitutionName", "LO", IdentifierKind.INSTITUTION),
        ("InstitutionAddress", "ST", IdentifierKind.ADDRESS),
        ("PatientTelephoneNumbers", "SH", IdentifierKind.PHONE),
        ("SeriesDescription", "LO", None),
        ("SeriesNumber", "IS", None),
    ],
)
def test_kind_of_attributes(keyword, vr, kind):
    assert kind_of(keyword, vr) is kind
