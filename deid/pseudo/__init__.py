"""PSEUDO classes: realistic, VR-valid stand-ins for identifiers."""

from deid.pseudo.classes import (
    PSEUDO_CLASSES,
    Derivation,
    PseudoClass,
    UnknownPseudoClassError,
    get_class,
    new_uid,
    reseed,
)

__all__ = [
    "PSEUDO_CLASSES",
    "Derivation",
    "PseudoClass",
    "UnknownPseudoClassError",
    "get_class",
    "new_uid",
    "reseed",
]
