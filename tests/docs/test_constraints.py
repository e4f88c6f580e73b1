"""constraints.txt pins every dependency pyproject.toml names, and make installed those pins."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> list[Requirement]:
    """The pins that apply here (their markers hold on this platform and Python)."""
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [
        Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]
    return [pin for pin in pins if pin.marker is None or pin.marker.evaluate()]


def _pinned_version(pin: Requirement) -> str:
    (spec,) = pin.specifier
    assert spec.operator == "==", pin
    return spec.version


def test_every_requirement_is_pinned_once_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    named = project["dependencies"] + [
        line for extra in project["optional-dependencies"].values() for line in extra
    ]
    pins: dict[str, list[str]] = {}
    for pin in _pins():
        pins.setdefault(canonicalize_name(pin.name), []).append(_pinned_version(pin))
    for requirement in map(Requirement, named):
        versions = pins.get(canonicalize_name(requirement.name), [])
        assert len(versions) == 1, f"{requirement.name}: pinned {versions}; run make lock"
        assert requirement.specifier.contains(versions[0], prereleases=True), (
            f"{requirement} does not allow the pinned {versions[0]}; run make lock"
        )


def test_the_environment_holds_the_pinned_versions() -> None:
    """make (and so CI) installs with the constraints: no version floats."""
    wrong = {}
    for pin in _pins():
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != _pinned_version(pin):
            wrong[pin.name] = (installed, _pinned_version(pin))
    assert not wrong, f"installed != pinned: {wrong}; run make setup"
