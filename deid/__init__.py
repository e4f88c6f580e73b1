"""deid: DICOM de-identification by PS3.15 Annex E and recipes, with consistent pseudonyms."""

__version__ = "0.1.0"
