import io

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deid.walk import dictionary_vr, format_path, visits, walk


def nested(depth: int) -> Dataset:
    ds = Dataset()
    ds.TextValue = f"level {depth}"
    if depth:
        ds.ContentSequence = Sequence([nested(depth - 1), Dataset()])
    return ds


def reread(ds: Dataset, implicit: bool) -> Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=implicit, little_endian=True)
    return dcmread(io.BytesIO(buffer.getvalue()), force=True)


def test_walks_every_depth_in_order_without_decoding():
    ds = nested(3)
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "kept")
    result = reread(ds, implicit=True)
    found = visits(result)
    texts = [(v.path_text(), v.vr) for v in found if v.keyword == "TextValue"]
    assert texts == [
        ("TextValue", "UT"),  # (0040,A160) comes before (0040,A730)
        ("ContentSequence[0].TextValue", "UT"),
        ("ContentSequence[0].ContentSequence[0].TextValue", "UT"),
        ("ContentSequence[0].ContentSequence[0].ContentSequence[0].TextValue", "UT"),
    ]
    private = next(v for v in found if v.tag == 0x00091001)
    assert private.private_creator == "ACME" and private.keyword == ""
    creator = next(v for v in found if v.tag == 0x00090010)
    assert creator.private_creator == "ACME"
    # leaf values stay raw (undecoded bytes)
    assert all(isinstance(v.element, RawDataElement) for v in found if v.vr == "UT")
    deepest = [v for v in found if v.keyword == "TextValue"][-1]
    assert deepest.parents == (0x0040A730,) * 3


def test_visit_decides_whether_to_descend():
    seen = []

    def only_top(visit):
        seen.append(visit.path_text())
        return False

    walk(nested(2), only_top)
    assert seen == ["TextValue", "ContentSequence"]


def test_names_and_dictionary_vrs():
    assert format_path(((0x0040A730, 1),), 0x00091001) == "ContentSequence[1].(0009,1001)"
    assert dictionary_vr(0x00280010) == "US"
    assert dictionary_vr(0x7FE00010) == "OB"  # "OB or OW" -> first
    assert dictionary_vr(0x00991234) == "UN"
