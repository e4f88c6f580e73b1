"""No original, in any spelling the vault normalizes to, is stored in clear anywhere."""

from tests.vault.api_world import make_world
from tests.vault.databases import sqlite_file_bytes, table_bytes
from vault.crypto import normalize
from vault.runtime import VaultRuntime

ORIGINALS = [
    ("FULL_NAME", "MÜLLER^JOSÉ^^"),
    ("GIVEN_NAME", "Bartholomew"),
    ("SURNAME", "Oyelaran-Whitfield"),
    ("ID_ALPHANUMERICAL", "HOSP-MRN-88231"),
    ("ID_NUMERICAL", "4455667788"),
    ("UID", "1.2.840.113619.2.55.3.604688119.969.1268071029.320"),
    ("LOCATION_CA", "1234 Rue Saint-Denis, Montreal, QC H2X 3K2"),
    ("EMAIL", "jose.muller@hospital.example"),
]
PATIENT = "ISSUER-X^PATIENT-00991"


def _needles() -> set[bytes]:
    needles = set()
    for kind, original in [*ORIGINALS, ("PATIENT", PATIENT)]:
        for form in (original, normalize(kind, original), original.strip("^")):
            if len(form) >= 4:
                needles.add(form.encode("utf-8"))
                needles.add(form.encode("utf-16-le"))
    return needles


def test_no_original_is_stored_in_clear(runtime: VaultRuntime) -> None:
    w = make_world(runtime)
    base = f"/v1/trials/{w.trial}/sites/S01"
    subject = w.ok("uploader", "POST", f"{base}/enroll", {"patient_key": PATIENT})
    items = [
        {"kind": kind, "original": original, "proposal": f"P{i}-{kind}"}
        for i, (kind, original) in enumerate(ORIGINALS)
    ]
    answers = w.ok("uploader", "POST", f"{base}/pseudonyms", {"items": items})["pseudonyms"]
    assert None not in answers
    # A spelling variant finds the same mapping and stores nothing new.
    variant = [{"kind": "FULL_NAME", "original": "müller^josé", "proposal": "other"}]
    assert w.ok("uploader", "POST", f"{base}/pseudonyms", {"items": variant})["pseudonyms"] == [
        answers[0]
    ]
    request = w.ok(
        "requester",
        "POST",
        f"/v1/trials/{w.trial}/reidentifications",
        {
            "purpose": "safety_reporting",
            "justification": "serious adverse event, sponsor notified",
            "pseudonyms": [
                {"kind": k, "pseudonym": p} for (k, _), p in zip(ORIGINALS, answers, strict=True)
            ],
            "subject_ids": [subject["subject_id"]],
        },
    )
    w.ok("approver", "POST", f"/v1/trials/{w.trial}/reidentifications/{request['id']}/approve", {})
    released = w.ok(
        "requester", "POST", f"/v1/trials/{w.trial}/reidentifications/{request['id']}/release"
    )
    assert [p["original"] for p in released["pseudonyms"]] == [o for _, o in ORIGINALS]
    assert released["subjects"][0]["patient_key"] == PATIENT
    w.call(  # refused: it names the patient; nothing of it may be kept
        "requester",
        "POST",
        f"/v1/trials/{w.trial}/reidentifications",
        {
            "purpose": "clinical_care",
            "justification": f"call Bartholomew about {PATIENT}",
            "subject_ids": [subject["subject_id"]],
        },
    )
    dumped = table_bytes(runtime.engine)
    assert {"mappings", "subjects", "audit_records", "reidentification_requests"} <= set(dumped)
    hits = [
        (table, needle) for table, data in dumped.items() for needle in _needles() if needle in data
    ]
    assert not hits, hits
    raw = sqlite_file_bytes(runtime.engine)
    if raw is not None:
        assert answers[0].encode() in raw  # the dump does see stored values
        assert not [n for n in _needles() if n in raw]
