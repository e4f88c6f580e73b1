"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from deid.corpus import CorpusManifest, generate_corpus


@pytest.fixture(scope="module")
def one_patient(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    """One patient, four small CT files."""
    return generate_corpus(
        tmp_path_factory.mktemp("corpus"),
        patients=1,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=4,
        rows=16,
        cols=16,
        include_documents=False,
    )
