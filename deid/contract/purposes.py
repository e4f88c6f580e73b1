"""Why re-identification may be asked for: one fixed list, for the vault and ``deid`` alike."""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    """Why re-identification may be asked for (a fixed list)."""

    CLINICAL_CARE = "clinical_care"
    INCIDENTAL_FINDING = "incidental_finding"
    SAFETY_REPORTING = "safety_reporting"
    DATA_CORRECTION = "data_correction"
    WITHDRAWAL_OF_CONSENT = "withdrawal_of_consent"
    LEGAL_OBLIGATION = "legal_obligation"


PURPOSES: tuple[str, ...] = tuple(purpose.value for purpose in Purpose)
"""The purposes' names, in the list's order (``deid reidentify --purpose``)."""
