"""Regenerate ``deid/profiles/data/iod_attribute_types.json`` from highdicom's tables.

highdicom (MIT licence) ships the DICOM standard's IOD and module tables as JSON,
generated from the innolitics/dicom-standard repository (MIT licence): which
modules each IOD has, which IOD each SOP class uses, and the Type of every
attribute of every module at every depth. deid needs a small part of them:

- ``sop_classes``: SOP Class UID -> IOD; ``iods``: IOD -> its modules (indices
  into ``modules``);
- ``attributes``: for every attribute whose action depends on its Type (Table
  E.1-1 rows with combined codes, standard text attributes that neither the
  table nor ``reviewed_text_attributes.json`` lists), where it sits (its
  enclosing sequences, a run of one sequence nested in itself counted once) with
  its Type in which modules;
- ``items``: for every sequence that Table E.1-1 may replace with a dummy (D),
  the Types of what its items hold, at every depth, the strictest over all
  modules.

Usage (downloads the highdicom wheel with pip unless given one)::

    python tools/iod_types.py [--wheel highdicom-X.whl] [--version 0.28.2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pydicom.datadict import DicomDictionary, dictionary_VR, tag_for_keyword

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "deid" / "profiles" / "data"
TABLE = DATA / "confidentiality_profile_attributes.json"
REVIEWED = DATA / "reviewed_text_attributes.json"
OUTPUT = DATA / "iod_attribute_types.json"
LICENCE = DATA / "LICENSE-highdicom.txt"
DEFAULT_VERSION = "0.28.2"
TEXT_VRS = {"PN", "LO", "LT", "ST", "UT", "SH", "UC", "AE", "UR"}
TYPES = ("1", "1C", "2", "2C", "3")
"""Attribute Types, strictest first."""


def _wheel(version: str, folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            f"highdicom=={version}", "-d", str(folder),
        ],
        check=True,
    )  # fmt: skip
    return next(folder.glob("highdicom-*.whl"))


def _read(wheel: Path) -> tuple[dict, dict, dict, str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()

        def load(name: str) -> dict:
            return json.loads(archive.read(f"highdicom/_standard/{name}"))

        licence = next(n for n in names if n.endswith("LICENSE") and "dist-info" in n)
        return (
            load("sop_class_iod_map.json"),
            load("iod_module_map.json"),
            load("module_attribute_map.json"),
            archive.read(licence).decode("utf-8"),
        )


def _tag(text: str) -> int | None:
    digits = text.strip("()").replace(",", "")
    return int(digits, 16) if len(digits) == 8 and "X" not in digits.upper() else None


def _normalized(path: list[int]) -> list[int]:
    """A run of one sequence nested in itself (SR Content Sequence) counted once."""
    out: list[int] = []
    for tag in path:
        if not out or out[-1] != tag:
            out.append(tag)
    return out


def _key(path: list[int]) -> str:
    return "/".join(f"{tag:08X}" for tag in path)


def _stricter(a: str | None, b: str) -> str:
    return b if a is None or TYPES.index(b) < TYPES.index(a) else a


def build(wheel: Path, version: str) -> tuple[dict, str]:
    """The compact data and highdicom's licence text."""
    sop_classes, iod_modules, module_attributes, licence = _read(wheel)
    rows = json.loads(TABLE.read_text("utf-8"))
    listed = {t for row in rows if (t := _tag(row["tag"])) is not None}
    combined: set[int] = set()
    dummy_sequences: set[int] = set()
    for row in rows:
        tag = _tag(row["tag"])
        codes = [v for k, v in row.items() if k not in ("name", "tag", "id", "stdCompIOD")]
        if tag is None:
            continue
        if any("/" in code for code in codes):
            combined.add(tag)
        try:
            is_sequence = dictionary_VR(tag) == "SQ"
        except KeyError:
            is_sequence = False
        if is_sequence and any("D" in code.split("/") for code in codes):
            dummy_sequences.add(tag)
    review = json.loads(REVIEWED.read_text("utf-8"))
    reviewed = {_tag(e["tag"]) for verdict in ("safe", "remove") for e in review[verdict]}
    unreviewed_text = {
        tag
        for tag, entry in DicomDictionary.items()
        if tag not in listed
        and tag not in reviewed
        and tag >> 16 not in (0x0000, 0x0002)
        and set(entry[0].split(" or ")) & TEXT_VRS
    }
    wanted = combined | unreviewed_text
    modules = sorted(module_attributes)
    module_index = {name: index for index, name in enumerate(modules)}
    attributes: dict[str, dict[tuple[str, str], set[int]]] = {}
    items: dict[str, dict[str, str]] = {}
    for module, entries in module_attributes.items():
        for entry in entries:
            if entry["type"] not in TYPES:
                continue  # "None": the table gives no Type
            tags = [tag_for_keyword(k) for k in [*entry["path"], entry["keyword"]]]
            if None in tags:
                continue  # retired keywords pydicom no longer names
            path = _normalized([int(t) for t in tags if t is not None])
            tag, parents = path[-1], path[:-1]
            if tag in wanted:
                where = attributes.setdefault(f"{tag:08X}", {})
                where.setdefault((_key(parents), entry["type"]), set()).add(module_index[module])
            for depth, parent in enumerate(parents):
                if parent in dummy_sequences:
                    item = items.setdefault(_key(parents[depth:]), {})
                    item[f"{tag:08X}"] = _stricter(item.get(f"{tag:08X}"), entry["type"])
                    break
    data = {
        "source": (
            f"highdicom {version} (highdicom/_standard/*.json, generated from the "
            "innolitics/dicom-standard repository); see README.md"
        ),
        "modules": modules,
        "sop_classes": dict(sorted(sop_classes.items())),
        "iods": {
            iod: sorted({module_index[m["key"]] for m in mods if m["key"] in module_index})
            for iod, mods in sorted(iod_modules.items())
        },
        "attributes": {
            tag: [[path, type_, sorted(mods)] for (path, type_), mods in sorted(where.items())]
            for tag, where in sorted(attributes.items())
        },
        "items": {key: dict(sorted(item.items())) for key, item in sorted(items.items())},
    }
    return data, licence


def main(argv: list[str] | None = None) -> int:
    """Write the data file and the licence beside it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded highdicom wheel")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="highdicom version to download")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or _wheel(args.version, Path(folder))
        version = wheel.name.split("-")[1]
        data, licence = build(wheel, version)
    OUTPUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n", "utf-8")
    LICENCE.write_text(licence, "utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({OUTPUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
