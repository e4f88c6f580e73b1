"""What a run needs, in one picklable value that travels to every worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deid.run.settings import RuleSettings
from deid.store.factory import StoreSpec
from deid.writing import DEFAULT_LAYOUT


@dataclass(frozen=True)
class BatchConfig:
    """Everything a run needs; travels to every worker."""

    input_root: Path
    output_root: Path
    quarantine_root: Path
    rules: RuleSettings
    store: StoreSpec
    anonymize: bool = False
    layout: str = DEFAULT_LAYOUT
    salt: bytes = field(default=b"", repr=False)

    def settings(self) -> dict[str, Any]:
        """What must not change between runs into the same OUTPUT."""
        return {
            **self.rules.fingerprint(),
            "trial": self.store.trial,
            "site": self.store.site,
            "store": self.store.identity(),
            "anonymize": self.anonymize,
            "layout": self.layout,
        }
