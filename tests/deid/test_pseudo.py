import re

import pytest
from pydicom.valuerep import validate_value

from deid.pseudo import PSEUDO_CLASSES, Derivation, UnknownPseudoClassError, get_class

PROPOSED = [c for c in PSEUDO_CLASSES.values() if c.derivation is Derivation.PROPOSED]


@pytest.mark.parametrize(
    ("cls", "vr"),
    [(c, vr) for c in PROPOSED for vr in sorted(c.vrs)],
    ids=lambda x: getattr(x, "name", x),
)
def test_every_proposal_is_valid_for_every_accepted_vr(cls, vr):
    for _ in range(25):
        value = cls.propose(vr)
        # pydicom's own VR validation, in raising mode.
        validate_value(vr, value, validation_mode=2)
        assert value.isascii() and "\\" not in value


def test_person_names_use_component_groups():
    family, given = get_class("FULL_NAME").propose("PN").split("^")
    assert family and given
    assert get_class("GIVEN_NAME").propose("PN").startswith("^")
    assert "^" not in get_class("FULL_NAME").propose("LO")


def test_uids_are_random_2_25_and_short():
    uids = {get_class("UID").propose("UI") for _ in range(200)}
    assert len(uids) == 200
    assert all(re.fullmatch(r"2\.25\.[1-9][0-9]*", u) and len(u) <= 64 for u in uids)


def test_bc_locations_are_in_bc():
    for _ in range(20):
        address = get_class("LOCATION_BC").propose("LO")
        assert re.search(r", BC V\d[A-Z] ?\d[A-Z]\d$", address), address


def test_proposals_are_random_not_repeated():
    names = {get_class("FULL_NAME").propose("PN") for _ in range(50)}
    assert len(names) > 40


def test_derived_classes_do_not_propose():
    for name in ("DATE", "DATETIME", "SUBJECT_ID"):
        with pytest.raises(ValueError, match="derived"):
            get_class(name).propose("DA")


def test_wrong_vr_is_refused():
    with pytest.raises(ValueError, match="cannot produce a valid DA"):
        get_class("FULL_NAME").propose("DA")


def test_unknown_class_names_the_known_ones():
    with pytest.raises(UnknownPseudoClassError, match=r"known classes: .*FULL_NAME"):
        get_class("NICKNAME")
    assert get_class("full_name").name == "FULL_NAME"
