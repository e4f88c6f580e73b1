"""The Common Instance Reference module, kept true to what the object still references.

Referenced Series Sequence (0008,1115) and Studies Containing Other Referenced
Instances Sequence (0008,1200) at the top level index the instances the object
references elsewhere (Source Image, Referenced Image, Derivation Image
Sequences...); PS3.3 C.12.2 requires the module only if the object references
other instances, and a validator flags it when it does not. When the profile
removed or emptied every reference (X/Z/U* by Type: a Type 2 Source Image Sequence
is emptied), the index goes too.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from deid.walk import Visit, walk

REFERENCED_SERIES = 0x00081115
OTHER_STUDIES = 0x00081200
INDEX = (REFERENCED_SERIES, OTHER_STUDIES)
REFERENCED_SOP_INSTANCE_UID = 0x00081155


def _references_outside_index(dataset: Dataset) -> bool:
    found = False

    def visit(element: Visit) -> bool:
        nonlocal found
        found = found or element.tag == REFERENCED_SOP_INSTANCE_UID
        # Once one is found, nothing more is walked into.
        return not found and not (not element.path and element.tag in INDEX)

    walk(dataset, visit)
    return found


def drop_stale_instance_index(dataset: Dataset) -> None:
    """Remove the Common Instance Reference sequences when nothing else references
    an instance any more."""
    if not any(tag in dataset for tag in INDEX):
        return
    if not _references_outside_index(dataset):
        for tag in INDEX:
            if tag in dataset:
                del dataset[tag]
