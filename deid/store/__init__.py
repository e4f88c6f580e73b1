"""Mapping stores: where pseudonyms, subject IDs and date offsets come from."""

from deid.store.protocol import (
    Enrollment,
    MappingStore,
    PseudonymCollisionError,
    PseudonymRequest,
    TrialInfo,
    resolve_pseudonyms,
)

__all__ = [
    "Enrollment",
    "MappingStore",
    "PseudonymCollisionError",
    "PseudonymRequest",
    "TrialInfo",
    "resolve_pseudonyms",
]
