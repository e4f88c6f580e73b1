"""PSEUDO classes: realistic, VR-valid stand-ins for identifiers."""

from deid.contract.kinds import Derivation
from deid.pseudo.classes import (
    PSEUDO_CLASSES,
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
